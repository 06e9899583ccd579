"""A flow run set_state without the row lock (apps/engine/services/run_states.py): from this process's copy of
the run (apps/engine/services/task_run_state_cache.py `flow_run_get`), one compare-and-swap statement on the
run's workspace, state id and every other column the flow policies read (`FLOW_RUN_DECIDED_FROM`); else an
unlocked read and the same statement. Whatever changed since the copy or the read (a transition elsewhere, a
PATCH of the policy or the process id, a deleted deployment, the run deleted, another workspace asking),
nothing is written and the answer is the one a fresh read (or the lock) gives; the answers, decision rows and
run fields of a long sequence of transitions are those of the locked way."""

from __future__ import annotations

import datetime
import itertools
import json
import re

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import NotFound
from apps.engine.models import Deployment, FlowRun, FlowRunState, OrchestrationDecision
from apps.engine.orchestration.policies import FLOW_RUN_DECIDED_FROM, flow_policy
from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.flow_runs import flow_run_get_for_update
from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_create, flow_run_set_state, flow_run_update
from apps.engine.services.flows import flow_create
from apps.engine.services.run_states import deferred_writer, run_set_state
from apps.engine.services.task_runs import task_run_create, task_run_set_state
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ws():
    assert connection.vendor == "postgresql"
    task_run_state_cache.clear()
    return WorkspaceFactory()


@pytest.fixture
def flow(ws):
    return flow_create(workspace=ws, name="copy", tags=[])[0]


def _create(ws, flow, **fields) -> FlowRun:
    return flow_run_create(workspace=ws, flow_id=flow.pk, **fields)[0]


def _row(ws, run) -> FlowRun:
    return FlowRun.objects.for_workspace(ws).get(pk=run.pk)


def _decisions(ws, run) -> list[tuple]:
    return list(OrchestrationDecision.objects.for_workspace(ws).filter(flow_run_id=run.pk)
                .order_by("created", "id").values_list("initial_state_type", "proposed_state_type", "decision"))


def _as_another_process(ws, run, change) -> None:
    """`change()`, then this process's copy of `run` as it was before: what another process's change leaves."""
    stale = task_run_state_cache._flow_runs.get(task_run_state_cache.key(ws.pk, run.pk))
    assert stale is not None
    change()
    task_run_state_cache._flow_runs[task_run_state_cache.key(ws.pk, run.pk)] = stale


def test_a_hit_is_one_statement(ws, flow, counted, django_assert_num_queries):
    run = _create(ws, flow)
    with django_assert_num_queries(1) as captured:
        result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"})
    assert result.status == "ACCEPT" and result.wrote_state
    (sql,) = [q["sql"] for q in captured.captured_queries]
    assert sql.startswith("WITH g AS (UPDATE") and "FOR UPDATE" not in sql
    row = _row(ws, run)
    assert (row.state_id, row.state_type, row.run_count) == (result.state.id, "RUNNING", 1)
    assert row.start_time == result.state.timestamp
    with django_assert_num_queries(1):
        done = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "COMPLETED"})
    assert done.status == "ACCEPT" and counted == {"hit": 0, "miss": 0, "flow_run_hit": 2}
    row = _row(ws, run)
    assert (row.state_type, row.end_time, row.total_run_time) == (
        "COMPLETED", done.state.timestamp, done.state.timestamp - result.state.timestamp)
    # a Completed run is not kept: the next proposal reads it
    assert task_run_state_cache.flow_run_get(ws.pk, run.pk) is None
    assert _decisions(ws, run) == [("PENDING", "RUNNING", "ACCEPT"), ("RUNNING", "COMPLETED", "ACCEPT")]


def test_a_decision_that_writes_no_state_is_one_statement_too(ws, flow, django_assert_num_queries):
    run = _create(ws, flow, state={"type": "RUNNING"})
    with django_assert_num_queries(1) as captured:
        result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "PENDING"})
    assert (result.status, result.state.id, result.wrote_state) == ("ABORT", run.state_id, False)
    assert captured.captured_queries[0]["sql"].startswith("WITH g AS (SELECT 1")
    assert _decisions(ws, run) == [("RUNNING", "PENDING", "ABORT")]


def test_the_flow_runs_set_state_keeps_its_task_runs_copy_current(ws, flow, django_assert_num_queries):
    run = _create(ws, flow)
    flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"})
    task, _ = task_run_create(workspace=ws, flow_run_id=run.pk, task_key="t", dynamic_key="0")
    # the flow run as its own set_state left it: the first task's set_state reads nothing either
    with django_assert_num_queries(1):
        assert task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"}).status == "ACCEPT"


