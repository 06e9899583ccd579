"""`task_run_json`, `flow_run_json` and `state_json` (apps/engine/schemas/) render what their general form
rendered (kept here as the reference: `iso` and `_s` per field, each detail looked up with its default): the
same JSON text, key order included, for runs with every nullable field set or not and states whose details
are fresh (Prefect's order), read back from jsonb (its order), partial, with extra keys, empty or null."""

from __future__ import annotations

import datetime
import json
import random
import uuid

from django.utils import timezone

from apps.engine.models.deployments import WorkPool, WorkQueue
from apps.engine.models.runs import TERMINAL_STATE_TYPES, FlowRun, FlowRunState, StateType, TaskRun, TaskRunState
from apps.engine.schemas.runs import (
    FLOW_RUN_POLICY_DEFAULTS,
    TASK_RUN_POLICY_DEFAULTS,
    _s,
    flow_run_json,
    task_run_json,
)
from apps.engine.schemas.states import STATE_DETAIL_DEFAULTS, StateValue, datetime_text, details_json, state_json


def iso(value):
    """The reference's text of a datetime: `isoformat` itself (the code's `iso` writes UTC's by `datetime_text`)."""
    return value.isoformat() if value is not None else None


NOW = datetime.datetime(2026, 12, 6, 21, 0, 0, 500000, tzinfo=datetime.UTC)


def reference_estimates(run, now) -> tuple[float, float]:
    run_time = run.total_run_time
    if run.state_type == StateType.RUNNING and run.state_timestamp:
        run_time += now - run.state_timestamp
    delta = datetime.timedelta(0)
    expected = run.expected_start_time
    if run.start_time and expected and run.start_time > expected:
        delta = run.start_time - expected
    elif (run.start_time is None and expected and expected < now
          and run.state_type not in TERMINAL_STATE_TYPES):
        delta = now - expected
    return run_time.total_seconds(), delta.total_seconds()


def reference_state_json(state) -> dict | None:
    if state is None:
        return None
    stored = state.state_details or {}
    details = {key: stored.get(key, default) for key, default in STATE_DETAIL_DEFAULTS.items()}
    return {"id": str(state.id), "type": state.type, "name": state.name, "timestamp": iso(state.timestamp),
            "message": state.message, "data": state.data, "state_details": details}


def reference_task_run_json(run, *, now) -> dict:
    estimated_run_time, lateness = reference_estimates(run, now)
    return {
        "id": str(run.id), "created": iso(run.created), "updated": iso(run.updated), "name": run.name,
        "flow_run_id": _s(run.flow_run_id), "task_key": run.task_key, "dynamic_key": run.dynamic_key,
        "cache_key": run.cache_key, "cache_expiration": iso(run.cache_expiration), "task_version": run.task_version,
        "empirical_policy": {**TASK_RUN_POLICY_DEFAULTS, **(run.empirical_policy or {})}, "tags": run.tags,
        "state_id": _s(run.state_id), "task_inputs": run.task_inputs, "state_type": run.state_type,
        "state_name": run.state_name, "run_count": run.run_count, "flow_run_run_count": run.flow_run_run_count,
        "expected_start_time": iso(run.expected_start_time),
        "next_scheduled_start_time": iso(run.next_scheduled_start_time), "start_time": iso(run.start_time),
        "end_time": iso(run.end_time), "total_run_time": run.total_run_time.total_seconds(),
        "estimated_run_time": estimated_run_time, "estimated_start_time_delta": lateness,
        "state": reference_state_json(run.state) if run.state_id else None,
    }


