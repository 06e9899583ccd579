"""The rows a set_state writes (the new state and the decision) are built without Model.__init__
(apps/core/rows.py `new_instance`): they must be the instances `Model(**values)` makes, and give the same
statement parameters, for any state and any outcome."""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
import zoneinfo

import pytest
from django.apps import apps
from django.db import connection
from django.db.models.signals import pre_init
from django.utils import timezone

from apps.core import rows
from apps.engine.models.runs import (
    Decision,
    FlowRun,
    FlowRunState,
    OrchestrationDecision,
    StateType,
    TaskRun,
    TaskRunState,
)
from apps.engine.orchestration.policies import CORE_FLOW_POLICY, CORE_TASK_POLICY
from apps.engine.orchestration.rules import OrchestrationContext
from apps.engine.schemas.states import STATE_DETAIL_DEFAULTS, StateValue, details_json
from apps.engine.services.run_states import decision_record, deferred_writer
from tests.core.test_prepared_fast import _param, _samples

NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, 654321, tzinfo=datetime.UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def _random_default(field) -> bool:
    """A default that differs per call (uuid4): compared by type only."""
    return callable(field.default) and field.default not in (dict, list)


def _attributes(obj) -> dict:
    meta = obj._meta
    out = {}
    for name, value in obj.__dict__.items():
        if name == "_state":
            continue
        field = next((f for f in meta.concrete_fields if f.attname == name), None)
        out[name] = type(value) if field is not None and _random_default(field) else (type(value), value)
    return out


def _same_new(fast, slow, db=None) -> None:
    assert type(fast) is type(slow) and fast is not slow
    assert _attributes(fast) == _attributes(slow)
    assert (fast._state.adding, fast._state.db) == (slow._state.adding, slow._state.db) == (True, db)
    assert fast._state.fields_cache == slow._state.fields_cache == {}


def test_new_instances_are_what_model_init_makes_for_every_model_and_set_of_fields():
    rng = random.Random(6)
    samples = _samples()
    models = [m for m in apps.get_models() if not m._meta.proxy]
    built = 0
    for model in models:
        attnames = [f.attname for f in model._meta.concrete_fields]
        name_sets = [(), tuple(attnames), *((name,) for name in attnames)]
        name_sets += [tuple(rng.sample(attnames, rng.randint(1, len(attnames)))) for _ in range(5)]
        for names in name_sets:
            for _ in range(3):
                values = tuple(rng.choice(samples) for _ in names)
                fast = rows.new_instance(model, names, values)
                slow = model(**dict(zip(names, values, strict=True)))
                _same_new(fast, slow)
                built += rows.new_instance_builder(model, names) is not None
    assert built > 1_000
    for model in (TaskRunState, FlowRunState, OrchestrationDecision, TaskRun, FlowRun):
        assert rows.new_instance_builder(model, ("id", "workspace_id")) is not None
    # Not a field's attname (a relation by name, a property, a typo): Model.__init__ decides.
    assert rows.new_instance_builder(TaskRunState, ("task_run",)) is None
    assert rows.new_instance_builder(TaskRunState, ("pk",)) is None
    assert rows.new_instance_builder(TaskRunState, ("id", "id")) is None


def test_defaults_worked_out_once_are_the_objects_djangos_get_default_gives_and_made_ones_are_fresh():
    """new_instance_builder takes a field's default once when Django's get_default gives the same object on
    every call (a constant default, NULL's None, the empty string) and calls it per instance otherwise: the
    very objects Model.__init__ stores, and no mutable default shared between two instances."""
    constants = made = 0
    for model in (m for m in apps.get_models() if not m._meta.proxy):
        build = rows.new_instance_builder(model, ())
        if build is None:
            continue
        first, second, django = build(()), build(()), model()
        for field in model._meta.concrete_fields:
            kind, _ = rows._default_of(field)
            a, b, c = (obj.__dict__[field.attname] for obj in (first, second, django))
            if kind == rows._CONSTANT:
                constants += 1
                assert a is b and type(a) is type(c) and a == c
                assert a is field.get_default(), (model, field.name)
            else:
                made += 1
                if isinstance(c, dict | list):
                    assert a == c and a is not b, (model, field.name)
    assert constants > 100 and made > 20
    field = TaskRun._meta.get_field("empirical_policy")
    assert rows._default_of(field) == (rows._MADE, dict)
    assert rows._default_of(TaskRun._meta.get_field("state_id")) == (rows._CONSTANT, None)
    assert rows._default_of(TaskRun._meta.get_field("run_count")) == (rows._CONSTANT, 0)