def test_a_copy_made_stale_by_another_process_decides_nothing(ws, flow, counted, django_assert_num_queries):
    run = _create(ws, flow)
    _as_another_process(ws, run, lambda: flow_run_set_state(workspace=ws, flow_run_id=run.pk,
                                                            state={"type": "RUNNING"}))
    with django_assert_num_queries(3):  # the copy's statement (nothing written), the read, the write
        result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"})
    # decided from Running, as without the copy; from the stale Pending the run count would be 1
    assert (result.status, result.context.initial_type) == ("ACCEPT", "RUNNING")
    row = _row(ws, run)
    assert (row.run_count, row.state_id) == (2, result.state.id)
    assert FlowRunState.objects.for_workspace(ws).filter(flow_run=run).count() == 3
    assert _decisions(ws, run) == [("PENDING", "RUNNING", "ACCEPT"), ("RUNNING", "RUNNING", "ACCEPT")]
    # the fresh read replaced the copy: the next one hits and holds
    with django_assert_num_queries(1):
        assert flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "COMPLETED"}).status == "ACCEPT"


@pytest.mark.parametrize(("other", "proposed", "status", "initial", "state_type"), [
    ("PAUSED", "RUNNING", "ACCEPT", "PAUSED", "RUNNING"),  # resumed: from the stale copy, a rerun of Running
    ("CANCELLING", "COMPLETED", "REJECT", "CANCELLING", "CANCELLING"),  # only Cancelled may follow
    ("CANCELLED", "COMPLETED", "REJECT", "CANCELLED", "CANCELLED"),
    ("COMPLETED", "CRASHED", "ABORT", "COMPLETED", "COMPLETED"),
])
def test_a_transition_elsewhere_after_the_copy_is_seen(ws, flow, other, proposed, status, initial, state_type):
    run = _create(ws, flow, state={"type": "RUNNING"})
    _as_another_process(ws, run, lambda: flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": other},
                                                            force=True))
    result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": proposed})
    assert (result.status, result.context.initial_type) == (status, initial)
    assert _row(ws, run).state_type == state_type
    assert _decisions(ws, run)[-1] == (initial, proposed, status)


def test_a_patch_of_the_policy_after_the_copy_is_seen(ws, flow, django_assert_num_queries):
    run = _create(ws, flow, state={"type": "RUNNING"})
    # the client asks for a retry after the copy was made (its state id unchanged)
    flow_run_update(workspace=ws, flow_run_id=run.pk, changes={"empirical_policy": {"retries": 1, "retry_delay": 5}})
    with django_assert_num_queries(3):  # the copy's statement finds the policy changed: read, write
        result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "FAILED"})
    # from the copy (no retries) Failed would have been accepted
    assert (result.status, result.state.type, result.state.name) == ("REJECT", "SCHEDULED", "AwaitingRetry")
    assert _row(ws, run).empirical_policy["retry_type"] == "in_process"


def test_a_patch_of_the_process_id_after_the_copy_is_seen(ws, flow):
    later = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
    run = _create(ws, flow, state={"type": "SCHEDULED", "state_details": {"scheduled_time": later}})
    flow_run_update(workspace=ws, flow_run_id=run.pk, changes={"infrastructure_pid": "4242"})
    result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "CANCELLING"})
    # a process to stop: Cancelling; from the copy (no process) it would have gone straight to Cancelled
    assert (result.status, result.state.type) == ("ACCEPT", "CANCELLING")


def test_a_deleted_deployment_after_the_copy_is_seen(ws, flow):
    deployment = Deployment.objects.for_workspace(ws).create(workspace=ws, flow=flow, name="d")
    run = _create(ws, flow, state={"type": "RUNNING"}, deployment_id=deployment.pk)
    suspended = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={
        "type": "PAUSED", "name": "Suspended", "state_details": {"pause_reschedule": True, "pause_key": "k"}})
    assert suspended.status == "ACCEPT"
    deployment.delete()  # the run's deployment_id emptied (SET NULL), its state unchanged
    result = flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "SCHEDULED"})
    # from the copy (with its deployment) the reschedule would have been accepted
    assert (result.status, result.context.initial_type) == ("REJECT", "PAUSED")
    assert result.context.reason == "Cannot reschedule a scheduled flow run without a deployment."


def test_a_deleted_run_is_not_found(ws, flow):
    run = _create(ws, flow)
    FlowRun.objects.for_workspace(ws).filter(pk=run.pk).delete()
    with pytest.raises(NotFound):
        flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"})
    assert task_run_state_cache.flow_run_get(ws.pk, run.pk) is None


