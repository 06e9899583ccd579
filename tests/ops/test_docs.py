"""docs/configuration.md documents exactly the variables the code reads (both directions)."""

from __future__ import annotations

import re

from tests.ops.processes import REPO

# env("X", …), is_set("X"), os.environ.get("X"), os.environ["X"], os.environ.setdefault("X", …), getenv("X")
_READ = re.compile(
    r"""(?:\benv|\bis_set|os\.environ\.get|os\.environ\.setdefault|getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
_INDEXED = re.compile(r"""os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]""")
_COMPOSE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
_DOC_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]*)` \|", re.MULTILINE)


def _variables_read_by_the_code() -> dict[str, str]:
    files = [*REPO.glob("config/**/*.py"), *REPO.glob("apps/**/*.py"), REPO / "deploy/gunicorn.conf.py"]
    files.append(REPO / "manage.py")
    found: dict[str, str] = {}
    for path in files:
        text = path.read_text()
        for name in _READ.findall(text) + _INDEXED.findall(text):
            found.setdefault(name, str(path.relative_to(REPO)))
    return found


def _documented() -> list[str]:
    return _DOC_ROW.findall((REPO / "docs" / "configuration.md").read_text())


def test_every_variable_the_code_reads_is_documented_with_its_default():
    documented = set(_documented())
    missing = {name: where for name, where in _variables_read_by_the_code().items() if name not in documented}
    assert missing == {}, f"add a row (name, default, meaning) to docs/configuration.md for: {missing}"


def test_every_documented_variable_is_read_somewhere():
    read = set(_variables_read_by_the_code()) | set(_COMPOSE.findall((REPO / "deploy" / "compose.yaml").read_text()))
    stale = sorted(set(_documented()) - read)
    assert stale == [], f"docs/configuration.md documents variables nothing reads: {stale}"


def test_each_variable_is_documented_once():
    names = _documented()
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_the_env_example_uses_only_documented_variables():
    documented = set(_documented())
    example = (REPO / "deploy" / "env.example").read_text()
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE)
    assert {"SECRET_KEY", "ALLOWED_HOSTS", "POSTGRES_PASSWORD"} <= set(names)
    assert sorted(set(names) - documented) == []
