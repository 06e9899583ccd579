"""A workspace with something to show: flows, a deployment with a schedule, a work pool with queues and
workers, runs in each interesting state with their histories, decisions, task runs, logs, subflows;
variables and artifacts through their services. Runs are written as rows until the engine's run services
and the compat harness (runs made by the real prefect client) replace this."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from apps.engine.models import (
    BlockDocument,
    BlockSchema,
    ConcurrencyLimit,
    ConcurrencyLimitV2,
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    FlowRunState,
    Log,
    OrchestrationDecision,
    TaskRun,
    TaskRunState,
    Worker,
    WorkPool,
    WorkQueue,
)
from apps.engine.services.artifacts import artifact_create
from apps.engine.services.blocks import block_document_create, workspace_seed_blocks
from apps.engine.services.variables import variable_create


@dataclass
class Seeded:
    flow: Flow
    deployment: Deployment
    pool: WorkPool
    queue: WorkQueue
    completed: FlowRun
    failed: FlowRun
    running: FlowRun
    late: FlowRun
    upcoming: FlowRun
    secret: BlockDocument
    runs: list[FlowRun] = field(default_factory=list)


def _state(run, type_, name, at, message=None, data=None):
    model = FlowRunState if isinstance(run, FlowRun) else TaskRunState
    fk = "flow_run" if isinstance(run, FlowRun) else "task_run"
    state = model.all_workspaces.create(workspace=run.workspace, type=type_, name=name, timestamp=at,
                                        message=message, data=data, **{fk: run})
    run.state, run.state_type, run.state_name, run.state_timestamp = state, type_, name, at
    run.save(update_fields=["state", "state_type", "state_name", "state_timestamp"])
    return state


def _decide(run, state, initial, rule, *, decision="ACCEPT", reason=""):
    OrchestrationDecision.all_workspaces.create(
        workspace=run.workspace, flow_run=run, initial_state_type=initial,
        proposed_state_type=state.type if state else "RUNNING", proposed_state_name=state.name if state else "Running",
        decision=decision, rule=rule, reason=reason, state_id=state.pk if state else None,
    )


def make_run(workspace, flow, name, *, history, deployment=None, queue=None, tags=(), parameters=None,
             start=None, parent_task_run=None) -> FlowRun:
    """A flow run whose history is [(type, name, at, message)], each with its orchestration decision."""
    run = FlowRun.all_workspaces.create(
        workspace=workspace, flow=flow, name=name, deployment=deployment, work_queue=queue,
        work_queue_name=queue.name if queue else None, tags=list(tags), parameters=parameters or {},
        expected_start_time=history[0][2], next_scheduled_start_time=history[0][2],
        parent_task_run=parent_task_run,
    )
    initial = None
    for type_, state_name, at, message in history:
        state = _state(run, type_, state_name, at, message,
                       data={"type": "reference", "serializer_type": "pickle", "storage_key": f"results/{name}"}
                       if type_ == "COMPLETED" else None)
        _decide(run, state, initial, "CopyScheduledTime" if type_ == "SCHEDULED" else "PreventPendingTransitions",
                reason="")
        if type_ == "RUNNING":
            run.start_time = at
            run.run_count += 1
        if type_ in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            run.end_time = at
            run.total_run_time = at - (run.start_time or at)
        initial = type_
    run.save()
    return run


def seed_workspace(workspace) -> Seeded:
    now = timezone.now()
    ago = lambda **kw: now - datetime.timedelta(**kw)  # noqa: E731
    flow = Flow.all_workspaces.create(workspace=workspace, name="etl")
    Flow.all_workspaces.create(workspace=workspace, name="report")
    pool = WorkPool.all_workspaces.create(workspace=workspace, name="k8s-pool", type="kubernetes",
                                          last_polled=ago(seconds=20))
    queue = WorkQueue.all_workspaces.create(workspace=workspace, work_pool=pool, name="default", priority=1)
    WorkQueue.all_workspaces.create(workspace=workspace, work_pool=pool, name="critical", priority=0, is_paused=True)
    pool.default_queue = queue
    pool.save()
    for name, heartbeat in (("worker-a", ago(seconds=10)), ("worker-b", ago(hours=2))):
        Worker.all_workspaces.create(workspace=workspace, work_pool=pool, name=name, last_heartbeat_time=heartbeat)
    deployment = Deployment.all_workspaces.create(
        workspace=workspace, flow=flow, name="nightly", work_queue=queue, work_queue_name="default",
        entrypoint="flows/etl.py:etl", tags=["prod"], parameters={"source": "s3://bucket/raw", "limit": 100},
        parameter_openapi_schema={
            "title": "Parameters", "type": "object",
            "properties": {
                "source": {"title": "source", "type": "string", "position": 0},
                "limit": {"title": "limit", "type": "integer", "default": 100, "position": 1},
                "full_refresh": {"title": "full_refresh", "type": "boolean", "default": False, "position": 2},
                "mode": {"title": "mode", "enum": ["append", "replace"], "type": "string", "position": 3},
            },
            "required": ["source"],
        },
    )
    DeploymentSchedule.all_workspaces.create(workspace=workspace, deployment=deployment,
                                             schedule={"cron": "0 2 * * *", "timezone": "UTC"}, active=True)

    completed = make_run(workspace, flow, "brave-otter", deployment=deployment, queue=queue, tags=["prod", "etl"],
                         parameters={"source": "s3://bucket/raw", "limit": 100},
                         history=[("SCHEDULED", "Scheduled", ago(hours=3), None),
                                  ("PENDING", "Pending", ago(hours=3, seconds=-5), None),
                                  ("RUNNING", "Running", ago(hours=3, seconds=-10), None),
                                  ("COMPLETED", "Completed", ago(hours=2, minutes=50), "All states completed.")])
    failed = make_run(workspace, flow, "angry-lynx", deployment=deployment, queue=queue, tags=["prod"],
                      history=[("PENDING", "Pending", ago(hours=1), None),
                               ("RUNNING", "Running", ago(minutes=59), None),
                               ("FAILED", "Failed", ago(minutes=55), "Flow run encountered an exception: ValueError")])
    _decide(failed, None, "FAILED", "HandleTerminalStates", decision="REJECT",
            reason="This run is already in a terminal state.")
    running = make_run(workspace, flow, "quick-heron", tags=["dev"],
                       history=[("PENDING", "Pending", ago(minutes=5), None),
                                ("RUNNING", "Running", ago(minutes=4), None)])
    late = make_run(workspace, flow, "sleepy-sloth", deployment=deployment, queue=queue,
                    history=[("SCHEDULED", "Scheduled", ago(minutes=30), None)])
    late.next_scheduled_start_time = ago(minutes=30)
    late.save()
    _state(late, "SCHEDULED", "Late", ago(minutes=29))
    upcoming = make_run(workspace, flow, "future-fox", deployment=deployment, queue=queue,
                        history=[("SCHEDULED", "Scheduled", now + datetime.timedelta(hours=5), None)])

    # Task runs of the completed run (one a subflow's parent) and of the running one; logs for both.
    for i, (task, offset, length) in enumerate([("extract", 10, 120), ("transform", 130, 300), ("load", 430, 90)]):
        t = TaskRun.all_workspaces.create(
            workspace=workspace, flow_run=completed, name=f"{task}-0", task_key=task, dynamic_key="0",
            start_time=completed.start_time + datetime.timedelta(seconds=offset - 10),
            end_time=completed.start_time + datetime.timedelta(seconds=offset - 10 + length),
            total_run_time=datetime.timedelta(seconds=length), expected_start_time=completed.start_time,
        )
        _state(t, "COMPLETED", "Completed", t.end_time)
        if i == 1:
            make_run(workspace, flow, "child-subflow", parent_task_run=t,
                     history=[("RUNNING", "Running", t.start_time, None), ("COMPLETED", "Completed", t.end_time, None)])
    TaskRun.all_workspaces.create(workspace=workspace, flow_run=running, name="extract-0", task_key="extract",
                                  dynamic_key="0", start_time=ago(minutes=4), state_type="RUNNING",
                                  state_name="Running")
    for run in (completed, running):
        Log.all_workspaces.bulk_create([
            Log(workspace=workspace, name="prefect.flow_runs", level=20 if n % 5 else 40, flow_run_id=run.pk,
                message=f"{run.name} line {n}", timestamp=(run.start_time or now) + datetime.timedelta(seconds=n))
            for n in range(3)
        ])

    variable_create(workspace=workspace, name="region", value="eu-west-1", tags=["infra"])
    artifact_create(workspace=workspace, key="etl-report", type="markdown", flow_run_id=completed.pk,
                    description="Nightly summary",
                    data="# Rows loaded\n\n| table | rows |\n|---|---|\n| users | 1200 |\n\n<script>alert(1)</script>")
    artifact_create(workspace=workspace, key="row-counts", type="table", flow_run_id=completed.pk,
                    data='[{"table": "users", "rows": 1200}, {"table": "orders", "rows": 5400}]')
    workspace_seed_blocks(workspace=workspace)
    secret_schema = BlockSchema.objects.for_workspace(workspace).select_related("block_type").get(
        block_type__slug="secret")
    secret = block_document_create(workspace=workspace, block_schema_id=secret_schema.pk,
                                   block_type_id=secret_schema.block_type_id, data={"value": "hunter2-s3cret"},
                                   name="db-password", is_anonymous=False)
    ConcurrencyLimit.all_workspaces.create(workspace=workspace, tag="database", concurrency_limit=5)
    ConcurrencyLimitV2.all_workspaces.create(workspace=workspace, name="warehouse", limit=10, active_slots=2)
    return Seeded(flow=flow, deployment=deployment, pool=pool, queue=queue, completed=completed, failed=failed,
                  running=running, late=late, upcoming=upcoming, secret=secret)
