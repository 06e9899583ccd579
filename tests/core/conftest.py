"""Fixtures shared by tests/core."""

from __future__ import annotations

import pytest
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
