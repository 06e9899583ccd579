"""apps/engine/services/run_states.py `point_at(run, row)` leaves the run and the new state row as Django's
`run.state = row` leaves them (its ForwardManyToOneDescriptor.__set__), for task and flow runs as a create builds
them (no database yet), as a read or the set_state cache builds them (the default database, a state cached or
not, other relations cached), with the row's id new or the run's own; with a database router, or instances on two
databases, it is the descriptor (which routes, or refuses)."""

from __future__ import annotations

import random
import uuid

import pytest
from django.db import router
from django.db.models.base import ModelState

from apps.core import rows
from apps.engine.models.runs import FlowRun, FlowRunState, TaskRun, TaskRunState
from apps.engine.services.run_states import _STATE_NAMES, point_at

_KINDS = {"task_run": (TaskRun, TaskRunState), "flow_run": (FlowRun, FlowRunState)}


def _run(model, rng: random.Random):
    """A run as a create (db None, nothing cached), a read or the cache (db default, relations cached) builds it."""
    run = rows.new_instance(model, ("id", "workspace_id"), (uuid.uuid4(), uuid.uuid4()))
    shape = rng.randrange(4)
    if shape:
        run._state.adding, run._state.db = False, "default"
        run.__dict__["state_id"] = uuid.uuid4() if shape != 3 else None
        if shape >= 2:
            cache = run._state.fields_cache
            if rng.random() < 0.5:
                cache["flow_run" if model is TaskRun else "deployment"] = object()
            cache["state"] = object() if shape == 2 else None
            if rng.random() < 0.5:
                cache["other"] = object()
    return run


def _row(model, state_model, run, rng: random.Random):
    state_id = run.__dict__.get("state_id") if rng.random() < 0.2 and run.__dict__.get("state_id") else uuid.uuid4()
    kind = "task_run" if model is TaskRun else "flow_run"
    row = rows.new_instance(state_model, _STATE_NAMES[kind], (
        state_id, run.workspace_id, "RUNNING", "Running", None, None, {}, None, run.id))
    if rng.random() < 0.2:
        row._state.db = "default"
    return row


def _seen(run, row) -> tuple:
    return ({k: v for k, v in run.__dict__.items() if k != "_state"}, run._state.db, run._state.adding,
            list(run._state.fields_cache.items()), row._state.db, row._state.adding,
            {k: v for k, v in row.__dict__.items() if k != "_state"}, row._state.__dict__.get("fields_cache"))


def _twins(kind: str, seed: int):
    model, state_model = _KINDS[kind]
    rng = random.Random(seed)
    run = _run(model, rng)
    row = _row(model, state_model, run, rng)
    twin_run = type(run).__new__(type(run))
    twin_run.__dict__.update(run.__dict__)
    twin_run._state = ModelState()
    twin_run._state.__dict__.update({k: (dict(v) if k == "fields_cache" else v)
                                     for k, v in run._state.__dict__.items()})
    twin_row = type(row).__new__(type(row))
    twin_row.__dict__.update(row.__dict__)
    twin_row._state = ModelState()
    twin_row._state.__dict__.update(row._state.__dict__)
    return (run, row), (twin_run, twin_row)


@pytest.mark.parametrize("kind", ["task_run", "flow_run"])
def test_point_at_leaves_what_the_descriptor_leaves(kind):
    for seed in range(2_000):
        (run, row), (twin_run, twin_row) = _twins(kind, seed)
        twin_run.state = twin_row
        point_at(run, row)
        expected = _seen(twin_run, twin_row)
        got = _seen(run, row)
        # the same values; the cached state is each side's own row
        assert got[:3] == expected[:3], seed
        assert [(k, v is row if k == "state" else v) for k, v in got[3]] == [
            (k, v is twin_row if k == "state" else v) for k, v in expected[3]], seed
        assert got[4:] == expected[4:], seed
        assert run.state is row and run.state_id == row.id


def test_point_at_is_the_descriptor_with_a_router_or_two_databases(monkeypatch):
    model, state_model = _KINDS["task_run"]
    rng = random.Random(1)
    run = _run(model, rng)
    row = _row(model, state_model, run, rng)
    run._state.db, row._state.db = "default", "other"
    with pytest.raises(ValueError, match="router prevents this relation"):
        point_at(run, row)

    class Refusing:
        def allow_relation(self, obj1, obj2, **hints):
            return False

    monkeypatch.setattr(router, "routers", [Refusing()])
    run = _run(model, rng)
    row = _row(model, state_model, run, rng)
    with pytest.raises(ValueError, match="router prevents this relation"):
        point_at(run, row)


@pytest.mark.django_db
def test_a_set_state_points_its_run_at_the_new_state_without_the_descriptor(ws, flow_run, monkeypatch):
    from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor

    from apps.engine.services import task_run_state_cache
    from apps.engine.services.task_runs import task_run_create, task_run_set_state

    task_run_state_cache.clear()
    task = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key="1")[0]
    assert task.state is not None and task.state_id == task.state.id and task._state.db == "default"
    assigned: list = []
    setter = ForwardManyToOneDescriptor.__set__
    monkeypatch.setattr(ForwardManyToOneDescriptor, "__set__",
                        lambda self, instance, value: assigned.append(value) or setter(self, instance, value))
    for state in ("RUNNING", "COMPLETED"):  # the first from a read of the flow run, the second from the cache
        result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": state})
        assert result.wrote_state
    assert assigned == []
    run = TaskRun.objects.for_workspace(ws).select_related("state").get(pk=task.pk)
    assert run.state.type == "COMPLETED" and run.state_id == result.state.id
