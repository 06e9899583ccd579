"""Periodic sweeps across all workspaces (run by Celery beat, see apps/engine/tasks/): make deployments'
upcoming scheduled runs, mark overdue runs Late, mark runs of silent workers Crashed.

Each sweep works in batches and is safe to run twice at once (two beat processes, a retried task):
scheduling relies on the runs' unique idempotency keys (insert-on-conflict-do-nothing), the state sweeps
lock the rows they change with SKIP LOCKED and re-check the state under the lock, so a run is never
changed twice or by two sweepers, and a run a worker is transitioning right now is left for next time.

The state sweeps write states the way Prefect's services do (forced, not proposed to the orchestration
policy): Late is a Scheduled state with another name, Crashed is terminal.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections import defaultdict

from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from apps.engine.models import Deployment, DeploymentSchedule, FlowRun, FlowRunState, StateType, Worker, WorkPool
from apps.engine.schemas.states import details_json
from apps.engine.selectors.work_pools import AGENT_POOL_TYPE, DEFAULT_HEARTBEAT_SECONDS, INACTIVITY_HEARTBEAT_MULTIPLE
from apps.engine.services.deployments import SchedulingWindow, deployment_schedule_runs

logger = logging.getLogger(__name__)

LATE_AFTER = datetime.timedelta(seconds=15)  # Prefect's PREFECT_API_SERVICES_LATE_RUNS_AFTER_SECONDS
BATCH_SIZE = 400


def deployments_schedule_due(*, window: SchedulingWindow | None = None, batch_size: int = 100,
                             now: datetime.datetime | None = None) -> int:
    """Make the upcoming runs of every deployment that is short of them; returns how many runs were made.

    A deployment is short when it is not paused, is not in a read-only workspace (over its organization's
    workspace limit: nothing new is scheduled there), has an active schedule, and has fewer than `min_runs`
    future auto-scheduled runs or none reaching `min_time` ahead. Deployments are walked in id order
    (keyset batches); each one is scheduled in its own transaction.
    """
    window = window or SchedulingWindow()
    now = now or timezone.now()
    future = Q(flow_runs__auto_scheduled=True, flow_runs__state_type=StateType.SCHEDULED,
               flow_runs__expected_start_time__gte=now)
    due = (
        Deployment.all_workspaces.filter(paused=False, workspace__read_only=False)
        .filter(Exists(DeploymentSchedule.all_workspaces.filter(deployment=OuterRef("pk"), active=True)))
        .annotate(upcoming=Count("flow_runs", filter=future, distinct=True),
                  horizon=Max("flow_runs__expected_start_time", filter=future))
        .filter(Q(upcoming__lt=window.min_runs) | Q(horizon__isnull=True) | Q(horizon__lt=now + window.min_time))
    )
    made, last_id = 0, None
    while True:
        page = due.order_by("id")
        if last_id is not None:
            page = page.filter(id__gt=last_id)
        ids = list(page.values_list("id", flat=True)[:batch_size])
        if not ids:
            return made
        deployments = (Deployment.all_workspaces.filter(pk__in=ids).select_related("workspace")
                       .prefetch_related("schedules").order_by("id"))
        for deployment in deployments:
            try:
                made += len(deployment_schedule_runs(workspace=deployment.workspace, deployment=deployment,
                                                     window=window))
            except Exception:
                # one broken deployment must not starve the others; it is retried on the next pass
                logger.exception("Scheduling deployment %s failed", deployment.pk)
        last_id = ids[-1]


def _write_states(runs: list[FlowRun], *, type: str, name: str, message: str, now: datetime.datetime,
                  keep_scheduled_time: bool) -> None:
    """Give each locked run a new current state (one insert for the states, one update for the runs)."""
    states = []
    for run in runs:
        scheduled = run.next_scheduled_start_time if keep_scheduled_time else None
        details = details_json({"flow_run_id": run.pk, "scheduled_time": scheduled})
        state = FlowRunState(id=uuid.uuid4(), workspace_id=run.workspace_id, flow_run_id=run.pk, type=type,
                             name=name, timestamp=now, message=message, state_details=details)
        states.append(state)
        if run.state_type == StateType.RUNNING and run.state_timestamp:
            run.total_run_time += now - run.state_timestamp
        run.state_id, run.state_type, run.state_name, run.state_timestamp = state.id, type, name, now
        if type in (StateType.CRASHED,):
            run.end_time = now
            run.next_scheduled_start_time = None
    FlowRunState.all_workspaces.bulk_create(states)
    FlowRun.all_workspaces.bulk_update(
        runs, ["state_id", "state_type", "state_name", "state_timestamp", "total_run_time", "end_time",
               "next_scheduled_start_time", "updated"])


def flow_runs_mark_late(*, now: datetime.datetime | None = None, late_after: datetime.timedelta = LATE_AFTER,
                        batch_size: int = BATCH_SIZE) -> int:
    """Rename Scheduled runs to Late when they are `late_after` past their scheduled time and nobody took
    them (Prefect's MarkLateRuns). They stay Scheduled, so a worker can still pick them up."""
    now = now or timezone.now()
    marked = 0
    while True:
        with transaction.atomic():
            runs = list(
                FlowRun.all_workspaces.select_for_update(skip_locked=True)
                .filter(state_type=StateType.SCHEDULED, next_scheduled_start_time__lte=now - late_after)
                .exclude(state_name="Late").order_by("next_scheduled_start_time")[:batch_size]
            )
            for run in runs:
                run.updated = now
            _write_states(runs, type=StateType.SCHEDULED, name="Late", message=None, now=now,
                          keep_scheduled_time=True)
        marked += len(runs)
        if len(runs) < batch_size:
            return marked


def _silent_pools(now: datetime.datetime) -> dict:
    """{pool id: last heartbeat} of worker pools that had workers and none of them is online any more.

    A worker is online while its last heartbeat is younger than three of its intervals (as in the API);
    agent pools are not included: agents never heartbeat, so their silence means nothing.
    """
    latest: dict = {}
    online: set = set()
    workers = (Worker.all_workspaces.exclude(work_pool__type=AGENT_POOL_TYPE)
               .values_list("work_pool_id", "last_heartbeat_time", "heartbeat_interval_seconds"))
    for pool_id, beat, interval in workers:
        horizon = now - datetime.timedelta(
            seconds=(interval or DEFAULT_HEARTBEAT_SECONDS) * INACTIVITY_HEARTBEAT_MULTIPLE)
        if beat >= horizon:
            online.add(pool_id)
        if pool_id not in latest or beat > latest[pool_id]:
            latest[pool_id] = beat
    return {pool_id: beat for pool_id, beat in latest.items() if pool_id not in online}


def flow_runs_mark_crashed(*, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Mark Crashed the Pending and Running runs of work pools whose workers all stopped heartbeating.

    The rule (Prefect 2 records no worker per run, so the pool is the unit): a run of a worker pool is
    Crashed when no worker of its pool is online and the run has reported nothing since that pool's last
    heartbeat. A run that reported after the last heartbeat is alive on its own and is left alone, as are
    runs of paused pools and of agent pools.
    """
    now = now or timezone.now()
    silent = _silent_pools(now)
    if not silent:
        return 0
    paused = set(WorkPool.all_workspaces.filter(pk__in=list(silent), is_paused=True).values_list("pk", flat=True))
    by_pool = defaultdict(list)
    for pool_id, beat in silent.items():
        if pool_id not in paused:
            by_pool[beat].append(pool_id)
    marked = 0
    for beat, pool_ids in by_pool.items():
        message = (f"The worker(s) of this run's work pool stopped heartbeating (last heartbeat "
                   f"{beat.isoformat()}); the run is presumed lost.")
        while True:
            with transaction.atomic():
                runs = list(
                    FlowRun.all_workspaces.select_for_update(skip_locked=True, of=("self",))
                    .filter(work_queue__work_pool_id__in=pool_ids,
                            state_type__in=(StateType.PENDING, StateType.RUNNING), state_timestamp__lt=beat)
                    .order_by("state_timestamp")[:batch_size]
                )
                for run in runs:
                    run.updated = now
                _write_states(runs, type=StateType.CRASHED, name="Crashed", message=message, now=now,
                              keep_scheduled_time=False)
            marked += len(runs)
            if len(runs) < batch_size:
                break
    return marked