def test_another_workspace_is_never_served_from_the_copy(ws, flow):
    run = _create(ws, flow)
    other = WorkspaceFactory()
    with pytest.raises(NotFound):
        flow_run_set_state(workspace=other, flow_run_id=run.pk, state={"type": "RUNNING"})
    # even a copy filed under the other workspace (none is: entries are filed under their run's) decides nothing
    flow_runs, key = task_run_state_cache._flow_runs, task_run_state_cache.key
    flow_runs[key(other.pk, run.pk)] = flow_runs[key(ws.pk, run.pk)]
    with pytest.raises(NotFound):
        flow_run_set_state(workspace=other, flow_run_id=run.pk, state={"type": "RUNNING"})
    assert _row(ws, run).state_type == "PENDING"
    assert not OrchestrationDecision.all_workspaces.filter(flow_run_id=run.pk).exists()


def test_a_copy_made_by_a_create_has_canonical_ids(ws, flow):
    run, _ = flow_run_create(workspace=ws, flow_id=str(flow.pk).upper())
    attributes, state = task_run_state_cache._flow_runs[task_run_state_cache.key(ws.pk, run.pk)]
    assert set(attributes) == {"id", "workspace_id", "state_type", *FLOW_RUN_DECIDED_FROM}
    assert state["flow_run_id"] == run.pk and state["id"] == attributes["state_id"]


def test_an_entry_copied_for_task_runs_only_is_read_first(ws, flow, counted, django_assert_num_queries):
    run = _create(ws, flow, state={"type": "RUNNING"})
    task, _ = task_run_create(workspace=ws, flow_run_id=run.pk, task_key="t", dynamic_key="0")
    task_run_state_cache.clear()
    task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})  # reads, copies the parent
    assert "empirical_policy" not in task_run_state_cache._flow_runs[task_run_state_cache.key(ws.pk, run.pk)][0]
    with django_assert_num_queries(2):  # without the policy and the state's data: read, then write
        assert flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "COMPLETED"}).status == "ACCEPT"
    assert counted["flow_run_miss"] == 1


# --- the columns the copy holds are all that orchestration reads --------------------------------------------

_STATES = [
    {"type": t} for t in ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED",
                          "PAUSED", "CANCELLING")
] + [
    {"type": "PAUSED", "name": "Suspended", "state_details": {"pause_reschedule": True, "pause_key": "k",
                                                              "pause_timeout": "2000-01-01T00:00:00+00:00"}},
    {"type": "COMPLETED", "data": {"type": "reference", "storage_key": "k"}},
    {"type": "FAILED", "data": {"type": "reference", "storage_key": "k"}},
    {"type": "SCHEDULED", "name": "Late", "state_details": {"scheduled_time": "2999-01-01T00:00:00+00:00"}},
    {"type": "SCHEDULED", "name": "Resuming"},
    {"type": "RUNNING", "state_details": {"transition_id": "00000000-0000-4000-8000-000000000001"}},
]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("policy_values", [{"retries": 2, "retry_delay": 1, "pause_keys": ["k"], "resuming": True},
                                           {}])
def test_orchestration_reads_only_the_columns_the_copy_holds(ws, flow, force, policy_values,
                                                             django_assert_num_queries):
    deployment = Deployment.objects.for_workspace(ws).create(workspace=ws, flow=flow, name="d")
    for deployed, (initial, proposed) in itertools.product((None, deployment.pk), itertools.product(_STATES, _STATES)):
        run = _create(ws, flow, state=initial, deployment_id=deployed, empirical_policy=policy_values)
        stored = task_run_state_cache._flow_runs.get(task_run_state_cache.key(ws.pk, run.pk))
        if stored is None:  # a terminal first state is not copied: copy it here
            task_run_state_cache._flow_run_put(
                {**run.__dict__}, {**task_run_state_cache._attributes(run.state)})
        copy = task_run_state_cache.flow_run_get(ws.pk, run.pk)
        now = timezone.now()
        ctx = OrchestrationContext(kind="flow_run", run=copy, initial=StateValue.from_row(copy.state),
                                   proposed=StateValue.from_input(proposed, now=now), now=now, force=force)
        with django_assert_num_queries(0):  # a column not copied would be loaded on access: a query
            orchestrate(ctx, flow_policy(force=force), deferred_writer([]))


