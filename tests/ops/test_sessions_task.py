from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.core.tasks import clear_expired_sessions
from config.celery import app

pytestmark = pytest.mark.django_db


def _session(key: str, expires_in: timedelta) -> None:
    Session.objects.create(session_key=key, session_data="e30:1:sig", expire_date=timezone.now() + expires_in)


def test_clear_expired_sessions_deletes_only_expired_rows():
    _session("expired-long-ago", -timedelta(days=30))
    _session("expired-just-now", -timedelta(seconds=1))
    _session("live", timedelta(hours=1))
    clear_expired_sessions.delay()
    assert set(Session.objects.values_list("session_key", flat=True)) == {"live"}
    # A second run (two beats, a retry) finds nothing to do and changes nothing.
    clear_expired_sessions.delay()
    assert set(Session.objects.values_list("session_key", flat=True)) == {"live"}


def test_session_sweep_is_scheduled_by_beat_under_its_registered_name():
    entry = settings.CELERY_BEAT_SCHEDULE["clear-expired-sessions"]
    assert entry == {"task": "praetor.core.clear_expired_sessions", "schedule": 3600.0}
    assert "praetor.core.clear_expired_sessions" in app.tasks
