"""deploy/: what can be checked without a Docker engine (none runs on this machine): the compose
file's services, their order and health checks, and that the image runs the same commands as the
Procfile. The Dockerfile's collectstatic step and the web command themselves run in
test_production_server.py."""

from __future__ import annotations

import json
import re
import shlex

import yaml

from tests.ops.processes import REPO

COMPOSE = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()
APP_SERVICES = ("migrate", "web", "worker", "beat")


def _procfile() -> dict[str, list[str]]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name] = [part.removeprefix(".venv/bin/") for part in shlex.split(command)]
    return entries


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_compose_has_the_product_services_and_its_backing_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "beat"}
    assert SERVICES["postgres"]["image"].startswith("postgres:")
    assert SERVICES["redis"]["image"].startswith("redis:")


def test_app_services_share_one_image_built_from_the_dockerfile():
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}, name
        assert service["image"] == "praetor:latest", name
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0", name
        assert service["environment"]["DATABASE_URL"].startswith("postgres://praetor:${POSTGRES_PASSWORD:?"), name
        assert service["env_file"] == ".env", name


def test_migrate_runs_once_after_the_databases_and_the_app_waits_for_it():
    migrate = SERVICES["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
        assert SERVICES[name]["restart"] == "unless-stopped", name


def test_every_long_running_service_has_a_healthcheck():
    for name in ("postgres", "redis", "web", "worker", "beat"):
        check = SERVICES[name]["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert {"interval", "timeout", "retries"} <= set(check), name
    assert "healthcheck" not in SERVICES["migrate"]


def test_the_web_port_is_published_on_loopback_only():
    assert SERVICES["web"]["ports"] == ["127.0.0.1:8000:8000"]
    assert all("ports" not in SERVICES[name] for name in SERVICES if name != "web")


def test_the_image_runs_the_procfile_commands():
    procfile = _procfile()
    assert SERVICES["web"]["command"] == procfile["web"]
    assert json.loads(dict(_instructions())["CMD"]) == procfile["web"]
    # Same programs; the container's worker uses the default prefork pool, sized by CELERY_CONCURRENCY.
    assert SERVICES["worker"]["command"][:4] == procfile["worker"][:4] == ["celery", "-A", "config", "worker"]
    assert SERVICES["beat"]["command"] == procfile["beat"]


def test_the_image_is_slim_python_311_installs_from_pyproject_and_runs_unprivileged():
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    kinds = [kind for kind, _ in steps]
    copy_pyproject = steps.index(("COPY", "pyproject.toml README.md ./"))
    install = next(i for i, (kind, args) in enumerate(steps) if kind == "RUN" and "pip install ." in args)
    copy_code = next(i for i, (kind, args) in enumerate(steps) if kind == "COPY" and args.endswith(". ."))
    assert copy_pyproject < install < copy_code
    assert any("collectstatic --noinput" in args for kind, args in steps[copy_code:] if kind == "RUN")
    user = kinds.index("USER")
    assert steps[user][1] == "praetor:praetor"
    assert "RUN" not in kinds[user:], "nothing may run as root after USER"
    env = dict(_instructions())["ENV"]
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in env
    assert "PRAETOR_BIND=0.0.0.0:8000" in env


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".venv-*", "var", "deploy/.env"} <= ignored
