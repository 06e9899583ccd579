"""A flow run create on PostgreSQL writes the run and its first state in one statement (`flow_run_create`,
by `prepared.insert_if`); the ORM way it replaced (`_flow_run_create_orm`, SQLite's) is kept. For many
generated bodies, validated as the API validates them, both ways must store the same rows (the run, its
states, its decisions, a subflow's state mirrored onto its parent task run: every column, as PostgreSQL
renders it), return the same run (as the API renders it) and the same `created`, answer a retry with an
idempotency key alike, and fail alike (404 in the same order, nothing stored)."""

from __future__ import annotations

import copy
import datetime
import json
import random
import re
import uuid

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone
from rest_framework import serializers

from apps.core.errors import NotFound
from apps.engine.api.flow_runs import flow_run_create_fields, flow_run_create_set
from apps.engine.models.runs import Flow, FlowRun, TaskRun
from apps.engine.schemas.runs import flow_run_create_body, flow_run_json
from apps.engine.services import flow_runs
from tests.engine.test_flat_bodies import FLOW_CHOICES, FLOW_COMMON, _pick_body
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db
NOW = datetime.datetime(2026, 12, 6, 12, 0, 0, 654321, tzinfo=datetime.UTC)
UUID_RE = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
WAYS = {"orm": flow_runs._flow_run_create_orm, "statement": flow_runs.flow_run_create}


@pytest.fixture
def frozen(monkeypatch):
    """One instant for every stamp (created, updated, state timestamps) and one auto-generated name, so both
    ways' rows can be compared column by column."""
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    monkeypatch.setattr(flow_runs, "run_name", lambda: "auto-named-otter")


class Canon:
    """Every UUID (as str or UUID, in any spelling) → its rank of first appearance: the two ways' ids (runs,
    states, decisions, their own flow and parent task run) differ, their places must not."""

    def __init__(self):
        self.seen: dict = {}

    def _id(self, text: str) -> str:
        key = text.replace("-", "").lower()
        return f"<id {self.seen.setdefault(key, len(self.seen))}>"

    def __call__(self, value):
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, uuid.UUID):
            return self._id(str(value))
        if isinstance(value, str):
            return UUID_RE.sub(lambda m: self._id(m.group(0)), value)
        return value


def _rows(sql: str, *params) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in cursor.fetchall()]


def _stored(workspace_id, run_id, parent_id) -> dict:
    """The run's rows as PostgreSQL renders them (to_jsonb: every column), in a fixed order."""
    return {
        "run": _rows("SELECT to_jsonb(t) FROM engine_flowrun t WHERE id = %s", run_id),
        "states": _rows("SELECT to_jsonb(t) FROM engine_flowrunstate t WHERE flow_run_id = %s ORDER BY timestamp, id",
                        run_id),
        "decisions": _rows("SELECT to_jsonb(t) - 'id' FROM engine_orchestrationdecision t WHERE flow_run_id = %s "
                           "ORDER BY created", run_id),
        "parent": _rows("SELECT to_jsonb(t) FROM engine_taskrun t WHERE id = %s", parent_id),
        "mirrored": _rows("SELECT to_jsonb(t) FROM engine_taskrunstate t WHERE task_run_id = %s "
                          "AND state_details->>'child_flow_run_id' = %s", parent_id, str(run_id)),
        "parent_decisions": _rows("SELECT to_jsonb(t) - 'id' FROM engine_orchestrationdecision t "
                                  "WHERE task_run_id = %s AND reason LIKE %s", parent_id, f"%{run_id}%"),
    }


def _counts(workspace_id) -> tuple:
    return tuple(_rows(f"SELECT count(*) FROM {table} WHERE workspace_id = %s", workspace_id)[0]
                 for table in ("engine_flowrun", "engine_flowrunstate", "engine_orchestrationdecision",
                               "engine_taskrun", "engine_taskrunstate"))