def reference_flow_run_json(run, *, now) -> dict:
    estimated_run_time, lateness = reference_estimates(run, now)
    queue = run.work_queue if run.work_queue_id else None
    return {
        "id": str(run.id), "created": iso(run.created), "updated": iso(run.updated), "name": run.name,
        "flow_id": str(run.flow_id), "state_id": _s(run.state_id), "deployment_id": _s(run.deployment_id),
        "deployment_version": run.deployment_version, "work_queue_id": _s(run.work_queue_id),
        "work_queue_name": run.work_queue_name, "flow_version": run.flow_version, "parameters": run.parameters,
        "idempotency_key": run.idempotency_key, "context": run.context,
        "empirical_policy": {**FLOW_RUN_POLICY_DEFAULTS, **(run.empirical_policy or {})}, "tags": run.tags,
        "parent_task_run_id": _s(run.parent_task_run_id), "state_type": run.state_type,
        "state_name": run.state_name, "run_count": run.run_count,
        "expected_start_time": iso(run.expected_start_time),
        "next_scheduled_start_time": iso(run.next_scheduled_start_time), "start_time": iso(run.start_time),
        "end_time": iso(run.end_time), "total_run_time": run.total_run_time.total_seconds(),
        "estimated_run_time": estimated_run_time, "estimated_start_time_delta": lateness,
        "auto_scheduled": run.auto_scheduled, "infrastructure_document_id": _s(run.infrastructure_document_id),
        "infrastructure_pid": run.infrastructure_pid, "created_by": run.created_by,
        "work_pool_id": _s(queue.work_pool_id) if queue else None,
        "work_pool_name": queue.work_pool.name if queue else None,
        "state": reference_state_json(run.state) if run.state_id else None,
        "job_variables": run.job_variables,
    }


def _jsonb_order(details: dict) -> dict:
    """A dict's keys as PostgreSQL's jsonb gives them back: by length, then bytewise."""
    return {key: details[key] for key in sorted(details, key=lambda k: (len(k.encode()), k.encode()))}


def _details(rng: random.Random) -> dict | None:
    full = details_json({"flow_run_id": uuid.uuid4(), "scheduled_time": NOW, "cache_key": "k"}
                        if rng.random() < 0.5 else {})
    kind = rng.randrange(7)
    if kind == 0:
        return full  # fresh: Prefect's order
    if kind == 1:
        return _jsonb_order(full)  # read back
    if kind == 2:
        return dict(rng.sample(sorted(full.items()), rng.randint(0, len(full))))  # partial, any order
    if kind == 3:
        return {**full, "extra": 1}  # every key and one more
    if kind == 4:
        shuffled = list(full.items())
        rng.shuffle(shuffled)
        return dict(shuffled)
    return {} if kind == 5 else None


def _time(rng: random.Random):
    if rng.random() < 0.4:
        return None
    zone = rng.choice([datetime.UTC, datetime.timezone(datetime.timedelta(hours=5, minutes=30))])
    return (NOW - datetime.timedelta(seconds=rng.randint(0, 10**6), microseconds=rng.choice([0, 17]))).astimezone(zone)


def _run(rng: random.Random) -> TaskRun:
    run = TaskRun(id=rng.choice([uuid.uuid4(), str(uuid.uuid4())]), created=_time(rng) or NOW,
                  updated=_time(rng) or NOW, name="t-1",
                  flow_run_id=rng.choice([None, uuid.uuid4(), str(uuid.uuid4())]), task_key="k", dynamic_key="0",
                  cache_key=rng.choice([None, "c"]), cache_expiration=_time(rng), task_version=rng.choice([None, "v"]),
                  empirical_policy=rng.choice([None, {}, {"retries": 2}, {"retries": 1, "other": True}]),
                  tags=rng.choice([[], ["a"]]), task_inputs=rng.choice([{}, {"x": []}]),
                  state_type=rng.choice([None, *StateType.values]), state_name=rng.choice([None, "Name"]),
                  state_timestamp=_time(rng), run_count=rng.randint(0, 3), flow_run_run_count=rng.randint(0, 2),
                  expected_start_time=_time(rng), next_scheduled_start_time=_time(rng), start_time=_time(rng),
                  end_time=_time(rng), total_run_time=datetime.timedelta(seconds=rng.choice([0, 1.5, 90])))
    if rng.random() < 0.8:
        details = _details(rng)
        if rng.random() < 0.5:
            state = TaskRunState(id=uuid.uuid4(), type=rng.choice(StateType.values), name="S", timestamp=NOW,
                                 message=rng.choice([None, "m"]), data=rng.choice([None, {"d": 1}]),
                                 state_details=details)
            run.state = state
        else:
            state = StateValue(type=rng.choice(StateType.values), name="S", timestamp=NOW, data=None,
                               state_details=details)
            run.state_id = state.id
            run._state.fields_cache["state"] = state
    return run


