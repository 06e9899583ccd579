import json
import subprocess
import sys

import pytest

from tests.ops.processes import REPO, clean_env

pytestmark = pytest.mark.django_db


def test_health_answers_without_touching_dependencies(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_503_naming_redis_when_redis_is_unreachable(client, settings):
    # Port 1 on loopback: nothing listens there, so the connection is refused at once.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("ConnectionError: ")
    assert set(body) == {"status", "checks"} and set(body["checks"]) == {"database", "redis"}


def test_ready_without_redis_configured_checks_only_the_database(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}


def test_ready_rejects_other_methods(client):
    assert client.post("/ready").status_code == 405
    assert client.post("/health").status_code == 405


def test_ready_is_503_naming_the_database_when_it_is_unreachable():
    # A separate process, since this one's connection is the test database.
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        "r = Client().get('/ready'); print(r.status_code, json.dumps(r.json()))"
    )
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings.base",
        DATABASE_URL="postgres://praetor@127.0.0.1:1/praetor",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PRAETOR_DATA_DIR=str(REPO / "var"),
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    body = json.loads(body)
    assert status == "503"
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("OperationalError: ")
