"""`write_together_if` and `insert_if` work from a plan per shape of call (apps/core/prepared.py `_swap_plan`,
`_insert_if_plan`: the statement and each parameter's preparation, worked out once): each must send the same
statement with the same parameters (values and types) as the code it replaced, kept here as the
specification, for the shapes the engine uses and many generated ones (models, fields set, scope, the `also`
row, guard values of each kind; the rows and dependents of a create)."""

from __future__ import annotations

import contextlib
import datetime
import random
import uuid

import pytest
from django.db import connection, connections
from django.utils import timezone

from apps.core import prepared, rows
from apps.engine.models.runs import FlowRun, FlowRunState, OrchestrationDecision, TaskRun, TaskRunState

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)


_reference_sql: dict = {}


def reference_write_together_if(inserts, row, fields, *, unchanged, value, scope=(), also=None) -> bool:
    """write_together_if before its plan (prepared.py at a79c577), kept as the specification."""
    connection = connections["default"]
    meta = row._meta
    guard_field = meta.get_field(unchanged)
    scoped = [meta.get_field(name) for name in scope]
    other = None
    if also is not None:
        other_model, other_pk, other_name, other_value = also
        other = (other_model._meta, other_model._meta.get_field(other_name))
    key = ("together_if", tuple(o._meta.label for o in inserts), meta.label, tuple(fields), unchanged,
           tuple(scope), other and (other[0].label, other[1].name))
    sql = _reference_sql.get(key)
    if sql is None:
        q = prepared._quoted
        where = " AND ".join([f"{q(connection, meta.pk.column)} = %s",
                              *(f"{q(connection, f.column)} IS NOT DISTINCT FROM %s" for f in scoped),
                              f"{q(connection, guard_field.column)} IS NOT DISTINCT FROM %s"])
        if other is not None:
            other_meta, other_field = other
            where += (f" AND EXISTS (SELECT 1 FROM {q(connection, other_meta.db_table)} "
                      f"WHERE {q(connection, other_meta.pk.column)} = %s "
                      f"AND {q(connection, other_field.column)} IS NOT DISTINCT FROM %s)")
        if fields:
            assignments = ", ".join(f"{q(connection, meta.get_field(n).column)} = %s" for n in fields)
            guard = f"g AS (UPDATE {q(connection, meta.db_table)} SET {assignments} WHERE {where} RETURNING 1)"
        else:
            guard = f"g AS (SELECT 1 FROM {q(connection, meta.db_table)} WHERE {where})"
        parts = [guard] + [f"i{n} AS ({prepared._head(connection, o)} SELECT {prepared._typed_marks(connection, o)} "
                           "WHERE EXISTS (SELECT 1 FROM g))" for n, o in enumerate(inserts)]
        sql = _reference_sql[key] = f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM g)"
    params = prepared._update_values(connection, row, fields)
    params += [f.get_db_prep_value(getattr(row, f.attname), connection) for f in scoped]
    params.append(guard_field.get_db_prep_value(value, connection))
    if other is not None:
        other_meta, other_field = other
        params.append(other_meta.pk.get_db_prep_value(other_pk, connection))
        params.append(other_field.get_db_prep_value(other_value, connection))
    params += [v for obj in inserts for v in prepared._values(connection, obj)]
    with prepared.cursor_for(connection) as cursor:
        cursor.execute(sql, params)
        done = cursor.fetchone()[0] == 1
    if done:
        prepared._saved(connection, inserts)
    return done