def _flow_run(rng: random.Random) -> FlowRun:
    some_id = lambda: rng.choice([None, uuid.uuid4(), str(uuid.uuid4())])  # noqa: E731
    run = FlowRun(id=rng.choice([uuid.uuid4(), str(uuid.uuid4())]), created=_time(rng) or NOW,
                  updated=_time(rng) or NOW, name="r", flow_id=uuid.uuid4(), deployment_id=some_id(),
                  deployment_version=rng.choice([None, "v1"]), work_queue_name=rng.choice([None, "default"]),
                  flow_version=rng.choice([None, "f"]), parameters=rng.choice([{}, {"n": None, "a": [1]}]),
                  idempotency_key=rng.choice([None, "k"]), context=rng.choice([{}, {"c": 1}]),
                  empirical_policy=rng.choice([None, {}, {"retries": 2, "resuming": None}, {"x": 1}]),
                  tags=rng.choice([[], ["a"]]), parent_task_run_id=some_id(),
                  state_type=rng.choice([None, *StateType.values]), state_name=rng.choice([None, "Name"]),
                  state_timestamp=_time(rng), run_count=rng.randint(0, 3), expected_start_time=_time(rng),
                  next_scheduled_start_time=_time(rng), start_time=_time(rng), end_time=_time(rng),
                  total_run_time=datetime.timedelta(seconds=rng.choice([0, 2.5])), auto_scheduled=rng.random() < 0.5,
                  infrastructure_document_id=some_id(), infrastructure_pid=rng.choice([None, "pid"]),
                  created_by=rng.choice([None, {"id": "u", "type": "USER"}]),
                  job_variables=rng.choice([None, {}, {"image": "x"}]))
    if rng.random() < 0.5:
        pool = WorkPool(id=uuid.uuid4(), name=rng.choice(["pool", "ü-pool"]))
        run.work_queue = WorkQueue(id=uuid.uuid4(), name="default", work_pool=pool)
    if rng.random() < 0.8:
        run.state = FlowRunState(id=uuid.uuid4(), type=rng.choice(StateType.values), name="S", timestamp=NOW,
                                 message=None, data=rng.choice([None, [1]]), state_details=_details(rng))
    return run


def test_flow_runs_render_as_the_general_form_rendered(monkeypatch):
    rng = random.Random(20261206)
    shapes = set()
    for _ in range(3000):
        run = _flow_run(rng)
        assert json.dumps(flow_run_json(run, now=NOW)) == json.dumps(reference_flow_run_json(run, now=NOW))
        with monkeypatch.context() as m:
            m.setattr(timezone, "now", lambda: NOW)
            assert json.dumps(flow_run_json(run)) == json.dumps(reference_flow_run_json(run, now=NOW))
        shapes.add((run.state_id is not None, run.work_queue_id is not None, run.deployment_id is None))
    assert len(shapes) == 8


def test_task_runs_render_as_the_general_form_rendered(monkeypatch):
    rng = random.Random(2026_12_06)
    shapes = set()
    for _ in range(3000):
        run = _run(rng)
        assert json.dumps(task_run_json(run, now=NOW)) == json.dumps(reference_task_run_json(run, now=NOW))
        with monkeypatch.context() as m:  # no `now` given: the clock's, read when needed
            m.setattr(timezone, "now", lambda: NOW)
            assert json.dumps(task_run_json(run)) == json.dumps(reference_task_run_json(run, now=NOW))
        shapes.add((run.state_id is not None, run.start_time is None, run.flow_run_id is None))
    assert len(shapes) == 8


def test_states_render_as_the_general_form_rendered_and_never_share_their_details():
    rng = random.Random(6)
    for _ in range(3000):
        details = _details(rng)
        state = StateValue(type="PENDING", name="Pending", timestamp=NOW, state_details=details)
        got = state_json(state)
        assert json.dumps(got) == json.dumps(reference_state_json(state))
        assert got["state_details"] is not details
    assert state_json(None) is None


def reference_details_json(details: dict | None) -> dict:
    out = dict(STATE_DETAIL_DEFAULTS)
    for key, value in (details or {}).items():
        if key not in out:
            continue
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime.datetime):
            value = value.isoformat()
        out[key] = value
    return out


