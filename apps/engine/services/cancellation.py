"""Cancellation cleanup (Prefect 2.20's CancellationCleanup service): what a cancelled flow run leaves
running is cancelled too.

- Task runs of a flow run Cancelled in the last day that are not finished are forced Cancelled.
- Subflow runs (Pending, Scheduled, Running, Paused or Cancelling) whose parent flow run is Cancelled
  get Cancelling when they have a deployment (their own worker stops their process) and Cancelled
  otherwise (they ran in the parent's process, which is gone), through the minimal flow policy as
  Prefect does, so a Scheduled deployed subflow with nothing to stop goes straight to Cancelled.

Only a Cancelled parent counts (as in Prefect): while it is Cancelling, its worker is still stopping it.
Only flow runs cancelled in the last day are looked at (Prefect does so for task runs; for subflows it
scans every unfinished subflow, which costs a table scan per loop: children are cancelled within seconds
of their parent, so the day is ample). Candidates are found across workspaces, then each run is changed
in its own transaction under its row lock after re-checking, under the lock, that it still needs it: two
sweeps at once (two beats, a retried task) change each run once, and a second pass finds nothing to do.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.engine.models.runs import TERMINAL_STATE_TYPES, FlowRun, StateType, TaskRun
from apps.engine.orchestration.policies import MINIMAL_FLOW_POLICY, MINIMAL_TASK_POLICY
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.flow_runs import flow_run_get_for_update
from apps.engine.selectors.task_runs import task_run_get_for_update
from apps.engine.services.run_states import run_set_state

MESSAGE = "The parent flow run was cancelled."
RECENT = datetime.timedelta(days=1)  # Prefect looks at flow runs cancelled in the last day
BATCH_SIZE = 200
MAX_PASSES = 10
_ACTIVE = [t for t in StateType if t not in TERMINAL_STATE_TYPES]


def cancellation_cleanup(*, now: datetime.datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Cancel what cancelled flow runs left behind; returns how many runs were given a state.

    Driven by the flow runs Cancelled in the last day (a partial index holds exactly those), in id
    batches: their unfinished task runs, then their unfinished subflow runs. A subflow cancelled here is
    itself a recently cancelled run, so the next pass reaches its own children; passes repeat until one
    changes nothing (at most MAX_PASSES)."""
    now = now or timezone.now()
    changed = 0
    for _ in range(MAX_PASSES):
        changed_this_pass = 0
        for parents in _recently_cancelled(now=now, batch_size=batch_size):
            changed_this_pass += _cancel_children(parents, now=now)
        changed += changed_this_pass
        if not changed_this_pass:
            break
    return changed


def _recently_cancelled(*, now, batch_size: int):
    """Ids of flow runs Cancelled since `now - RECENT`, across workspaces, in batches (keyset on id)."""
    cancelled = (FlowRun.all_workspaces.filter(state_type=StateType.CANCELLED, end_time__gte=now - RECENT)
                 .order_by("id").values_list("id", flat=True))
    last_id = None
    while True:
        page = cancelled if last_id is None else cancelled.filter(id__gt=last_id)
        ids = list(page[:batch_size])
        if ids:
            yield ids
        if len(ids) < batch_size:
            return
        last_id = ids[-1]


def _cancel_children(parent_ids: list, *, now) -> int:
    changed = 0
    tasks = (TaskRun.all_workspaces.filter(flow_run_id__in=parent_ids, state_type__in=_ACTIVE)
             .order_by("id").values_list("id", "workspace_id"))
    for task_run_id, workspace_id in tasks:
        changed += _cancel_task_run(task_run_id=task_run_id, workspace_id=workspace_id, now=now)
    subflows = (FlowRun.all_workspaces.filter(_needs_cancelling(), parent_task_run__flow_run_id__in=parent_ids)
                .order_by("id").values_list("id", "workspace_id"))
    for flow_run_id, workspace_id in subflows:
        changed += _cancel_subflow(flow_run_id=flow_run_id, workspace_id=workspace_id, now=now)
    return changed


def _cancel_task_run(*, task_run_id, workspace_id, now) -> int:
    with transaction.atomic():
        run = task_run_get_for_update(workspace=workspace_id, task_run_id=task_run_id)
        # re-checked under the lock: finished meanwhile, or its flow run is no longer Cancelled
        if (run is None or run.state_type in TERMINAL_STATE_TYPES or run.flow_run is None
                or run.flow_run.state_type != StateType.CANCELLED):
            return 0
        proposed = StateValue.new(StateType.CANCELLED, now=now, message=MESSAGE)
        run_set_state(kind="task_run", run=run, proposed=proposed, policy=MINIMAL_TASK_POLICY, now=now, force=True,
                      flow_run=run.flow_run, note=MESSAGE)
        return 1


def _needs_cancelling() -> Q:
    """Subflows still to act on: deployed ones not yet Cancelling, others in any unfinished state."""
    active = Q(state_type__in=_ACTIVE)
    return active & (Q(deployment__isnull=True) | ~Q(state_type=StateType.CANCELLING))


def _cancel_subflow(*, flow_run_id, workspace_id, now) -> int:
    with transaction.atomic():
        run = flow_run_get_for_update(workspace=workspace_id, flow_run_id=flow_run_id)
        if run is None or run.parent_task_run_id is None:
            return 0
        still_needed = (FlowRun.objects.for_workspace(workspace_id).filter(pk=run.pk).filter(_needs_cancelling())
                        .filter(parent_task_run__flow_run__state_type=StateType.CANCELLED).exists())
        if not still_needed:
            return 0
        target = StateType.CANCELLING if run.deployment_id else StateType.CANCELLED
        proposed = StateValue.new(target, now=now, message=MESSAGE)
        result = run_set_state(kind="flow_run", run=run, proposed=proposed, policy=MINIMAL_FLOW_POLICY, now=now,
                               force=False, note=MESSAGE)
        return 1 if result.wrote_state else 0