def reference_insert_if(obj, *, exists, dependents=()):
    """insert_if's PostgreSQL way before its plan (prepared.py at a79c577), kept as the specification."""
    connection = connections["default"]
    model, where = exists
    meta = model._meta
    key = ("insert_if", obj._meta.label, meta.label, tuple(where), tuple(d._meta.label for d in dependents))
    sql = _reference_sql.get(key)
    if sql is None:
        q = prepared._quoted
        fields = [meta.get_field(n) for n in where]
        guard = " AND ".join(f"{q(connection, f.column)} {'=' if f.primary_key else 'IS NOT DISTINCT FROM'} %s"
                             for f in fields)
        parts = [f"g AS (SELECT 1 FROM {q(connection, meta.db_table)} WHERE {guard})",
                 f"r AS ({prepared._head(connection, obj)} SELECT {prepared._typed_marks(connection, obj)} WHERE "
                 "EXISTS (SELECT 1 FROM g) ON CONFLICT DO NOTHING RETURNING 1)"]
        parts += [f"d{n} AS ({prepared._head(connection, d)} SELECT {prepared._typed_marks(connection, d)} FROM r)"
                  for n, d in enumerate(dependents)]
        found_inserted = "SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM r)"
        sql = _reference_sql[key] = f"WITH {', '.join(parts)} {found_inserted}"
    params = rows.lookup_values(connection, meta, where)
    params += [value for row in (obj, *dependents) for value in prepared._values(connection, row)]
    with prepared.cursor_for(connection) as cursor:
        cursor.execute(sql, params)
        found, inserted = cursor.fetchone()
    if inserted:
        prepared._saved(connection, [obj, *dependents])
    return bool(found), bool(inserted)


class _Recorder:
    """A cursor that records what it is given and answers that one row was updated."""

    def __init__(self):
        self.sent = []

    def execute(self, sql, params):
        self.sent.append((sql, [(type(p), p if not hasattr(p, "obj") else (p.obj, p.dumps)) for p in params]))

    def fetchone(self):
        return (1, 1)


def _sent_by(write, monkeypatch, make_args):
    recorder = _Recorder()
    monkeypatch.setattr(prepared, "cursor_for", lambda c: contextlib.nullcontext(recorder))
    inserts, row, fields, kwargs = make_args()
    done = write(inserts, row, fields, **kwargs)
    return done, recorder.sent, [(o._state.adding, o._state.db) for o in inserts], {
        k: v for k, v in row.__dict__.items() if k != "_state"}


def _value(rng):
    """A guard value of each kind a caller may pass: NULL, a UUID, its canonical or hex spelling."""
    made = uuid.UUID(int=rng.getrandbits(128))
    return rng.choice([None, made, str(made), made.hex])