def test_a_connected_init_receiver_gets_model_init_and_its_signals():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    pre_init.connect(receiver, sender=TaskRunState)
    try:
        obj = rows.new_instance(TaskRunState, ("name",), ("x",))
    finally:
        pre_init.disconnect(receiver, sender=TaskRunState)
    assert seen == [TaskRunState] and obj.name == "x" and obj._state.adding


# --- the rows of a set_state ---------------------------------------------------------------------------------
def _old_state_row(ctx):
    """How deferred_writer built the state row before (Model.__init__)."""
    p = ctx.proposed
    model = FlowRunState if ctx.kind == "flow_run" else TaskRunState
    return model(id=p.id, workspace_id=ctx.run.workspace_id, type=p.type, name=p.name, timestamp=p.timestamp,
                 message=p.message, state_details=p.state_details, data=p.data, **{f"{ctx.kind}_id": ctx.run.id})


def _old_decision(ctx, policy, note=""):
    """How decision_record built the decision before (Model.__init__)."""
    details = {}
    if ctx.delay_seconds is not None:
        details["delay_seconds"] = ctx.delay_seconds
    if ctx.renamed_by:
        details["renamed_by"] = list(ctx.renamed_by)
    if ctx.force:
        details["force"] = True
    if ctx.validated is not None and ctx.status == Decision.REJECT:
        details["state_type"] = ctx.validated.type
        details["state_name"] = ctx.validated.name
    reason = ctx.reason or note or ("Forced." if ctx.force else "No rule objected.")
    return OrchestrationDecision(
        workspace_id=ctx.run.workspace_id,
        flow_run_id=ctx.run.id if ctx.kind == "flow_run" else None,
        task_run_id=ctx.run.id if ctx.kind == "task_run" else None,
        initial_state_type=ctx.initial_type, proposed_state_type=ctx.proposal_type,
        proposed_state_name=ctx.proposal_name, decision=ctx.status, rule=ctx.decided_by or policy.name,
        reason=reason, state_id=ctx.validated.id if ctx.wrote_state else None, details=details,
    )


_DATA = [None, {}, {"type": "unpersisted"}, {"type": "reference", "storage_key": "k/ü", "n": [1, 2.5, None]},
         [1, "x"], "text", "", 0, 3.25, True, {"deep": {"er": [{"é": None}]}}]
_MESSAGES = [None, "", "boom", "multi\nline ü", "x" * 3000]


def _state(rng) -> StateValue:
    zone = rng.choice([datetime.UTC, zoneinfo.ZoneInfo("Europe/Paris"), zoneinfo.ZoneInfo("America/Lima")])
    details = {}
    for key in rng.sample(list(STATE_DETAIL_DEFAULTS), rng.randint(0, 6)):
        details[key] = rng.choice([None, str(uuid.uuid4()), NOW, "k", True, False, {"a": "b"}])
    return StateValue(type=rng.choice(list(StateType)), name=rng.choice(["Running", "Cached", "ü", "x" * 255]),
                      timestamp=NOW.astimezone(zone) - datetime.timedelta(seconds=rng.randint(0, 10**6)),
                      message=rng.choice(_MESSAGES), data=rng.choice(_DATA),
                      state_details=rng.choice([details_json(details), {}, {"cache_key": None}]))


def _context(rng) -> tuple[OrchestrationContext, object]:
    kind = rng.choice(["flow_run", "task_run"])
    model = FlowRun if kind == "flow_run" else TaskRun
    run = model(id=uuid.uuid4(), workspace_id=uuid.uuid4())
    initial = rng.choice([None, _state(rng)])
    proposed = _state(rng)
    ctx = OrchestrationContext(kind=kind, run=run, initial=initial, proposed=proposed, now=NOW,
                               force=rng.random() < 0.2)
    ctx.proposal_type, ctx.proposal_name = proposed.type, rng.choice([proposed.name, None, ""])
    ctx.status = rng.choice(list(Decision))
    ctx.reason = rng.choice(["", "Retrying", "The flow is paused: é"])
    ctx.delay_seconds = rng.choice([None, 0, 5, 30])
    ctx.decided_by = rng.choice(["", "RetryFailedTasks"])
    ctx.renamed_by = rng.choice([[], ["RenameReruns"], ["A", "B"]])
    if ctx.status in (Decision.WAIT, Decision.ABORT) or rng.random() < 0.2:
        ctx.proposed = None  # nothing written; the run stays in its state
    policy = CORE_FLOW_POLICY if kind == "flow_run" else CORE_TASK_POLICY
    return ctx, policy


def _params(obj) -> list:
    meta = obj._meta
    return [_param(v) for v in rows.values(connection, obj, rows.plan(connection, meta, None, True), True)]