class _Moment(datetime.datetime):
    pass


class _Id(uuid.UUID):
    pass


def test_details_are_stored_as_the_general_form_stored_them():
    values = [None, True, False, 0, 1.5, "", "x", {}, {"a": None}, [], [1], uuid.uuid4(), _Id(int=5), NOW,
              _Moment(2026, 1, 2, tzinfo=datetime.UTC), datetime.date(2026, 1, 2), (1, 2), b"b"]
    rng = random.Random(3)
    for _ in range(2000):
        keys = rng.sample([*STATE_DETAIL_DEFAULTS, "extra"], rng.randint(0, 6))
        details = {key: rng.choice(values) for key in keys}
        assert repr(details_json(details)) == repr(reference_details_json(details))
    assert details_json(None) == reference_details_json(None) == STATE_DETAIL_DEFAULTS


def test_default_state_names_are_prefects():
    from apps.engine.schemas.states import default_state_name

    for state_type in StateType.values:
        assert StateValue.from_input({"type": state_type}).name == default_state_name(state_type)
        assert StateValue.new(state_type).name == default_state_name(state_type)
    assert default_state_name("CANCELLING") == "Cancelling" and default_state_name("AWAITING_RETRY") == "Awaiting Retry"


def test_timestamps_shared_with_the_state_render_as_their_own():
    """task_run_json formats a timestamp that is its state's (or its `created`) once: the text of each field
    stays its own value's, whether it is the same object, an equal one in the same zone, the same instant in
    another zone, or an equal one of the other fold in a zone where the fold changes the offset."""
    import zoneinfo

    new_york = zoneinfo.ZoneInfo("America/New_York")
    ambiguous = datetime.datetime(2026, 11, 1, 1, 30, tzinfo=new_york)  # 01:30 happens twice: fold 0 and 1
    assert ambiguous == ambiguous.replace(fold=1) and ambiguous.isoformat() != ambiguous.replace(fold=1).isoformat()
    rng = random.Random(20261207)
    seen = set()
    for n in range(2000):
        run = _run(rng)
        if not run.state_id:
            continue
        stamp = rng.choice([NOW, ambiguous, ambiguous.replace(fold=1)])
        state = run.state
        state.timestamp = stamp
        others = [stamp, stamp + datetime.timedelta(0), stamp.replace(fold=1 - stamp.fold),
                  stamp.astimezone(datetime.timezone(datetime.timedelta(hours=5, minutes=30))),
                  stamp + datetime.timedelta(microseconds=1), None]
        for name in ("expected_start_time", "start_time", "end_time", "updated"):
            setattr(run, name, rng.choice(others))
        if rng.random() < 0.3:
            run.updated = run.created
        if rng.random() < 0.5:  # the run's state id as another object, as text, or (never so) another id
            run.__dict__["state_id"] = rng.choice([uuid.UUID(str(state.id)), str(state.id), uuid.uuid4()])
        run.updated = run.updated or run.created
        rendered = task_run_json(run, now=NOW)
        assert json.dumps(rendered) == json.dumps(reference_task_run_json(run, now=NOW)), n
        seen.add(tuple(rendered[f] == rendered["state"]["timestamp"] for f in ("expected_start_time", "end_time")))
    assert len(seen) == 4


def test_uuid_text_is_str_and_its_memo_stays_bounded(monkeypatch):
    from apps.engine.schemas import states

    class Sub(uuid.UUID):
        def __str__(self):
            return "sub"

    monkeypatch.setattr(states, "_UUID_TEXTS", {})
    monkeypatch.setattr(states, "_UUID_TEXTS_MAX", 8)
    ids = [uuid.uuid4() for _ in range(30)]
    for value in [*ids, *ids[::-1], *(uuid.UUID(str(u)) for u in ids), "text", 5, None, Sub(int=ids[0].int)]:
        assert states.uuid_text(value) == str(value)
        assert len(states._UUID_TEXTS) <= 8
    assert all(states._UUID_TEXTS[key] == str(uuid.UUID(int=key)) for key in states._UUID_TEXTS)


