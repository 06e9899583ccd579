"""Fixtures shared by the set_state cache tests."""

import pytest

from apps.engine.services import task_run_state_cache


@pytest.fixture
def counted(monkeypatch):
    """The cache's hits and misses from here on."""
    stats = {"hit": 0, "miss": 0}
    monkeypatch.setattr(task_run_state_cache, "stats", stats)
    monkeypatch.setattr(task_run_state_cache, "_write_stats", lambda: None)
    return stats
