"""A task run set_state from this process's copy of the run and its flow run
(apps/engine/services/task_run_state_cache.py): one compare-and-swap statement on both runs' state ids and
the workspace. Whatever changed since the copy (the task run moved by another process, the flow run paused
or cancelled, the run deleted, another workspace asking), nothing is written from the copy and the answer is
the one a fresh read gives; the answers and rows of a sequence of transitions are those without the copy."""

from __future__ import annotations

import datetime
import json
import re
import uuid

import pytest
from django.utils import timezone

from apps.core.errors import NotFound
from apps.engine.models import FlowRun, OrchestrationDecision, TaskRun, TaskRunState
from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_set_state
from apps.engine.services.task_runs import task_run_create, task_run_set_state
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _decisions(ws, task) -> list[tuple]:
    return list(OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=task.pk)
                .order_by("created", "id").values_list("initial_state_type", "proposed_state_type", "decision"))


def test_a_hit_is_one_statement(ws, copied, counted, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert result.status == "ACCEPT" and result.wrote_state and counted == {"hit": 1, "miss": 0}
    (sql,) = [q["sql"] for q in captured.captured_queries]
    assert sql.startswith("WITH g AS (UPDATE") and FlowRun._meta.db_table in sql
    row = TaskRun.objects.for_workspace(ws).get(pk=copied.pk)
    assert (row.state_id, row.state_type, row.run_count, row.flow_run_run_count) == (result.state.id, "RUNNING", 1, 1)
    with django_assert_num_queries(1):
        assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "COMPLETED"}).status == "ACCEPT"
    assert counted == {"hit": 2, "miss": 0}
    # a Completed run is not kept: the next proposal reads it
    assert task_run_state_cache.get(ws.pk, copied.pk) is None
    assert _decisions(ws, copied) == [("PENDING", "RUNNING", "ACCEPT"), ("RUNNING", "COMPLETED", "ACCEPT")]


def test_a_decision_that_writes_no_state_is_one_statement_too(ws, flow_run, copied, django_assert_num_queries):
    flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "COMPLETED"}, force=True)
    # the flow run moved: the copy's statement writes nothing, the fresh read decides (an abort)
    result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert result.status == "ABORT"
    # now both runs are copied as they are: the abort (which writes the decision only) is decided from the copy
    with django_assert_num_queries(1) as captured:
        again = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert (again.status, again.state.id) == ("ABORT", copied.state_id)
    assert captured.captured_queries[0]["sql"].startswith("WITH g AS (SELECT 1")
    assert _decisions(ws, copied) == [("PENDING", "RUNNING", "ABORT")] * 2


def test_a_copy_made_stale_by_another_process_decides_nothing(ws, copied, counted, django_assert_num_queries):
    stale = task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, copied.pk)]
    # another process moves the run to Running: this one's copy still says Pending
    task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, copied.pk)] = stale
    with django_assert_num_queries(3):  # the copy's statement (nothing written), the read, the write
        result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    # decided from Running (a rerun), as without the copy; from the stale Pending it would be a first run
    assert (result.status, result.context.initial_type, result.state.name) == ("ACCEPT", "RUNNING", "Rerunning")
    row = TaskRun.objects.for_workspace(ws).get(pk=copied.pk)
    assert (row.run_count, row.state_id) == (2, result.state.id)
    assert TaskRunState.objects.for_workspace(ws).filter(task_run=copied).count() == 3
    assert _decisions(ws, copied) == [("PENDING", "RUNNING", "ACCEPT"), ("RUNNING", "RUNNING", "ACCEPT")]
    assert counted["hit"] == 2
    # the fresh read replaced the copy: the next one hits and holds
    with django_assert_num_queries(1):
        assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "COMPLETED"}).status == "ACCEPT"


@pytest.mark.parametrize(("flow_state", "status", "task_state"), [
    ("PAUSED", "REJECT", "PAUSED"),  # told to wait as Paused (NotReady)
    ("CANCELLING", "ABORT", "PENDING"),
    ("CANCELLED", "ABORT", "PENDING"),
])
def test_a_flow_run_stopped_after_the_copy_is_seen(ws, flow_run, copied, counted, flow_state, status, task_state):
    stale = task_run_state_cache._flow_runs[task_run_state_cache.key(ws.pk, flow_run.pk)]
    # another process stops the flow run: this one's copy still says Running
    flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": flow_state}, force=True)
    task_run_state_cache._flow_runs[task_run_state_cache.key(ws.pk, flow_run.pk)] = stale
    counted.clear()
    counted.update(hit=0, miss=0)
    result = task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert counted["hit"] == 1  # the copy said Running: its statement found the flow run moved, wrote nothing
    assert result.status == status
    assert TaskRun.objects.for_workspace(ws).get(pk=copied.pk).state_type == task_state
    if status == "REJECT":
        assert result.state.name == "NotReady"
    assert _decisions(ws, copied) == [("PENDING", "RUNNING", status)]


