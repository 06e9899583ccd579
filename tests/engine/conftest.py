"""Fixtures shared by the engine's tests."""

import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.core import clock
from tests.factories.workspaces import WorkspaceFactory


@pytest.fixture
def id_clock_calls(monkeypatch):
    """Calls of `UUID.__init__` and of `django.utils.timezone.now` from here on (apps/core/clock.py `now` counted as
    Django's: it calls a replaced `timezone.now`)."""
    calls = {"uuid": 0, "now": 0}
    init, now = uuid.UUID.__init__, timezone.now

    def counting_init(self, *args, **kwargs):
        calls["uuid"] += 1
        init(self, *args, **kwargs)

    def counting_now():
        calls["now"] += 1
        return now()

    monkeypatch.setattr(uuid.UUID, "__init__", counting_init)
    monkeypatch.setattr(timezone, "now", counting_now)
    # (clock.now calls a replaced timezone.now, as a frozen clock must be obeyed: this counter stands for Django's)
    monkeypatch.setattr(clock, "_DJANGO_NOW", counting_now)
    return calls


@pytest.fixture
def ws():
    """A workspace, on PostgreSQL (the compare-and-swap writes and the prepared statements these tests count)."""
    assert connection.vendor == "postgresql"
    return WorkspaceFactory()
