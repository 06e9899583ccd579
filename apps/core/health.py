"""Liveness (/health) and readiness (/ready: the database and, when configured, Redis answer)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means not ready
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as exc:  # connection refused, timeout, auth: all not ready
        return f"{type(exc).__name__}: {exc}"
    return None


@require_GET
def ready(request):
    checks = {"database": _check_database(), "redis": _check_redis() if settings.REDIS_URL else "not configured"}
    failed = {name: err for name, err in checks.items() if err and err != "not configured"}
    body = {
        "status": "ok" if not failed else "unavailable",
        "checks": {name: (err or "ok") for name, err in checks.items()},
    }
    return JsonResponse(body, status=200 if not failed else 503)
