"""Fixtures shared by the set_state tests: a workspace on PostgreSQL, a Running flow run in it, the cache's counts."""

import pytest
from django.db import connection

from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_create
from apps.engine.services.flows import flow_create
from tests.factories.workspaces import WorkspaceFactory


@pytest.fixture
def ws():
    """A workspace; these tests need PostgreSQL (the compare-and-swap write)."""
    assert connection.vendor == "postgresql"
    return WorkspaceFactory()


@pytest.fixture
def flow_run(ws):
    """A Running flow run of a new flow in `ws`."""
    flow, _ = flow_create(workspace=ws, name="set-state", tags=[])
    run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    return run


@pytest.fixture
def counted(monkeypatch):
    """The cache's hits and misses from here on."""
    stats = {"hit": 0, "miss": 0}
    monkeypatch.setattr(task_run_state_cache, "stats", stats)
    monkeypatch.setattr(task_run_state_cache, "_write_stats", lambda: None)
    return stats