def _outcome(way, workspace, kwargs: dict, parent_id) -> dict:
    """What one create gives: the answer (created, the API's JSON of the run, or the error) and the rows."""
    before = _counts(workspace.pk)
    try:
        with transaction.atomic():  # a failed statement must not end the test's transaction
            run, created = WAYS[way](workspace=workspace, **copy.deepcopy(kwargs))
    except (NotFound, DataError) as error:
        assert _counts(workspace.pk) == before, "a failed create stored rows"
        return {"error": (type(error).__name__, str(error) if isinstance(error, NotFound) else "")}
    body = flow_run_json(run, now=NOW)
    return {"created": created, "json": body, "bytes": json.dumps(body), "added": [
        a - b for a, b in zip(_counts(workspace.pk), before, strict=True)],
        "rows": _stored(workspace.pk, run.pk, parent_id)}


def _sides(workspace) -> dict:
    """Per way its own flow and parent task run (so that idempotency keys and mirrored states do not meet),
    and what both share: a deployment, a work queue, a missing id."""
    seeded = seed_workspace(workspace)
    sides = {}
    for way in WAYS:
        flow = Flow.all_workspaces.create(workspace=workspace, name=f"flow-{way}")
        parent_run = FlowRun.all_workspaces.create(workspace=workspace, flow=flow, name="parent")
        parent = TaskRun.all_workspaces.create(workspace=workspace, flow_run=parent_run, task_key="sub",
                                               dynamic_key="0", name="sub-0")
        sides[way] = {"flow": str(flow.pk), "parent": str(parent.pk)}
    sides["deployment"], sides["queue"] = str(seeded.deployment.pk), seeded.queue.pk
    return sides


def _kwargs(body: dict, side: dict, shared: dict, rng: random.Random) -> dict:
    """The service's keyword arguments for a validated body as the view passes them, with this way's flow and
    parent task run (or a missing one), and now and then the fields only deployments' runs set."""
    missing = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    body = dict(body)
    body["flow_id"] = rng.choice([side["flow"]] * 8 + [missing])
    if "deployment_id" in body:
        body["deployment_id"] = rng.choice([shared["deployment"], shared["deployment"], missing])
    if "parent_task_run_id" in body or rng.random() < 0.1:
        body["parent_task_run_id"] = rng.choice([side["parent"], side["parent"], missing])
    if not body.get("idempotency_key") and rng.random() < 0.15:
        body["idempotency_key"] = "generated"
    if rng.random() < 0.2:
        body.update(work_queue_id=shared["queue"], work_queue_name="default", deployment_version="v1",
                    job_variables={"image": "x", "env": {"A": "1"}}, auto_scheduled=rng.random() < 0.5,
                    created_by={"id": missing, "type": "USER", "display_value": "ü"})
    return body


def _bodies(seed: int, n: int) -> list:
    """Valid flow run create bodies: every valid choice of tests/engine/test_flat_bodies.py once, then random
    combinations; parameters, context and tags varied further (nesting, key order, unicode, numbers)."""
    rng = random.Random(seed)
    extra_parameters = [{"z": 1, "a": 2, "m": {"y": [1, 2.5, "ü"], "b": None}}, {"big": 2**62, "neg": -1e-06,
                        "s": "😀" * 3}, {"nested": {"deep": {"deeper": [[], {}, ""]}}}, {"b": 1, "aa": 2, "a": 3}]
    choices = {**FLOW_CHOICES, "parameters": FLOW_CHOICES["parameters"] + extra_parameters,
               "context": FLOW_CHOICES["context"] + [{"z": {"k": [1]}, "a": "x"}],
               "idempotency_key": FLOW_CHOICES["idempotency_key"] + ["key-a", "key-b"]}
    candidates = [_pick_body(choices, FLOW_COMMON, lambda k, key=key, value=value: value if k == key
                             else FLOW_COMMON[k]) for key, values in choices.items() for value in values]
    for _ in range(n):
        candidates.append(_pick_body(choices, FLOW_COMMON, lambda k: rng.choice(choices[k]) if rng.random() < 0.2
                                     else FLOW_COMMON[k]))
    valid = []
    for body in candidates:
        try:
            valid.append(flow_run_create_fields(flow_run_create_body(body)))  # what the view hands the service
        except serializers.ValidationError:
            continue
    return valid