def test_set_state_rows_are_the_model_init_rows_with_the_same_parameters(frozen_now):
    rng = random.Random(20261206)
    written = rejected = 0
    for _ in range(1_500):
        ctx, policy = _context(rng)
        if ctx.proposed is not None:
            pending = []
            deferred_writer(pending)(ctx)
            ctx.validated, ctx.wrote_state = ctx.proposed, True
            (row,) = pending
            old = _old_state_row(ctx)
            type(ctx.run)(id=ctx.run.id).state = old  # as the run's state, like the row (which sets its db)
            _same_new(row, old, db="default")
            assert ctx.run.state is row and ctx.run.state_id == row.id and "state" in ctx.changed_fields
            assert _params(row) == _params(old)
            written += 1
        else:
            ctx.validated = ctx.initial if ctx.initial is not None or ctx.status != Decision.REJECT else None
        note = rng.choice(["", "Mirrors the state of subflow run x."])
        decision, old = decision_record(ctx, policy, note=note), _old_decision(ctx, policy, note=note)
        _same_new(decision, old)
        params, old_params = _params(decision), _params(old)
        assert params[1:] == old_params[1:] and type(params[0][1]) is uuid.UUID  # the id: a fresh uuid4
        rejected += ctx.status == Decision.REJECT and ctx.validated is not None
    assert written > 500 and rejected > 100


def test_the_optimistic_copy_of_a_proposal_names_every_field_of_a_state():
    """run_try_set_state copies the proposal field by field (no dataclasses.replace): a new StateValue field
    must be added there too."""
    assert [f.name for f in dataclasses.fields(StateValue)] == [
        "type", "name", "timestamp", "message", "data", "state_details", "id"]


def test_a_created_task_run_is_the_instance_task_run_init_makes(authed_client, workspace, monkeypatch):
    """task_run_create builds its TaskRun by rows.new_instance: for every body shape of the client (each optional
    field given or not, in its order or another), the instance is `TaskRun(**values)`'s."""
    from apps.engine.services import task_runs as services
    from tests.engine.runs_helpers import base, create_flow, create_flow_run

    compared = []
    original = rows.new_instance

    def both(model, names, values):
        fast = original(model, names, values)
        if model is TaskRun:
            _same_new(fast, model(**dict(zip(names, values, strict=True))))
            compared.append(names)
        return fast

    monkeypatch.setattr(services.rows, "new_instance", both)
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    optional = {"cache_key": "k", "cache_expiration": "2030-01-01T00:00:00+00:00", "task_version": "1",
                "tags": ["a", "b"], "task_inputs": {"x": [{"input_type": "parameter", "name": "x"}]}}
    rng = random.Random(7)
    for n in range(12):
        chosen = dict(rng.sample(sorted(optional.items()), rng.randint(0, len(optional))))
        body = {"flow_run_id": run["id"], "task_key": "t", "dynamic_key": str(n), "name": None if n % 2 else f"n{n}",
                "state": {"type": "PENDING"}, "empirical_policy": {"retries": n} if n % 3 else None, **chosen}
        body = {k: v for k, v in body.items() if v is not None}
        response = authed_client.post(base(workspace) + "task_runs/", body, format="json")
        assert response.status_code == 201, response.content
    assert len(compared) == 12 and len(set(compared)) > 3


def test_each_built_instance_owns_its_dict_and_the_next_one_is_still_what_django_makes():
    """new_instance_builder and instance_builder give each instance a copy of a template as its `__dict__`: what
    one instance's owner changes (attributes, its ModelState) never shows in the template or the next instance."""
    names = ("id", "workspace_id", "type", "state_details", "task_run_id")

    def values():
        return (uuid.uuid4(), uuid.uuid4(), "RUNNING", {"a": 1}, uuid.uuid4())

    first = rows.new_instance(TaskRunState, names, values())
    first.type, first.name, first.message = "CHANGED", "changed", "changed"
    first.__dict__["extra"] = 1
    first._state.adding, first._state.db = False, "default"
    given = values()
    second = rows.new_instance(TaskRunState, names, given)
    _same_new(second, TaskRunState(**dict(zip(names, given, strict=True))))
    assert second.__dict__ is not first.__dict__ and second._state is not first._state
    assert "extra" not in second.__dict__ and next(iter(second.__dict__)) == "_state"

    attnames = [f.attname for f in TaskRunState._meta.concrete_fields]
    build = rows.instance_builder(TaskRunState, attnames)
    row = [getattr(first, name, None) for name in attnames]
    read = build("default", row)
    read.type = "OTHER"
    read.__dict__["extra"] = 1
    again = build("default", row)
    django = TaskRunState.from_db("default", attnames, row)
    assert again.__dict__.keys() == django.__dict__.keys() and "extra" not in again.__dict__
    assert all(again.__dict__[name] is django.__dict__[name] for name in attnames)
    assert (again._state.adding, again._state.db) == (django._state.adding, django._state.db) == (False, "default")
