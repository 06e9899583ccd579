"""The task run create view hands `task_run_create` its validated body with only the top-level nulls dropped
(apps/engine/api/task_runs.py `task_run_create_set`), where it used the general drop (`unset_dropped`: nulls
dropped at every level of the schema, UUIDs turned back into strings). Both must make the service write the
same rows (every parameter of its statement) and answer the same JSON, for every valid generated body and
every body the prefect client sent."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.core import prepared, rows
from apps.engine.api.common import unset_dropped
from apps.engine.api.task_runs import task_run_create_set
from apps.engine.schemas.runs import TaskRunCreate, task_run_create_body, task_run_json
from apps.engine.services import task_runs as services
from tests.core.test_prepared_fast import _param
from tests.engine.test_flat_bodies import TASK_CHOICES, TASK_COMMON, _generated, _trace_requests

NOW = datetime.datetime(2026, 12, 6, 20, 30, 0, 250000, tzinfo=datetime.UTC)


def _valid(bodies: list) -> list:
    out = []
    for body in bodies:
        validated = task_run_create_body.fast(body)
        if validated is not None:
            out.append(validated)
    return out


@pytest.fixture
def written(monkeypatch):
    """The statements task_run_create would run, captured (nothing is written): each as its parameters."""
    statements = []

    def insert_if(obj, *, exists, dependents=()):
        model, where = exists
        statements.append(("insert_if", [_param(v) for v in rows.lookup_values(connection, model._meta, where)],
                           [[_param(v) for v in prepared._values(connection, row)] for row in (obj, *dependents)]))
        return True, True

    def insert(obj, *, ignore_conflicts=False):
        statements.append(("insert", ignore_conflicts, [_param(v) for v in prepared._values(connection, obj)]))
        return True

    monkeypatch.setattr(prepared, "insert_if", insert_if)
    monkeypatch.setattr(prepared, "insert", insert)
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    return statements


def _outcome(workspace, fields: dict, statements: list) -> str:
    """The statements' parameters and the answer of one create, the ids it drew replaced by placeholders."""
    del statements[:]
    run, created = services.task_run_create(workspace=workspace, **fields)
    text = repr((statements, json.dumps(task_run_json(run, now=NOW)), created))
    if "id" not in fields:
        text = text.replace(str(run.id), "<drawn run id>")
    return text.replace(str(run.state.id), "<drawn state id>")


@pytest.mark.django_db
def test_the_rows_and_the_answer_are_those_of_the_general_drop_for_every_valid_body(workspace, written):
    general = unset_dropped(TaskRunCreate)
    bodies = _valid(_generated(TASK_CHOICES, TASK_COMMON, seed=6122026, n=1500) + _trace_requests("/task_runs/"))
    assert len(bodies) > 400
    kinds = set()
    for validated in bodies:
        old, new = general(validated), task_run_create_set(validated)
        assert _outcome(workspace, old, written) == _outcome(workspace, new, written), validated
        kinds.add((type(new.get("flow_run_id")), type(new.get("id")), "state" in new, "empirical_policy" in new))
    # ids given and not, with and without a flow run, a state and a policy: every branch of the service compared
    assert {(uuid.UUID, uuid.UUID), (uuid.UUID, type(None)), (type(None), type(None))} <= {k[:2] for k in kinds}
    assert {k[2] for k in kinds} == {k[3] for k in kinds} == {True, False}


def test_only_top_level_nulls_are_dropped_and_ids_stay_uuids():
    run_id = uuid.uuid4()
    validated = {"id": run_id, "flow_run_id": None, "task_key": "k", "dynamic_key": "0", "cache_key": None,
                 "state": {"type": "PENDING", "name": None, "state_details": {"flow_run_id": run_id}}}
    assert task_run_create_set(validated) == {"id": run_id, "task_key": "k", "dynamic_key": "0",
                                              "state": validated["state"]}
    assert unset_dropped(TaskRunCreate)(validated)["id"] == str(run_id)  # what the general drop makes of it