def _compare(workspace, sides, bodies, seed: int) -> dict:
    tally = {"refused": 0, "created": 0, "retried": 0, "errors": 0, "keyed": 0, "subflows": 0, "key_order": 0}
    for i, body in enumerate(bodies):
        outcomes, kwargs_per_way = {}, {}
        for way in WAYS:
            rng = random.Random(seed * 100_000 + i)  # the same choices for both ways
            kwargs = _kwargs(body, sides[way], sides, rng)
            if kwargs.get("idempotency_key"):
                kwargs["idempotency_key"] = f"{kwargs['idempotency_key']}-{i}"
            kwargs_per_way[way] = kwargs
            outcomes[way] = _outcome(way, workspace, kwargs, sides[way]["parent"])
        orm, statement = (Canon()(outcomes[way]) for way in WAYS)
        if orm == {"error": ["NotFound", "Flow not found."]} and statement == {"error": ["DataError", ""]}:
            # The one known difference: a value the database refuses (an infinite float in the parameters,
            # `1e400` in a body; the API answers it 422, tests/engine/test_data_refused.py) fails the statement
            # before its flow guard is read, where the ORM way checked the flow first. With the flow there, both
            # ways fail alike.
            for way in WAYS:
                kwargs = {**kwargs_per_way[way], "flow_id": sides[way]["flow"]}
                assert _outcome(way, workspace, kwargs, sides[way]["parent"])["error"][0] in ("DataError", "NotFound")
            tally["refused"] += 1
            continue
        assert {k: v for k, v in statement.items() if k != "bytes"} == {k: v for k, v in orm.items() if k != "bytes"}, (
            body, outcomes)
        if "error" in orm:
            tally["errors"] += 1
            continue
        tally["created"] += 1
        if orm["bytes"] != statement["bytes"]:
            # The ORM way answered a keyed create with the run read back: its JSON columns in jsonb's key order.
            # The statement way answers with the run it wrote, keys in the client's order, as an unkeyed create
            # always did. Same content.
            assert kwargs_per_way["orm"].get("idempotency_key"), (body, orm["bytes"], statement["bytes"])
            assert json.dumps(json.loads(orm["bytes"]), sort_keys=True) == json.dumps(
                json.loads(statement["bytes"]), sort_keys=True)
            tally["key_order"] += 1
        tally["subflows"] += "parent_task_run_id" in kwargs_per_way["orm"]
        if kwargs_per_way["orm"].get("idempotency_key"):
            tally["keyed"] += 1
            retried = [Canon()(_outcome(way, workspace, kwargs_per_way[way], sides[way]["parent"])) for way in WAYS]
            assert retried[0] == retried[1], (body, retried)
            assert retried[0]["created"] is False and retried[0]["added"] == [0, 0, 0, 0, 0]
            tally["retried"] += 1
    return tally


def test_both_ways_store_and_answer_the_same_for_generated_bodies(frozen, workspace):
    sides = _sides(workspace)
    bodies = _bodies(seed=20261206, n=1200)
    assert len(bodies) > 300
    # user JSON keeps its nulls on the way to both (tests/engine/test_json_nulls.py)
    assert any("b" in body.get("parameters", {}).get("m", {}) for body in bodies)
    tally = _compare(workspace, sides, bodies, seed=1)
    assert tally["created"] > 250 and tally["keyed"] > 60 and tally["subflows"] > 40 and tally["errors"] > 20, tally


def test_a_retried_key_returns_the_first_run_and_a_refused_value_stores_nothing(frozen, workspace):
    sides = _sides(workspace)
    for way in WAYS:
        kwargs = {"flow_id": sides[way]["flow"], "idempotency_key": "once", "parameters": {"b": 1, "a": 2}}
        first = _outcome(way, workspace, kwargs, sides[way]["parent"])
        again = _outcome(way, workspace, {**kwargs, "name": "other", "parameters": {}}, sides[way]["parent"])
        assert first["created"] is True and first["added"] == [1, 1, 1, 0, 0]
        assert again["created"] is False and again["added"] == [0, 0, 0, 0, 0]
        assert again["json"]["id"] == first["json"]["id"] and again["json"]["parameters"] == {"b": 1, "a": 2}
        # A value PostgreSQL refuses (NUL in jsonb text): the whole create fails, the subflow's mirrored state
        # with it (_outcome checks that no row was added).
        for extra in ({}, {"parent_task_run_id": sides[way]["parent"]}, {"idempotency_key": "nul"}):
            refused = {"flow_id": sides[way]["flow"], "parameters": {"x": "a\x00b"}, **extra}
            assert _outcome(way, workspace, refused, sides[way]["parent"]) == {"error": ("DataError", "")}


