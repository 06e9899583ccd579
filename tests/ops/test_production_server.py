"""The production image's processes, run here without Docker: the Dockerfile's collectstatic step,
then the compose web command (gunicorn with each of its workers: the default threads worker and the uvicorn one,
PRAETOR_WEB_SERVER) under config.settings.production against the real PostgreSQL (the test database) and Redis,
probed as a TLS proxy and compose would."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops.processes import REPO, clean_env, free_port, http_request, start_group, stop_group, wait_for_http

# django_db: pytest-django sets up the test database the server uses only for a session with a test marked so,
# and this module may run alone.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300), pytest.mark.django_db]

HOST = "praetor.example.com"
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())


def _dockerfile_collectstatic_env() -> dict[str, str]:
    """The variables the Dockerfile's collectstatic RUN line sets, read from the Dockerfile."""
    text = (REPO / "deploy" / "Dockerfile").read_text()
    line = re.search(r"RUN (.*?)\\\n\s*python manage.py collectstatic --noinput", text).group(1)
    return dict(pair.split("=", 1) for pair in line.split())


WORKERS = {"threads": "config.server.ThreadsWorker", "uvicorn": "config.server.Worker"}


@pytest.fixture(scope="module", params=list(WORKERS))
def production_server(request, tmp_path_factory, django_db_setup):
    from django.conf import settings

    data_dir = tmp_path_factory.mktemp("praetor-production")
    build_env = clean_env(PRAETOR_DATA_DIR=str(data_dir), **_dockerfile_collectstatic_env())
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=REPO,
        env=build_env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = free_port()
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="q6h1VwZcY0m3pD9s-8kLr2TnUeXbA5fJ7gHiOaWzKy4MxN_vPjQt",
        # The test database, already migrated by pytest-django.
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{settings.DATABASES['default']['TEST']['NAME']}",
        REDIS_URL="redis://127.0.0.1:6379/0",
        ALLOWED_HOSTS=HOST,
        PRAETOR_DATA_DIR=str(data_dir),
        PRAETOR_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        PRAETOR_WEB_SERVER=request.param,
        PATH=f"{BIN}:{clean_env()['PATH']}",
    )
    log = data_dir / "gunicorn.log"
    proc = start_group(COMPOSE["services"]["web"]["command"], env=env, log=log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", headers={"Host": HOST}, proc=proc, log=log, timeout=90)
        yield {"base_url": f"http://127.0.0.1:{port}", "port": port, "env": env, "data_dir": data_dir,
               "worker": WORKERS[request.param]}
    finally:
        stop_group(proc)


def test_build_step_collects_compressed_static_files_without_writing_a_secret(production_server):
    static_root = production_server["data_dir"] / "staticfiles"
    assert (static_root / "admin" / "css" / "base.css").is_file()
    assert (static_root / "admin" / "css" / "base.css.gz").is_file()
    assert not (production_server["data_dir"] / "secret_key").exists()


def test_plain_http_is_redirected_to_https_except_probes(production_server):
    base = production_server["base_url"]
    status, headers, _ = http_request(base + "/accounts/login/", headers={"Host": HOST})
    assert (status, headers["Location"]) == (301, f"https://{HOST}/accounts/login/")
    status, _, body = http_request(base + "/ready", headers={"Host": HOST})
    assert (status, body) == (200, b'{"status": "ok", "checks": {"database": "ok", "redis": "ok"}}'), body


def test_pages_behind_the_tls_proxy_carry_the_security_headers(production_server):
    status, headers, body = http_request(
        production_server["base_url"] + "/accounts/login/", headers={"Host": HOST, "X-Forwarded-Proto": "https"}
    )
    assert status == 200
    assert b'name="password"' in body
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    cookies = headers.get_all("Set-Cookie") or []
    assert cookies and all("; Secure" in cookie for cookie in cookies)


def test_unknown_hosts_and_paths_get_plain_errors_not_debug_pages(production_server):
    base = production_server["base_url"]
    status, _, body = http_request(base + "/ready", headers={"Host": "evil.example.net"})
    assert status == 400
    status, _, body = http_request(base + "/no-such-page", headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    assert status == 404
    assert b"URLconf" not in body and b"Traceback" not in body


def test_static_files_are_served_compressed_by_whitenoise(production_server):
    status, headers, _ = http_request(
        production_server["base_url"] + "/static/admin/css/base.css",
        headers={"Host": HOST, "X-Forwarded-Proto": "https", "Accept-Encoding": "gzip"},
    )
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"].startswith("text/css")


def test_compose_web_healthcheck_passes_against_the_running_server(production_server):
    test = COMPOSE["services"]["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    script = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{production_server['port']}")
    result = subprocess.run(
        [sys.executable, "-c", script], env=production_server["env"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr


def test_the_server_runs_the_worker_the_setting_names(production_server):
    """deploy/gunicorn.conf.py's worker class for PRAETOR_WEB_SERVER (config/server.py: the threads worker, or
    uvicorn's with the trusted-proxy test kept per address), which answered every request of the tests above."""
    log = (production_server["data_dir"] / "gunicorn.log").read_text()
    assert f"Using worker: {production_server['worker']}" in log
    for trouble in ("Exception in ASGI application", "Exception in the WSGI application", "Worker failed to boot",
                    "HTTP connection failed"):
        assert trouble not in log
