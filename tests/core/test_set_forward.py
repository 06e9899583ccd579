"""apps/core/rows.py `set_forward(obj, name, value)` leaves `obj` and `value` as `setattr(obj, name, value)`
(Django's ForwardManyToOneDescriptor) leaves them: the column, the relation cache, both `_state.db`, and the
same error where Django refuses; with a router configured, or for another kind of relation, it is setattr."""

from __future__ import annotations

import copy
import itertools
import uuid

import pytest
from django.db import router

from apps.core import rows
from apps.engine.models.runs import FlowRun, FlowRunState, TaskRun, TaskRunState


def _run(model, db, cached):
    run = rows.new_instance(model, ("id", "workspace_id"), (uuid.uuid4(), uuid.uuid4()))
    if cached is not None:
        run.state = cached  # an earlier state in the cache (and its id in the column)
    run._state.db = db
    return run


def _state(model, run, db):
    state = model(id=uuid.uuid4(), workspace_id=run.workspace_id, type="RUNNING", name="Running")
    state._state.db = db
    return state


def _seen(obj, value):
    """What a reader of either instance can tell apart."""
    own = {k: v for k, v in obj.__dict__.items() if k != "_state"}
    return (own, obj._state.db, obj._state.adding, dict(obj._state.fields_cache),
            value._state.db if value is not None else None)


@pytest.mark.parametrize(("run_model", "state_model"), [(TaskRun, TaskRunState), (FlowRun, FlowRunState)])
def test_the_same_instances_as_django_descriptor(run_model, state_model):
    dbs = [None, "default", "", "other"]
    compared = 0
    for run_db, state_db, has_cached, none in itertools.product(dbs, dbs, (False, True), (False, True)):
        template = _run(run_model, run_db, _state(state_model, _run(run_model, "default", None), "default")
                        if has_cached else None)
        value_template = None if none else _state(state_model, template, state_db)
        outcomes = []
        for way in (setattr, rows.set_forward):
            run, value = copy.deepcopy((template, value_template))
            try:
                way(run, "state", value)
                outcomes.append(("ok", _seen(run, value)))
            except ValueError as error:
                outcomes.append(("error", str(error).replace(repr(value), "<value>"), _seen(run, value)))
        assert outcomes[0] == outcomes[1], (run_db, state_db, has_cached, none)
        compared += 1
    assert compared == 64


def test_another_class_or_a_router_goes_through_django(monkeypatch):
    run = _run(TaskRun, "default", None)
    with pytest.raises(ValueError, match="must be a"):
        rows.set_forward(run, "state", _state(FlowRunState, run, "default"))  # not a TaskRunState
    calls = []

    class Router:
        def allow_relation(self, obj1, obj2, **hints):
            calls.append((obj1, obj2))
            return True

    monkeypatch.setitem(router.__dict__, "routers", [Router()])
    state = _state(TaskRunState, run, None)
    rows.set_forward(run, "state", state)
    assert calls == [(state, run)] and run.state_id == state.id and run.state is state


def test_a_set_state_and_a_create_use_it():
    """The state written by orchestration (deferred_writer) and a created run's first state are set this way."""
    from apps.engine.orchestration.policies import MINIMAL_TASK_POLICY
    from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
    from apps.engine.schemas.states import StateValue
    from apps.engine.services.run_states import deferred_writer

    run = _run(TaskRun, None, None)
    pending: list = []
    ctx = OrchestrationContext(kind="task_run", run=run, initial=None, proposed=StateValue.new("PENDING"),
                               now=StateValue.new("PENDING").timestamp, force=True)
    orchestrate(ctx, MINIMAL_TASK_POLICY, deferred_writer(pending))
    (state,) = pending
    assert run.state is state and run.state_id == state.id == ctx.validated.id
    assert run._state.db == state._state.db == "default"
