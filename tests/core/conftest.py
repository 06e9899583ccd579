"""Fixtures shared by tests/core."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.views import APIView


@pytest.fixture
def dispatches(monkeypatch):
    """The views DRF's dispatch answered, by class name (an empty list: the lean route answered)."""
    calls = []
    original = APIView.dispatch

    def counted(self, request, *args, **kwargs):
        calls.append(type(self).__name__)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", counted)
    return calls


@pytest.fixture
def preparing(settings):
    """Statements prepared on the server (PRAETOR_DB_PREPARE), on a raw cursor made anew for the test."""
    settings.PRAETOR_DB_PREPARE = True
    connection._praetor_raw_cursor = None
    yield
    connection._praetor_raw_cursor = None
