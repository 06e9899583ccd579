"""Run history retention (the engine's side): what is old and terminal goes with everything it owns, what
is recent or still running stays, other workspaces are untouched, and each batch is a fixed, small number
of statements over at most `batch_size` rows."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.engine.models import FlowRun, FlowRunInput, Log, TaskRun
from apps.engine.services.retention import (
    RetentionResult,
    flow_runs_retention_batch,
    logs_retention_batch,
    task_runs_retention_batch,
    workspace_run_history_delete,
)
from tests.engine.runs_data import counts, flow_run, task_run
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

DAYS = 14


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def cutoff(now):
    return now - timedelta(days=DAYS)


def _ids(model, workspace) -> set:
    return set(model.objects.for_workspace(workspace).values_list("pk", flat=True))


def test_old_terminal_runs_go_with_what_they_own_and_recent_or_running_ones_stay(workspace, now, cutoff):
    old = [flow_run(workspace, now=now, state=s, ended_days_ago=20, tasks=2, logs_days_ago=(20, 19), name=s)
           for s in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")]
    old_task = TaskRun.objects.for_workspace(workspace).filter(flow_run=old[0]).first()
    recent = flow_run(workspace, now=now, ended_days_ago=2, tasks=2, logs_days_ago=(2,), name="recent")
    running = flow_run(workspace, now=now, state="RUNNING", created_days_ago=40, tasks=2, logs_days_ago=(1,),
                       name="running")
    scheduled = flow_run(workspace, now=now, state="SCHEDULED", created_days_ago=60, name="late")
    paused = flow_run(workspace, now=now, state="PAUSED", created_days_ago=30, name="paused")
    # A subflow still running whose parent task run is old: it stays, detached from the deleted task run.
    subflow = flow_run(workspace, now=now, state="RUNNING", created_days_ago=1, name="subflow")
    FlowRun.objects.for_workspace(workspace).filter(pk=subflow.pk).update(parent_task_run=old_task)
    task_run(workspace, now=now, ended_days_ago=30, key="cached", cache=True)  # old, outside any flow run
    kept_orphan = task_run(workspace, now=now, ended_days_ago=3, key="fresh")
    FlowRunInput.all_workspaces.create(workspace=workspace, flow_run=old[1], key="gone", value="1")
    FlowRunInput.all_workspaces.create(workspace=workspace, flow_run=recent, key="kept", value="2")

    done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff)

    assert (done.flow_runs, done.task_runs, done.logs) == (4, 9, 8)
    assert _ids(FlowRun, workspace) == {recent.pk, running.pk, scheduled.pk, paused.pk, subflow.pk}
    assert _ids(TaskRun, workspace) == (set(TaskRun.objects.for_workspace(workspace).filter(
        flow_run__in=[recent, running]).values_list("pk", flat=True)) | {kept_orphan.pk})
    assert counts(workspace) == {"flow_runs": 5, "flow_run_states": 10, "task_runs": 5, "task_run_states": 15,
                                 "decisions": 10, "caches": 0, "logs": 2}
    assert set(Log.objects.for_workspace(workspace).values_list("message", flat=True)) == {"recent 2", "running 1"}
    assert FlowRun.objects.for_workspace(workspace).get(pk=subflow.pk).parent_task_run_id is None
    assert list(FlowRunInput.objects.for_workspace(workspace).values_list("key", flat=True)) == ["kept"]
    # A second sweep finds nothing left to do.
    assert workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff).total == 0


def test_a_run_that_never_started_is_judged_by_when_it_was_created(workspace, now, cutoff):
    never_started = flow_run(workspace, now=now, state="CANCELLED", ended_days_ago=None, created_days_ago=30)
    young = flow_run(workspace, now=now, state="CANCELLED", ended_days_ago=None, created_days_ago=3)
    done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff)
    assert done.flow_runs == 1
    assert _ids(FlowRun, workspace) == {young.pk}
    assert never_started.pk not in _ids(FlowRun, workspace)


def test_other_workspaces_are_untouched(workspace, now, cutoff):
    other = WorkspaceFactory()
    same_org = WorkspaceFactory(organization=workspace.organization)
    for ws in (workspace, other, same_org):
        flow_run(ws, now=now, ended_days_ago=40, tasks=2, logs_days_ago=(40,))
        task_run(ws, now=now, ended_days_ago=40, key="alone")
    before_other, before_same_org = counts(other), counts(same_org)
    done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff)
    assert (done.flow_runs, done.task_runs, done.logs) == (1, 3, 1)
    assert counts(workspace) == dict.fromkeys(before_other, 0)
    assert counts(other) == before_other and counts(same_org) == before_same_org
    assert before_other == {"flow_runs": 1, "flow_run_states": 2, "task_runs": 3, "task_run_states": 9,
                            "decisions": 4, "caches": 0, "logs": 1}


def test_batches_are_bounded_in_rows_and_statements(workspace, now, cutoff, django_assert_num_queries):
    for n in range(3):
        flow_run(workspace, now=now, ended_days_ago=30 + n, tasks=3, name=f"r{n}")
    for n in range(3):
        task_run(workspace, now=now, ended_days_ago=30, key=f"o{n}")
    for n in range(5):
        Log.all_workspaces.create(workspace=workspace, name="x", level=20, message=str(n),
                                  timestamp=now - timedelta(days=20 + n))

    # The two oldest flow runs are taken first: their task runs two at a time, then the runs themselves;
    # then the last one. Each batch is one transaction (a savepoint here, inside the test's):
    # with task runs: lock+select runs, select task runs, delete caches, states, decisions, detach subflows,
    # delete task runs (7); without: lock+select runs, select task runs, delete states, decisions, inputs,
    # runs (6).
    expected = [(RetentionResult(task_runs=2), 7), (RetentionResult(task_runs=2), 7), (RetentionResult(task_runs=2), 7),
                (RetentionResult(flow_runs=2), 6), (RetentionResult(task_runs=2), 7), (RetentionResult(task_runs=1), 7),
                (RetentionResult(flow_runs=1), 6), (RetentionResult(), 1)]
    for result, statements in expected:
        with django_assert_num_queries(2 + statements):
            assert flow_runs_retention_batch(workspace_id=workspace.pk, older_than=cutoff, batch_size=2) == result

    with django_assert_num_queries(2 + 6):
        assert task_runs_retention_batch(workspace_id=workspace.pk, older_than=cutoff,
                                         batch_size=2) == RetentionResult(task_runs=2)
    with django_assert_num_queries(1):  # one DELETE … WHERE id IN (the oldest N by log_timestamp)
        assert logs_retention_batch(workspace_id=workspace.pk, older_than=cutoff, batch_size=2).logs == 2
    assert Log.objects.for_workspace(workspace).count() == 3

    done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff, batch_size=2)
    assert (done.flow_runs, done.task_runs, done.logs) == (0, 1, 3)
    assert counts(workspace) == dict.fromkeys(counts(workspace), 0)


def test_max_batches_bounds_one_sweep(workspace, now, cutoff):
    for n in range(5):
        Log.all_workspaces.create(workspace=workspace, name="x", level=20, message=str(n),
                                  timestamp=now - timedelta(days=20))
    done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff, batch_size=2, max_batches=2)
    assert done.logs == 4
    assert Log.objects.for_workspace(workspace).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_run_locked_by_orchestration_is_skipped_not_waited_for(now, cutoff):
    workspace = WorkspaceFactory()
    busy = flow_run(workspace, now=now, ended_days_ago=30, name="busy")
    idle = flow_run(workspace, now=now, ended_days_ago=31, name="idle")
    locked, release = threading.Event(), threading.Event()

    def orchestrate():
        # What flow_run_set_state does: hold the run's row lock inside a transaction.
        try:
            with transaction.atomic():
                FlowRun.all_workspaces.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    worker = threading.Thread(target=orchestrate)
    worker.start()
    try:
        assert locked.wait(10)
        done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff)
        assert done.flow_runs == 1
        assert _ids(FlowRun, workspace) == {busy.pk}
    finally:
        release.set()
        worker.join()
    assert idle.pk not in _ids(FlowRun, workspace)
    assert workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff).flow_runs == 1


def test_every_relation_to_run_history_is_handled():
    """If a model gains a foreign key to run history, retention must learn to delete or detach it."""
    from apps.engine.models import FlowRunState, OrchestrationDecision, TaskRunState, TaskRunStateCache

    def reverse(model):
        return {(f.related_model.__name__, f.field.name) for f in model._meta.get_fields(include_hidden=True)
                if f.auto_created and not f.concrete and f.is_relation}

    assert reverse(FlowRun) == {("TaskRun", "flow_run"), ("FlowRunState", "flow_run"),
                                ("OrchestrationDecision", "flow_run"), ("FlowRunInput", "flow_run")}
    assert reverse(TaskRun) == {("FlowRun", "parent_task_run"), ("TaskRunState", "task_run"),
                                ("OrchestrationDecision", "task_run")}
    assert reverse(FlowRunState) == {("FlowRun", "state")}
    assert reverse(TaskRunState) == {("TaskRun", "state"), ("TaskRunStateCache", "task_run_state")}
    assert reverse(OrchestrationDecision) == reverse(TaskRunStateCache) == reverse(Log) == set()