def _shapes(seed: int):
    rng = random.Random(seed)
    ws, run_id, flow_run_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kind = rng.choice(["task_run", "flow_run"])
    model, state_model = (TaskRun, TaskRunState) if kind == "task_run" else (FlowRun, FlowRunState)
    settable = ["state", "state_type", "state_name", "state_timestamp", "run_count", "start_time", "end_time",
                "total_run_time", "expected_start_time", "next_scheduled_start_time", "empirical_policy", "updated"]
    if kind == "task_run":
        settable.append("flow_run_run_count")
    fields = sorted(rng.sample(settable, rng.randint(0, 6)))
    scope = tuple(rng.sample(["workspace_id", "name"], rng.randint(0, 2)))
    also = rng.random() < 0.5
    value = _value(rng)
    seeds = [rng.random() for _ in range(3)]
    n_inserts = rng.randint(0, 2)

    def make_args():
        r = random.Random(seed)
        row = model(id=run_id, workspace_id=ws, name=f"run-{seed}", run_count=r.randint(0, 3),
                    state_type=r.choice(["RUNNING", "PENDING", None]), state_name="Running", state_timestamp=NOW,
                    total_run_time=datetime.timedelta(seconds=r.randint(0, 99)),
                    empirical_policy=r.choice([{}, {"retries": 2}, {"a": [1, 2.5, None]}]))
        if kind == "task_run":
            row.flow_run_id = flow_run_id if seeds[0] < 0.8 else None
            row.task_key, row.dynamic_key = "t", "0"
        state = state_model(id=uuid.UUID(int=r.getrandbits(128)), workspace_id=ws, type="RUNNING",
                            name="Running", timestamp=NOW, state_details={"k": seeds[1]}, data=seeds[2])
        setattr(state, f"{kind}_id", run_id)
        decision = OrchestrationDecision(id=uuid.UUID(int=r.getrandbits(128)), workspace_id=ws,
                                         initial_state_type="PENDING", proposed_state_type="RUNNING",
                                         proposed_state_name="Running", decision="ACCEPT", rule="CoreTaskPolicy",
                                         reason="No rule objected.", state_id=state.id, details={})
        setattr(decision, f"{kind}_id", run_id)
        row.state_id = state.id
        inserts = [state, decision][:n_inserts] if n_inserts < 2 else [state, decision]
        kwargs = {"unchanged": "state_id", "value": value, "scope": scope}
        if also:
            kwargs["also"] = (FlowRun, flow_run_id, "state_id", _value(random.Random(seed + 1)))
        return inserts, row, fields, kwargs

    return make_args


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(200))
def test_the_plan_sends_what_the_reference_sends(seed, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    make_args = _shapes(seed)
    for _ in range(2):  # the plan's first (building) call and a cached one
        reference = _sent_by(reference_write_together_if, monkeypatch, make_args)
        planned = _sent_by(prepared.write_together_if, monkeypatch, make_args)
        assert planned == reference
        assert reference[1]  # a statement was sent


@pytest.mark.django_db
def test_an_unknown_field_still_fails_as_before(monkeypatch):
    run = TaskRun(id=uuid.uuid4(), workspace_id=uuid.uuid4())
    for write in (reference_write_together_if, prepared.write_together_if):
        with pytest.raises(Exception, match="has no field named") as raised:
            write([], run, ["no_such_field"], unchanged="state_id", value=None)
        assert type(raised.value).__name__ == "FieldDoesNotExist"
    assert connection.vendor == "postgresql"


def _creates(seed: int):
    """A task run create's insert_if (the run, its first state as dependent), or a generated variant: another
    `exists` (id alone, id and workspace, as ids or strings), no dependents or two, a flow run create's rows."""
    rng = random.Random(seed)
    ws, parent = uuid.UUID(int=rng.getrandbits(128)), uuid.UUID(int=rng.getrandbits(128))
    names = rng.choice([("id", "workspace_id"), ("id",), ("workspace_id", "id")])
    spelled = rng.choice([lambda v: v, str])
    n_dependents = rng.choice([0, 1, 1, 2])
    kind = rng.choice(["task_run", "task_run", "flow_run"])

    def make():
        r = random.Random(seed)
        run_id = uuid.UUID(int=r.getrandbits(128))
        if kind == "task_run":
            obj = rows.new_instance(TaskRun, ("id", "workspace_id", "flow_run_id", "task_key", "dynamic_key", "name",
                                              "empirical_policy", "tags", "task_inputs", "cache_key"),
                                    (run_id, ws, parent, "t", str(r.randint(0, 9)), "t-0", {"retries": r.randint(0, 3)},
                                     r.choice([[], ["a", "b"]]), {"x": [{"input_type": "parameter", "name": "x"}]},
                                     r.choice([None, "key"])))
            state_model = TaskRunState
        else:
            obj = FlowRun(id=run_id, workspace_id=ws, flow_id=parent, name=f"run-{seed}", parameters={"p": r.random()})
            state_model = FlowRunState
        obj.state_type, obj.state_name, obj.state_timestamp = "PENDING", "Pending", NOW
        dependents = []
        for _ in range(n_dependents):
            state = state_model(id=uuid.UUID(int=r.getrandbits(128)), workspace_id=ws, type="PENDING", name="Pending",
                                timestamp=NOW, state_details={"k": r.random()})
            setattr(state, f"{kind}_id", run_id)
            dependents.append(state)
        where = {name: spelled(parent if name == "id" else ws) for name in names}
        return obj, (FlowRun, where), dependents

    return make


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(100))
def test_the_insert_plan_sends_what_the_reference_sends(seed, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    make = _creates(seed)
    for _ in range(2):  # the plan's first (building) call and a cached one
        sent = []
        for insert_if in (reference_insert_if, prepared.insert_if):
            recorder = _Recorder()
            monkeypatch.setattr(prepared, "cursor_for", lambda c, recorder=recorder: contextlib.nullcontext(recorder))
            obj, exists, dependents = make()
            answer = insert_if(obj, exists=exists, dependents=dependents)
            sent.append((answer, recorder.sent, [(o._state.adding, o._state.db) for o in (obj, *dependents)]))
        assert sent[0] == sent[1]
        assert sent[0][1]