# --- the same answers and rows with and without the copy, and as the locked way ------------------------------

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00")
_FUTURE = (timezone.now() + datetime.timedelta(hours=1)).isoformat()
_REFERENCE = {"type": "reference", "storage_key": "k", "serializer": {"type": "json"}}
_SEQUENCE = [
    ({"type": "RUNNING"}, False),
    ({"type": "FAILED", "message": "boom"}, False),  # a retry left: AwaitingRetry
    ({"type": "RUNNING"}, False),
    ({"type": "FAILED"}, False),  # out of retries
    ({"type": "RUNNING"}, False),  # a manual retry from a terminal state
    ({"type": "PAUSED", "state_details": {"pause_key": "p1"}}, False),
    ({"type": "RUNNING"}, False),
    ({"type": "PAUSED", "state_details": {"pause_key": "p1"}}, False),  # fired already: rejected
    ({"type": "PAUSED", "name": "Suspended", "state_details": {"pause_reschedule": True}}, False),  # no deployment
    ({"type": "PENDING"}, False),  # aborted
    ({"type": "SCHEDULED", "name": "Late"}, False),  # rejected
    ({"type": "CANCELLING"}, False),
    ({"type": "COMPLETED"}, False),  # only Cancelled may follow
    ({"type": "CANCELLED"}, False),
    ({"type": "PENDING"}, True),  # forced back
    ({"type": "RUNNING", "state_details": {"transition_id": "00000000-0000-4000-8000-000000000002"}}, False),
    ({"type": "RUNNING", "state_details": {"transition_id": "00000000-0000-4000-8000-000000000002"}}, False),
    ({"type": "COMPLETED", "data": _REFERENCE}, False),
    ({"type": "RUNNING"}, False),  # completed with a persisted result: rejected, answered with the stored state
    ({"type": "CRASHED"}, False),  # aborted
    # told to wait: answered with the current state, as stored (jsonb orders keys its own way, 1e20 comes back
    # an int): from a copy whose JSON would show otherwise, decided from a read
    ({"type": "SCHEDULED", "data": {"type": "x", "serializer": {"bb": 1, "a": 2}},
      "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),
    ({"type": "SCHEDULED", "data": 1e20, "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),
    ({"type": "SCHEDULED", "data": "text", "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "RUNNING"}, False),  # shown as stored: from the copy
    ({"type": "CANCELLING"}, False),  # nothing to stop: Cancelled at once
    ({"type": "SCHEDULED", "state_details": {"scheduled_time": _FUTURE}}, True),
    ({"type": "PENDING"}, False),  # the scheduled time copied
    ({"type": "RUNNING"}, False),  # wait for it
    ({"type": "FAILED", "data": _REFERENCE}, True),
    ({"type": "COMPLETED"}, True),  # the unknown result
    ({"type": "SCHEDULED"}, False),  # completed: rejected
    ({"type": "CANCELLING"}, False),  # aborted
]


def _locked_set_state(*, workspace, flow_run_id, state, force):
    """flow_run_set_state as it was before the optimistic ways: the read under the row lock, then the write."""
    now = timezone.now()
    with transaction.atomic():
        run = flow_run_get_for_update(workspace=workspace, flow_run_id=flow_run_id)
        return run_set_state(kind="flow_run", run=run, proposed=StateValue.from_input(state, now=now),
                             policy=flow_policy(force=force), now=now, force=force)


def _run_sequence(ws, flow, set_state) -> tuple[list, list, tuple]:
    run = _create(ws, flow, empirical_policy={"retries": 1, "retry_delay": 0})
    answers = []
    for state, force in _SEQUENCE:
        result = set_state(workspace=ws, flow_run_id=run.pk, state=state, force=force)
        body = _TIME.sub("<time>", _ID.sub("<id>", json.dumps(result.as_json())))
        body = re.sub(r'"delay_seconds": \d+', '"delay_seconds": <s>', body)  # a second apart at most
        answers.append((201 if result.wrote_state else 200, body))
    decisions = list(OrchestrationDecision.objects.for_workspace(ws).filter(flow_run_id=run.pk)
                     .order_by("created", "id")
                     .values_list("initial_state_type", "proposed_state_type", "proposed_state_name", "decision",
                                  "rule", "reason", "details"))
    decisions = [(*d[:-1], {k: v for k, v in d[-1].items() if k != "delay_seconds"}) for d in decisions]
    row = _row(ws, run)
    fields = (row.state_type, row.state_name, row.run_count, row.start_time is not None, row.end_time is not None,
              bool(row.total_run_time), row.expected_start_time is not None, row.next_scheduled_start_time is not None,
              row.empirical_policy)
    return answers, decisions, fields


def test_the_answers_and_rows_are_those_of_the_locked_way(ws, flow, counted, monkeypatch):
    with_copy = _run_sequence(ws, flow, flow_run_set_state)
    assert counted["flow_run_hit"] >= len(_SEQUENCE) // 2  # the copy decided most of them
    locked = _run_sequence(ws, flow, _locked_set_state)
    monkeypatch.setattr(task_run_state_cache, "ENABLED", False)
    hits = counted["flow_run_hit"]
    read_first = _run_sequence(ws, flow, flow_run_set_state)
    assert counted["flow_run_hit"] == hits
    for way in (with_copy, read_first):
        assert way[0] == locked[0]
        assert way[1] == locked[1]
        assert way[2] == locked[2]
    statuses = {status for _, body in locked[0] for status in re.findall(r'"status": "(\w+)"', body)}
    assert statuses == {"ACCEPT", "REJECT", "ABORT", "WAIT"}

