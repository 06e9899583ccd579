"""Run history rows for tests that need a workspace's past: flow runs with their states, decisions, task
runs and logs, at chosen ages (written directly; `created` is backdated after the insert)."""

from __future__ import annotations

from datetime import datetime, timedelta

from apps.engine.models import (
    Flow,
    FlowRun,
    FlowRunState,
    Log,
    OrchestrationDecision,
    TaskRun,
    TaskRunState,
    TaskRunStateCache,
)

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


def _ago(now: datetime, days: float | None) -> datetime | None:
    return None if days is None else now - timedelta(days=days)


def task_run(workspace, *, now: datetime, flow_run=None, state: str = "COMPLETED", ended_days_ago: float | None = 20,
             created_days_ago: float | None = None, key: str = "t", cache: bool = False) -> TaskRun:
    ended = _ago(now, ended_days_ago) if state in TERMINAL else None
    created = _ago(now, created_days_ago if created_days_ago is not None else (ended_days_ago or 0) + 0.01)
    run = TaskRun.all_workspaces.create(
        workspace=workspace, flow_run=flow_run, name=f"task-{key}", task_key="t", dynamic_key=key, state_type=state,
        state_name=state.title(), state_timestamp=ended or created, start_time=created, end_time=ended,
    )
    states = [TaskRunState.all_workspaces.create(workspace=workspace, task_run=run, type=t, name=t.title(),
                                                 timestamp=created) for t in ("PENDING", "RUNNING", state)]
    OrchestrationDecision.all_workspaces.create(workspace=workspace, task_run=run, decision="ACCEPT",
                                                rule="SetStartTime", proposed_state_type="RUNNING")
    if cache:
        TaskRunStateCache.all_workspaces.create(workspace=workspace, cache_key=f"k-{run.pk}", task_run_state=states[-1])
    TaskRun.all_workspaces.filter(pk=run.pk).update(state=states[-1], created=created)
    return run


def flow_run(workspace, *, now: datetime, state: str = "COMPLETED", ended_days_ago: float | None = 20,
             created_days_ago: float | None = None, tasks: int = 0, logs_days_ago: tuple = (),
             name: str = "run") -> FlowRun:
    """A flow run in `state`; terminal ones ended `ended_days_ago` days before `now` (None: no end time)."""
    flow, _ = Flow.all_workspaces.get_or_create(workspace=workspace, name="etl")
    ended = _ago(now, ended_days_ago) if state in TERMINAL else None
    created = _ago(now, created_days_ago if created_days_ago is not None else (ended_days_ago or 0) + 0.01)
    run = FlowRun.all_workspaces.create(
        workspace=workspace, flow=flow, name=name, state_type=state, state_name=state.title(),
        state_timestamp=ended or created, start_time=created, end_time=ended,
    )
    states = [FlowRunState.all_workspaces.create(workspace=workspace, flow_run=run, type=t, name=t.title(),
                                                 timestamp=created) for t in ("PENDING", state)]
    OrchestrationDecision.all_workspaces.create(workspace=workspace, flow_run=run, decision="ACCEPT",
                                                rule="SetStartTime", proposed_state_type=state)
    FlowRun.all_workspaces.filter(pk=run.pk).update(state=states[-1], created=created)
    for n in range(tasks):
        task_run(workspace, now=now, flow_run=run, state=state if state in TERMINAL else "RUNNING",
                 ended_days_ago=ended_days_ago, created_days_ago=created_days_ago, key=f"{name}-{n}")
    for days in logs_days_ago:
        Log.all_workspaces.create(workspace=workspace, name="prefect.flow_runs", level=20, message=f"{name} {days}",
                                  timestamp=now - timedelta(days=days), flow_run_id=run.pk)
    return run


def counts(workspace) -> dict[str, int]:
    """How many rows of each kind of run history the workspace holds."""
    models = {"flow_runs": FlowRun, "flow_run_states": FlowRunState, "task_runs": TaskRun,
              "task_run_states": TaskRunState, "decisions": OrchestrationDecision, "caches": TaskRunStateCache,
              "logs": Log}
    return {name: model.objects.for_workspace(workspace).count() for name, model in models.items()}