def test_a_deleted_run_is_not_found(ws, copied):
    TaskRun.objects.for_workspace(ws).filter(pk=copied.pk).delete()
    with pytest.raises(NotFound):
        task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert task_run_state_cache.get(ws.pk, copied.pk) is None


def test_another_workspace_is_never_served_from_the_copy(ws, copied):
    other = WorkspaceFactory()
    with pytest.raises(NotFound):
        task_run_set_state(workspace=other, task_run_id=copied.pk, state={"type": "RUNNING"})
    # even a copy filed under the other workspace (none is: entries are filed under their run's) decides nothing
    task_runs, key = task_run_state_cache._task_runs, task_run_state_cache.key
    task_runs[key(other.pk, copied.pk)] = task_runs[key(ws.pk, copied.pk)]
    flow_runs = task_run_state_cache._flow_runs
    flow_runs.update({(other.pk.int, k[1]): entry for k, entry in list(flow_runs.items()) if k[0] == ws.pk.int})
    with pytest.raises(NotFound):
        task_run_set_state(workspace=other, task_run_id=copied.pk, state={"type": "RUNNING"})
    assert TaskRun.objects.for_workspace(ws).get(pk=copied.pk).state_type == "PENDING"
    assert not OrchestrationDecision.all_workspaces.filter(task_run_id=copied.pk).exists()


def test_the_copy_is_bounded_oldest_first(ws, make_task, monkeypatch):
    monkeypatch.setattr(task_run_state_cache, "MAX_TASK_RUNS", 3)
    task_run_state_cache.clear()
    tasks = [make_task() for _ in range(5)]
    assert list(task_run_state_cache._task_runs) == [task_run_state_cache.key(ws.pk, t.pk) for t in tasks[2:]]


def test_a_copy_made_by_a_create_has_canonical_ids(ws, flow_run):
    task_run_state_cache.clear()
    run, _ = task_run_create(workspace=ws, flow_run_id=str(flow_run.pk).upper(), task_key="t", dynamic_key="0",
                             id=str(uuid.uuid4()).upper())
    ((key, (attributes, _)),) = task_run_state_cache._task_runs.items()
    assert key == (ws.pk.int, uuid.UUID(str(run.pk)).int) == task_run_state_cache.key(ws.pk, uuid.UUID(str(run.pk)))
    assert attributes["flow_run_id"] == flow_run.pk and isinstance(attributes["flow_run_id"], uuid.UUID)
    assert "task_inputs" not in attributes  # deferred, as the read defers it (a hit reads it never: one statement)


