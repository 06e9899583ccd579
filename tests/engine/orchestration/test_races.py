"""Races on real PostgreSQL: concurrent proposals for one run are decided one after the other (under the
run's row lock, or for task runs by the optimistic compare-and-swap on its state, whose loser is decided again
under the lock), so exactly one wins; concurrent creates and slot requests never duplicate anything."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection

from apps.engine.models import ConcurrencyLimit, FlowRun, FlowRunState, OrchestrationDecision, TaskRun, TaskRunState
from apps.engine.services.cancellation import cancellation_cleanup
from apps.engine.services.flow_runs import flow_run_create, flow_run_set_state
from apps.engine.services.flows import flow_create
from apps.engine.services.task_runs import task_run_create, task_run_set_state
from tests.factories.workspaces import WorkspaceFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROUNDS = 4


def race(*calls):
    """Run the calls in threads released at the same instant; return their results (or exceptions)."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # surfaced to the test below
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


@pytest.fixture
def ws():
    assert connection.vendor == "postgresql"
    return WorkspaceFactory()


def test_a_running_proposal_and_its_retry_racing_exactly_one_is_written(ws):
    """The client resends a set_state it got no answer for, with the same transition_id; when the retry
    races the original, exactly one wins and the other is rejected with the state the winner wrote."""
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    for _ in range(ROUNDS):
        run, _ = flow_run_create(workspace=ws, flow_id=flow.pk)
        proposal = {"type": "RUNNING", "state_details": {"transition_id": str(uuid.uuid4())}}
        results = race(*[lambda: flow_run_set_state(workspace=ws, flow_run_id=run.pk, state=proposal)] * 2)
        assert sorted(r.status for r in results) == ["ACCEPT", "REJECT"]
        assert len({r.state.id for r in results}) == 1
        row = FlowRun.objects.for_workspace(ws).get(pk=run.pk)
        assert (row.state_type, row.run_count) == ("RUNNING", 1)
        assert FlowRunState.objects.for_workspace(ws).filter(flow_run=run).count() == 2


def test_two_running_proposals_at_once_are_decided_one_after_the_other(ws):
    """Two different Running proposals: as on Prefect 2.20 both are accepted (the second is a rerun),
    but under the row lock the second sees the first, so neither count nor state is lost."""
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    for _ in range(ROUNDS):
        run, _ = flow_run_create(workspace=ws, flow_id=flow.pk)
        results = race(*[lambda: flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"})] * 2)
        assert [r.status for r in results] == ["ACCEPT", "ACCEPT"]
        initial = sorted(r.context.initial_type for r in results)
        assert initial == ["PENDING", "RUNNING"]
        row = FlowRun.objects.for_workspace(ws).get(pk=run.pk)
        assert (row.state_type, row.run_count) == ("RUNNING", 2)
        assert FlowRunState.objects.for_workspace(ws).filter(flow_run=run).count() == 3


def test_two_running_proposals_for_one_task_run_at_once_are_decided_one_after_the_other(ws):
    """Optimistic on both sides: one compare-and-swap wins, the other writes nothing and is decided again
    from the winner's Running (a rerun, as under the lock): no count or state lost, one decision each."""
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    parent, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    for i in range(ROUNDS):
        task, _ = task_run_create(workspace=ws, flow_run_id=parent.pk, task_key="t", dynamic_key=str(i))
        results = race(*[lambda: task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})] * 2)
        assert [r.status for r in results] == ["ACCEPT", "ACCEPT"]
        assert sorted(r.context.initial_type for r in results) == ["PENDING", "RUNNING"]
        row = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
        assert (row.state_type, row.run_count) == ("RUNNING", 2)
        assert row.state_id in {r.state.id for r in results}
        assert TaskRunState.objects.for_workspace(ws).filter(task_run=task).count() == 3
        assert OrchestrationDecision.objects.for_workspace(ws).filter(task_run_id=task.pk).count() == 2


