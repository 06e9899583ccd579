"""config.settings.production refuses every embedded default and passes `check --deploy`.

Each case runs in a fresh interpreter, since settings modules read the environment once, at import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.ops.processes import REPO, clean_env

REAL_LOOKING = {
    "SECRET_KEY": "q6h1VwZcY0m3pD9s-8kLr2TnUeXbA5fJ7gHiOaWzKy4MxN_vPjQt",
    "DATABASE_URL": "postgres://praetor:s3cret@db.internal:5432/praetor",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "praetor.example.com",
}


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _production_env(tmp_path, **changes: str | None) -> dict[str, str]:
    values = {**REAL_LOOKING, "PRAETOR_DATA_DIR": str(tmp_path), **changes}
    return clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production", **{k: v for k, v in values.items() if v is not None}
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"])
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_import_without(missing, how, tmp_path):
    env = _production_env(tmp_path, **{missing: None if how == "unset" else ""})
    result = _run("import config.settings.production", env)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == f"django.core.exceptions.ImproperlyConfigured: Set the environment variable {missing}."
    # It fails before creating anything: no generated dev secret lands in the data folder.
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("url", ["sqlite:///var/praetor.sqlite3", "sqlite:////srv/praetor/db.sqlite3"])
def test_production_refuses_sqlite(url, tmp_path):
    result = _run("import config.settings.production", _production_env(tmp_path, DATABASE_URL=url))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: DATABASE_URL must point at PostgreSQL in production, not SQLite."
    )


def test_production_settings_use_postgres_redis_and_secure_flags_even_with_debug_set(tmp_path):
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'debug': s.DEBUG, 'engine': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL, "
        "'cache': s.CACHES['default']['BACKEND'], 'hosts': s.ALLOWED_HOSTS, 'ssl_redirect': s.SECURE_SSL_REDIRECT, "
        "'secure_cookies': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE], 'hsts': s.SECURE_HSTS_SECONDS}))"
    )
    result = _run(code, _production_env(tmp_path, DEBUG="true"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "debug": False,
        "engine": "django.db.backends.postgresql",
        "broker": "redis://redis.internal:6379/0",
        "cache": "apps.core.cache.RedisCache",
        "hosts": ["praetor.example.com"],
        "ssl_redirect": True,
        "secure_cookies": [True, True],
        "hsts": 31536000,
    }
