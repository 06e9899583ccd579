"""Periodic plumbing tasks that belong to no product app (session cleanup)."""

from __future__ import annotations

from importlib import import_module

from celery import shared_task
from django.conf import settings


@shared_task(name="praetor.core.clear_expired_sessions", ignore_result=True)
def clear_expired_sessions() -> None:
    """Delete expired browser sessions, as `manage.py clearsessions` does.

    Idempotent and safe to run concurrently with itself (two beats, a retry): it only deletes
    rows whose expiry is already past, in one statement.
    """
    engine = import_module(settings.SESSION_ENGINE)
    engine.SessionStore.clear_expired()