def _datetimes(rng: random.Random, n: int):
    """n aware UTC datetimes over every year 1..9999, about a third on a whole second, and the edges."""
    utc = datetime.UTC
    span = (datetime.datetime.max - datetime.datetime.min) // datetime.timedelta(microseconds=1)
    edges = [datetime.datetime.min.replace(tzinfo=utc), datetime.datetime.max.replace(tzinfo=utc),
             datetime.datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=utc), datetime.datetime(1000, 1, 1, tzinfo=utc),
             *(NOW.replace(microsecond=us) for us in (0, 1, 9, 10, 99, 100, 999, 1000, 1001, 99999, 100000, 999999))]
    yield from edges
    for _ in range(n):
        value = datetime.datetime.min.replace(tzinfo=utc) + datetime.timedelta(microseconds=rng.randrange(span))
        yield value.replace(microsecond=0) if rng.random() < 0.3 else value


def test_datetime_text_is_isoformat():
    """`datetime_text` writes a UTC datetime's fields itself: the text is `isoformat`'s for every year (zero-padded
    below 1000, by isoformat), every field's padding, microseconds shown only when not zero; other zones (a fixed
    offset, UTC as another object, a zone whose fold changes the offset), naive datetimes and a subclass go to
    `isoformat` (the subclass's own)."""
    import zoneinfo

    rng = random.Random(20261207)
    new_york = zoneinfo.ZoneInfo("America/New_York")

    class Sub(datetime.datetime):
        def isoformat(self, sep="T", timespec="auto"):
            return "sub"

    for value in _datetimes(rng, 50_000):
        assert datetime_text(value) == value.isoformat(), value
        for other in (value.replace(tzinfo=None), value.replace(tzinfo=datetime.timezone(datetime.timedelta(0))),
                      value.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-3, minutes=-30)))):
            assert datetime_text(other) == other.isoformat(), other
    ambiguous = datetime.datetime(2026, 11, 1, 1, 30, 0, 250, tzinfo=new_york)
    for value in (ambiguous, ambiguous.replace(fold=1), ambiguous.replace(microsecond=0, fold=1)):
        assert datetime_text(value) == value.isoformat()
    assert datetime_text(Sub(2026, 12, 7, tzinfo=datetime.UTC)) == "sub"
    from apps.engine.schemas.states import iso as state_iso

    assert iso(None) is None and state_iso(None) is None and state_iso(NOW) == NOW.isoformat()


def test_database_timestamps_take_the_utc_way(db):
    """What `datetime_text` writes itself is what answers carry: `timezone.now()`'s stamps and the timestamps read
    back from the database are aware with `datetime.UTC` itself (Django's UTC session, psycopg's C loader)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT now(), %s::timestamptz", [NOW])
        read_now, read_back = cursor.fetchone()
    for value in (timezone.now(), read_now, read_back):
        assert type(value) is datetime.datetime and value.tzinfo is datetime.UTC
        assert datetime_text(value) == value.isoformat()
    assert read_back == NOW


def test_task_runs_read_with_fields_deferred_or_the_state_not_held(authed_client, workspace):
    """task_run_json reads a run's loaded fields from the instance and its state from the instance's relation cache;
    a run read with fields deferred, or without its state loaded, renders the same: the model loads them."""
    from apps.engine.selectors.task_runs import task_run_get
    from tests.engine.runs_helpers import create_flow, create_flow_run, create_task_run, set_task_state

    flow = create_flow(authed_client, workspace)
    flow_run = create_flow_run(authed_client, workspace, flow["id"])
    task_run = create_task_run(authed_client, workspace, flow_run["id"])
    set_task_state(authed_client, workspace, task_run["id"], "RUNNING")
    run_id = uuid.UUID(task_run["id"])
    read = task_run_get(workspace=workspace, task_run_id=run_id)
    expected = json.dumps(reference_task_run_json(read, now=NOW))
    assert json.dumps(task_run_json(read, now=NOW)) == expected
    runs = TaskRun.objects.for_workspace(workspace).filter(id=run_id)
    for run in (runs.get(), runs.defer("task_inputs", "name", "created", "state_timestamp").get(),
                runs.select_related("state").defer("flow_run_id", "state__timestamp").get()):
        assert json.dumps(task_run_json(run, now=NOW)) == expected