def test_a_finish_and_a_crash_racing_on_a_task_run_exactly_one_ends_it(ws):
    """Completed and Crashed proposed at once from Running: whichever lands first ends the run; the other,
    seeing a finished run, is aborted (Crashed) or accepted (Completed over Crashed, no result persisted)."""
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    parent, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    for i in range(ROUNDS):
        task, _ = task_run_create(workspace=ws, flow_run_id=parent.pk, task_key="t", dynamic_key=str(i),
                                  state={"type": "RUNNING"})
        done, crash = race(
            lambda: task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "COMPLETED"}),
            lambda: task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "CRASHED"}))
        row = TaskRun.objects.for_workspace(ws).get(pk=task.pk)
        if crash.context.initial_type == "COMPLETED":  # Completed first: the crash is refused
            assert (done.status, crash.status, row.state_type) == ("ACCEPT", "ABORT", "COMPLETED")
            assert TaskRunState.objects.for_workspace(ws).filter(task_run=task).count() == 2
        else:  # Crashed first (or the crash decided from Running and won): Completed follows it
            assert crash.status == "ACCEPT" and done.status == "ACCEPT"
            assert done.context.initial_type == "CRASHED" and row.state_type == "COMPLETED"
            assert TaskRunState.objects.for_workspace(ws).filter(task_run=task).count() == 3


def test_two_agents_submitting_one_scheduled_run_exactly_one_submits(ws):
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    for _ in range(ROUNDS):
        run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "SCHEDULED"})
        results = race(*[lambda: flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "PENDING"})] * 2)
        assert sorted(r.status for r in results) == ["ABORT", "ACCEPT"]
        assert FlowRunState.objects.for_workspace(ws).filter(flow_run=run, type="PENDING").count() == 1


def test_concurrent_creates_with_one_idempotency_key_make_one_run(ws):
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    for i in range(ROUNDS):
        results = race(*[lambda: flow_run_create(workspace=ws, flow_id=flow.pk, idempotency_key=f"k{i}")] * 2)
        assert len({run.pk for run, _ in results}) == 1
        assert sorted(created for _, created in results) == [False, True]
    assert FlowRun.objects.for_workspace(ws).count() == ROUNDS
    assert FlowRunState.objects.for_workspace(ws).count() == ROUNDS


def test_concurrent_creates_of_one_task_run_make_one(ws):
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    for i in range(ROUNDS):
        results = race(*[lambda: task_run_create(workspace=ws, flow_run_id=run.pk, task_key="t",
                                                 dynamic_key=str(i))] * 2)
        assert len({task.pk for task, _ in results}) == 1
    assert TaskRunState.objects.for_workspace(ws).count() == ROUNDS


def test_a_limit_of_one_lets_one_of_two_racing_tasks_run(ws):
    ConcurrencyLimit.objects.for_workspace(ws).create(workspace=ws, tag="db", concurrency_limit=1)
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    for i in range(ROUNDS):
        tasks = [task_run_create(workspace=ws, flow_run_id=run.pk, task_key="t", dynamic_key=f"{i}-{j}",
                                 tags=["db"])[0] for j in range(2)]
        results = race(*[lambda t=t: task_run_set_state(workspace=ws, task_run_id=t.pk, state={"type": "RUNNING"})
                         for t in tasks])
        assert sorted(r.status for r in results) == ["ACCEPT", "WAIT"]
        winner = next(t for t, r in zip(tasks, results, strict=True) if r.status == "ACCEPT")
        assert ConcurrencyLimit.objects.for_workspace(ws).get().active_slots == [str(winner.pk)]
        task_run_set_state(workspace=ws, task_run_id=winner.pk, state={"type": "COMPLETED"})
        assert ConcurrencyLimit.objects.for_workspace(ws).get().active_slots == []


def test_two_cancellation_sweeps_at_once_cancel_each_run_once(ws):
    flow, _ = flow_create(workspace=ws, name="race", tags=[])
    parent, _ = flow_run_create(workspace=ws, flow_id=flow.pk, state={"type": "RUNNING"})
    tasks = [task_run_create(workspace=ws, flow_run_id=parent.pk, task_key="t", dynamic_key=str(i),
                             state={"type": "RUNNING"})[0] for i in range(6)]
    subflows = [flow_run_create(workspace=ws, flow_id=flow.pk, parent_task_run_id=t.pk, state={"type": "RUNNING"})[0]
                for t in tasks[:3]]
    flow_run_set_state(workspace=ws, flow_run_id=parent.pk, state={"type": "CANCELLED"}, force=True)
    results = race(cancellation_cleanup, cancellation_cleanup)
    for sub in subflows:
        assert FlowRunState.objects.for_workspace(ws).filter(flow_run=sub, type="CANCELLED").count() == 1
    for t in tasks:
        # each task run: cancelled once by a sweep, and the three tracking a subflow once more by its mirror
        assert TaskRunState.objects.for_workspace(ws).filter(task_run=t, type="CANCELLED").count() == (
            2 if t in tasks[:3] else 1)
    assert sum(results) == 9
    assert cancellation_cleanup() == 0