def test_missing_flow_deployment_and_parent_are_404_in_the_orm_ways_order(frozen, workspace):
    sides = _sides(workspace)
    missing = str(uuid.uuid4())
    cases = [({"flow_id": missing}, "Flow not found."),
             ({"flow_id": missing, "deployment_id": missing}, "Flow not found."),
             ({"flow_id": missing, "parent_task_run_id": missing}, "Flow not found."),
             ({"deployment_id": missing, "parent_task_run_id": missing}, "Deployment not found."),
             ({"deployment_id": sides["deployment"], "parent_task_run_id": missing}, "Task run not found."),
             ({"parent_task_run_id": missing}, "Task run not found.")]
    for extra, message in cases:
        for way in WAYS:
            kwargs = {"flow_id": sides[way]["flow"], **extra}
            assert _outcome(way, workspace, kwargs, sides[way]["parent"]) == {"error": ("NotFound", message)}
    # Another workspace's flow is missing here too.
    other = WorkspaceFactory()
    for way in WAYS:
        assert _outcome(way, other, {"flow_id": sides[way]["flow"]}, None) == {"error": ("NotFound", "Flow not found.")}
    assert not FlowRun.objects.for_workspace(other).exists()


def test_a_key_whose_run_is_gone_when_read_back_is_409_retry(frozen, workspace, monkeypatch):
    """The insert skipped the run for its key, and the run holding the key was deleted before the read back:
    409 `retry` (the ORM way's `.get` raised DoesNotExist there, a 500), nothing written."""
    from apps.core import prepared
    from apps.core.errors import Conflict

    sides = _sides(workspace)
    monkeypatch.setattr(prepared, "insert_if", lambda run, *, exists, dependents: (True, False))
    before = _counts(workspace.pk)
    with pytest.raises(Conflict) as raised:
        flow_runs.flow_run_create(workspace=workspace, flow_id=sides["statement"]["flow"], idempotency_key="gone")
    assert raised.value.code == "retry" and _counts(workspace.pk) == before


def _as_uuids(kwargs: dict) -> dict:
    """The ids `_kwargs` put in as strings, as the UUIDs validation makes (what flow_run_create_set passes)."""
    return {key: uuid.UUID(value) if key.endswith("_id") and isinstance(value, str) else value
            for key, value in kwargs.items()}


def test_the_view_s_own_drop_stores_and_answers_as_the_general_drop(frozen, workspace):
    """The view hands the service `flow_run_create_set(validated)` (top-level and policy nulls dropped, ids left
    as UUIDs, the state as validated) where it handed `flow_run_create_fields(validated)`: the same rows and
    answers (the one statement's way both times, each with its own flow and parent task run)."""
    sides = _sides(workspace)
    rng = random.Random(7)
    candidates = [_pick_body(FLOW_CHOICES, FLOW_COMMON, lambda k: rng.choice(FLOW_CHOICES[k]) if rng.random() < 0.2
                             else FLOW_COMMON[k]) for _ in range(500)]
    candidates += [_pick_body(FLOW_CHOICES, FLOW_COMMON, lambda k, key=key, value=value: value if k == key
                              else FLOW_COMMON[k]) for key, values in FLOW_CHOICES.items() for value in values]
    compared = policies = 0
    for i, body in enumerate(candidates):
        try:
            validated = flow_run_create_body(body)
        except serializers.ValidationError:
            continue
        outcomes = []
        for way, fields in (("orm", flow_run_create_fields(validated)),
                            ("statement", flow_run_create_set(validated))):
            kwargs = _kwargs(fields, sides[way], sides, random.Random(i))
            if kwargs.get("idempotency_key"):
                kwargs["idempotency_key"] = f"{kwargs['idempotency_key']}-{i}"
            if way == "statement":
                kwargs = _as_uuids(kwargs)
            outcome = Canon()(_outcome("statement", workspace, kwargs, sides[way]["parent"]))
            outcome.pop("json", None)  # compared as bytes
            outcomes.append(outcome)
        assert outcomes[0] == outcomes[1], body
        compared += 1
        policies += isinstance(body.get("empirical_policy"), dict) and None in body["empirical_policy"].values()
    assert compared > 200 and policies >= 2
