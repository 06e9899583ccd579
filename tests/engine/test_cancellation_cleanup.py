"""Cancellation cleanup (Prefect's CancellationCleanup service): a Cancelled flow run's unfinished task runs
are cancelled, its subflows are cancelled (or, when deployed, told to cancel), down to grandchildren;
nothing else is touched, and a second pass changes nothing."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from apps.engine.models import FlowRun, FlowRunState, TaskRun, TaskRunState
from apps.engine.services.cancellation import MESSAGE, cancellation_cleanup
from apps.engine.services.flow_runs import flow_run_create, flow_run_set_state
from apps.engine.services.flows import flow_create
from apps.engine.services.task_runs import task_run_create, task_run_set_state
from apps.engine.tasks.cancellation import clean_up_cancellations
from config.celery import app
from tests.engine.test_scheduling import make_deployment
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def running_flow(ws, name="parent", **kw) -> FlowRun:
    flow, _ = flow_create(workspace=ws, name=name, tags=[])
    run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, **kw)
    flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "RUNNING"}, force=True)
    return run


def task(ws, flow_run, key, state_type="RUNNING") -> TaskRun:
    run, _ = task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key=key, dynamic_key="0")
    if state_type != "PENDING":
        task_run_set_state(workspace=ws, task_run_id=run.pk, state={"type": state_type}, force=True)
    return run


def subflow(ws, parent, key="child", deployment=None, state_type="RUNNING") -> FlowRun:
    tracker = task(ws, parent, f"{key}-tracker", "PENDING")
    flow, _ = flow_create(workspace=ws, name=key, tags=[])
    run, _ = flow_run_create(workspace=ws, flow_id=flow.pk, parent_task_run_id=tracker.pk,
                             deployment_id=deployment.pk if deployment else None)
    flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": state_type}, force=True)
    return run


def cancel(ws, run) -> None:
    flow_run_set_state(workspace=ws, flow_run_id=run.pk, state={"type": "CANCELLED"}, force=True)


def state_of(model, pk):
    row = model.all_workspaces.select_related("state").get(pk=pk)
    return row.state_type, row.state.message


def test_unfinished_task_runs_of_a_cancelled_flow_run_are_cancelled_once(workspace):
    parent = running_flow(workspace)
    running, pending, done = task(workspace, parent, "a"), task(workspace, parent, "b", "PENDING"), \
        task(workspace, parent, "c", "COMPLETED")
    cancel(workspace, parent)
    assert cancellation_cleanup() == 2
    assert state_of(TaskRun, running.pk) == state_of(TaskRun, pending.pk) == ("CANCELLED", MESSAGE)
    assert state_of(TaskRun, done.pk)[0] == "COMPLETED"
    states_before = TaskRunState.all_workspaces.count()
    assert cancellation_cleanup() == 0
    assert TaskRunState.all_workspaces.count() == states_before


def test_subflows_are_cancelled_down_to_grandchildren_in_one_pass(workspace):
    parent = running_flow(workspace)
    child = subflow(workspace, parent, "child")
    grandchild = subflow(workspace, child, "grandchild", state_type="PAUSED")
    cancel(workspace, parent)
    cancellation_cleanup()
    assert state_of(FlowRun, child.pk) == ("CANCELLED", MESSAGE)
    assert state_of(FlowRun, grandchild.pk) == ("CANCELLED", MESSAGE)
    # the task run tracking the subflow in its parent mirrors it
    assert TaskRun.all_workspaces.get(pk=child.parent_task_run_id).state_type == "CANCELLED"
    assert FlowRun.all_workspaces.get(pk=child.pk).end_time is not None
    assert cancellation_cleanup() == 0


def test_a_deployed_subflow_is_told_to_cancel_and_left_to_its_worker(workspace):
    deployment = make_deployment(workspace, schedules=())
    parent = running_flow(workspace)
    deployed = subflow(workspace, parent, "deployed", deployment=deployment)
    waiting = subflow(workspace, parent, "waiting", deployment=deployment, state_type="SCHEDULED")
    cancel(workspace, parent)
    cancellation_cleanup()
    assert state_of(FlowRun, deployed.pk) == ("CANCELLING", MESSAGE)
    # a Scheduled run has no process to stop: the minimal policy takes it straight to Cancelled
    assert state_of(FlowRun, waiting.pk)[0] == "CANCELLED"
    states_before = FlowRunState.all_workspaces.count()
    assert cancellation_cleanup() == 0
    assert FlowRunState.all_workspaces.count() == states_before


def test_children_of_runs_not_cancelled_or_cancelled_long_ago_are_left_alone(workspace):
    cancelling = running_flow(workspace, "cancelling")
    child_of_cancelling = subflow(workspace, cancelling, "c1")
    task_of_cancelling = task(workspace, cancelling, "t1")
    flow_run_set_state(workspace=workspace, flow_run_id=cancelling.pk, state={"type": "CANCELLING"})
    running = running_flow(workspace, "running")
    child_of_running = subflow(workspace, running, "c2")
    old = running_flow(workspace, "old")
    task_of_old = task(workspace, old, "t3")
    cancel(workspace, old)
    two_days_on = timezone.now() + datetime.timedelta(days=2)
    assert cancellation_cleanup(now=two_days_on) == 0
    for model, pk in ((FlowRun, child_of_cancelling.pk), (TaskRun, task_of_cancelling.pk),
                      (FlowRun, child_of_running.pk), (TaskRun, task_of_old.pk)):
        assert model.all_workspaces.get(pk=pk).state_type == "RUNNING"


def test_each_workspace_keeps_its_own_states(workspace):
    other = WorkspaceFactory()
    mine, theirs = running_flow(workspace), running_flow(other)
    my_task, their_task = task(workspace, mine, "a"), task(other, theirs, "a")
    cancel(workspace, mine)
    assert cancellation_cleanup() == 1
    assert TaskRun.all_workspaces.get(pk=their_task.pk).state_type == "RUNNING"
    row = TaskRun.all_workspaces.select_related("state").get(pk=my_task.pk)
    assert row.state.workspace_id == workspace.pk


def test_the_beat_task_is_scheduled_and_does_the_cleanup(workspace):
    entry = settings.CELERY_BEAT_SCHEDULE["praetor.engine.clean_up_cancellations"]
    assert entry["task"] == "praetor.engine.clean_up_cancellations" and entry["schedule"] == 20.0
    assert "praetor.engine.clean_up_cancellations" in app.tasks
    parent = running_flow(workspace)
    child = task(workspace, parent, "a")
    cancel(workspace, parent)
    assert clean_up_cancellations.delay().get() == 1
    assert TaskRun.all_workspaces.get(pk=child.pk).state_type == "CANCELLED"
