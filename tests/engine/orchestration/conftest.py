"""Fixtures shared by the set_state tests (their workspace, `ws`, is tests/engine/conftest.py's): a Running flow run
in it, task runs of it (one in the process's copy: `copied`), the cache's counts."""

import pytest

from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_create
from apps.engine.services.flows import flow_create
from apps.engine.services.task_runs import task_run_create, task_run_set_state


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


@pytest.fixture
def make_task(ws, flow_run):
    """task runs of `flow_run` made by `task_run_create`, each with its own dynamic key."""
    counter = iter(range(1000))

    def make(**fields):
        return task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key=str(next(counter)),
                               **fields)[0]

    return make


@pytest.fixture
def copied(ws, make_task):
    """A Pending task run whose run and flow run are both in the copy: a first task of the flow run was read
    (its set_state copied the flow run), the create copied this one."""
    task_run_state_cache.clear()
    first = make_task()
    task_run_set_state(workspace=ws, task_run_id=first.pk, state={"type": "RUNNING"})
    task = make_task()
    assert task_run_state_cache.get(ws.pk, task.pk) is not None
    return task