def test_the_copy_is_not_used_when_turned_off(ws, copied, counted, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(task_run_state_cache, "ENABLED", False)
    with django_assert_num_queries(2):
        assert task_run_set_state(workspace=ws, task_run_id=copied.pk, state={"type": "RUNNING"}).status == "ACCEPT"
    assert counted == {"hit": 0, "miss": 0}


# --- the same answers and rows with and without the copy -------------------------------------------------

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")

_FUTURE = timezone.now() + datetime.timedelta(hours=1)
_SEQUENCE = [
    ({"type": "RUNNING"}, False),
    ({"type": "FAILED", "message": "boom"}, False),  # retries left: AwaitingRetry
    ({"type": "RUNNING"}, False),  # Retrying
    ({"type": "PENDING"}, False),  # Running -> Pending: accepted
    ({"type": "RUNNING"}, False),
    ({"type": "FAILED"}, False),  # retries left still (run count 3 > 2? no: retries=3)
    ({"type": "RUNNING"}, False),
    ({"type": "COMPLETED", "data": {"type": "reference", "storage_key": "k", "serializer": {"type": "json"}}}, False),
    ({"type": "RUNNING"}, False),  # completed with a persisted result: rejected, answered with the stored state
    ({"type": "CRASHED"}, False),  # aborted
    ({"type": "PENDING"}, True),  # forced back
    ({"type": "RUNNING", "state_details": {"run_input_keyset": {"a": "1", "b": "2"}}}, False),
    ({"type": "PAUSED", "state_details": {"run_input_keyset": {"b": "1", "a": "2"}}}, False),
    ({"type": "PAUSED"}, False),
    ({"type": "CANCELLING"}, False),
    # told to wait: answered with the current state, as stored (jsonb orders keys its own way, 1e20 comes back
    # an int): from a copy whose JSON would show otherwise, decided from a read
    ({"type": "SCHEDULED", "data": {"type": "x", "storage_key": "k", "serializer": {"bb": 1, "a": 2}},
      "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),
    ({"type": "SCHEDULED", "data": 1e20, "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),
    ({"type": "SCHEDULED", "state_details": {"scheduled_time": _FUTURE, "run_input_keyset": {"bb": "1", "a": "2"}}},
     True),
    ({"type": "RUNNING"}, False),
    ({"type": "SCHEDULED", "data": "text", "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),  # shown as stored: from the copy
    ({"type": "SCHEDULED", "data": 1.5}, True),
    ({"type": "RUNNING"}, False),
    ({"type": "FAILED"}, False),  # out of retries
    ({"type": "FAILED"}, False),
]


def _run_sequence(ws, flow_run, dynamic_key: str) -> tuple[list, list, tuple]:
    task, _ = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="seq", dynamic_key=dynamic_key,
                              empirical_policy={"retries": 3, "retry_delay": 0})
    answers = []
    for state, force in _SEQUENCE:
        result = task_run_set_state(workspace=ws, task_run_id=task.pk, state=state, force=force)
        body = _TIME.sub("<time>", _ID.sub("<id>", json.dumps(result.as_json())))
        body = re.sub(r'"delay_seconds": \d+', '"delay_seconds": <s>', body)  # 3600 or 3599: a second apart
        answers.append((201 if result.wrote_state else 200, body))
    decisions = list(OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=task.pk)
                     .order_by("created", "id")
                     .values_list("initial_state_type", "proposed_state_type", "proposed_state_name", "decision",
                                  "rule", "reason", "details"))
    decisions = [(*d[:-1], {k: v for k, v in d[-1].items() if k != "delay_seconds"}) for d in decisions]
    row = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
    fields = (row.state_type, row.state_name, row.run_count, row.flow_run_run_count, row.start_time is not None,
              row.end_time is not None, bool(row.total_run_time))
    return answers, decisions, fields


def test_the_answers_and_rows_are_those_without_the_copy(ws, flow_run, counted, monkeypatch):
    task_run_state_cache.clear()
    _run_sequence(ws, flow_run, "warm")  # the flow run copied
    with_copy = _run_sequence(ws, flow_run, "with")
    assert counted["hit"] >= len(_SEQUENCE) // 2  # the copy decided most of them
    monkeypatch.setattr(task_run_state_cache, "ENABLED", False)
    hits = counted["hit"]
    without = _run_sequence(ws, flow_run, "without")
    assert counted["hit"] == hits
    assert with_copy[0] == without[0]
    assert with_copy[1] == without[1]
    assert with_copy[2] == without[2]
    statuses = {status for _, body in with_copy[0] for status in re.findall(r'"status": "(\w+)"', body)}
    assert statuses == {"ACCEPT", "REJECT", "ABORT", "WAIT"}


def test_entries_are_keyed_as_the_ids_compare_and_a_hit_owns_its_instances(ws, copied):
    """Entries are filed by the ids' ints (`key`): an equal UUID that is another object finds the entry, as the
    UUIDs themselves would, and a string id (never a UUID's key) does not; a hit's instances are new dicts, so what
    orchestration changes on them never reaches the entry."""
    same_ws, same_run = uuid.UUID(str(ws.pk)), uuid.UUID(bytes=copied.pk.bytes)
    assert same_ws is not ws.pk and same_run is not copied.pk
    assert task_run_state_cache.key(same_ws, same_run) == task_run_state_cache.key(ws.pk, copied.pk)
    run = task_run_state_cache.get(same_ws, same_run)
    assert run is not None and run.pk == copied.pk and run.state.pk == copied.state_id
    assert task_run_state_cache.get(str(ws.pk), str(copied.pk)) is None
    assert task_run_state_cache.get(ws.pk, uuid.uuid4()) is None

    entry, state_entry = task_run_state_cache._task_runs[task_run_state_cache.key(ws.pk, copied.pk)]
    before = (dict(entry), dict(state_entry), dict(state_entry["state_details"]))
    run.name, run.run_count = "changed", 99
    run.state.name = "changed"
    run.state.state_details["task_run_id"] = "changed"
    run.flow_run.run_count = 99
    again = task_run_state_cache.get(ws.pk, copied.pk)
    assert (dict(entry), dict(state_entry), dict(state_entry["state_details"])) == before
    assert again.name == copied.name and again.run_count == copied.run_count and again.state.name == "Pending"
    assert again.flow_run.run_count != 99
    assert "_state" not in entry and again._state.adding is False and again._state.db == "default"
