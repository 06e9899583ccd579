"""Reads for task runs, their states, decisions and the task result cache."""

from __future__ import annotations

import datetime
import uuid

from django.db.models import F, Q, QuerySet

from apps.core.prepared import PreparedQuery
from apps.engine.models.runs import OrchestrationDecision, StateType, TaskRun, TaskRunState, TaskRunStateCache
from apps.engine.selectors.filters import task_runs_body_q
from apps.engine.selectors.flow_runs import with_current_state

TASK_RUN_SORTS = {
    "ID_DESC": (F("id").desc(),),
    "EXPECTED_START_TIME_ASC": (F("expected_start_time").asc(),),
    "EXPECTED_START_TIME_DESC": (F("expected_start_time").desc(),),
    "NAME_ASC": (F("name").asc(),),
    "NAME_DESC": (F("name").desc(),),
    "NEXT_SCHEDULED_START_TIME_ASC": (F("next_scheduled_start_time").asc(),),
    "END_TIME_DESC": (F("end_time").desc(),),
}


# Compiled once per process (apps/core/prepared.py), as the lock query below.
_TASK_RUN_GET = PreparedQuery(
    lambda workspace_id, task_run_id: TaskRun.objects.by_pk_for_workspace(workspace_id, task_run_id)
    .select_related("state"))


def task_run_get(*, workspace, task_run_id: uuid.UUID) -> TaskRun | None:
    """The task run with its state, or None."""
    return _TASK_RUN_GET.one(getattr(workspace, "pk", workspace), task_run_id)


# The JSON columns of the set_state reads that no task rule, bookkeeping step or answer reads: left out
# (deferred), so they are neither sent nor decoded (7 of a read's 13 JSON columns; a flow run's parameters
# can be large). Reading one of them on such a run would cost a query of its own (Django loads a deferred
# field on access): tests/engine/test_runs_queries.py counts a set_state's statements.
SET_STATE_UNREAD = ("task_inputs", "flow_run__parameters", "flow_run__context", "flow_run__job_variables",
                    "flow_run__created_by", "flow_run__tags", "flow_run__empirical_policy", "flow_run__state__data")

# Compiled once per process (apps/core/prepared.py): the hot path's lock query, by workspace and id.
_TASK_RUN_FOR_UPDATE = PreparedQuery(
    lambda workspace_id, task_run_id: TaskRun.objects.by_pk_for_workspace(workspace_id, task_run_id)
    .select_for_update(of=("self",)).select_related("state", "flow_run", "flow_run__state").defer(*SET_STATE_UNREAD))


def task_run_get_for_update(*, workspace, task_run_id: uuid.UUID) -> TaskRun | None:
    """The task run row-locked (its row only) with its state, its flow run and that run's state: everything
    the task rules read, in one query (the columns nobody reads, SET_STATE_UNREAD, deferred)."""
    run = _TASK_RUN_FOR_UPDATE.one(getattr(workspace, "pk", workspace), task_run_id)
    if run is not None:
        with_current_state(run, TaskRunState)
    return run


# The same read without the lock, for the optimistic set_state (apps/engine/services/run_states.py).
_TASK_RUN_FOR_SET_STATE = PreparedQuery(
    lambda workspace_id, task_run_id: TaskRun.objects.by_pk_for_workspace(workspace_id, task_run_id)
    .select_related("state", "flow_run", "flow_run__state").defer(*SET_STATE_UNREAD))


def task_run_get_for_set_state(*, workspace, task_run_id: uuid.UUID) -> TaskRun | None:
    """The task run with its state, its flow run and that run's state, unlocked: one snapshot, so the joined
    states are the ones the runs point at (the columns nobody reads, SET_STATE_UNREAD, deferred)."""
    return _TASK_RUN_FOR_SET_STATE.one(getattr(workspace, "pk", workspace), task_run_id)


def task_run_list(*, workspace, body: dict, sort: str | None = "ID_DESC") -> QuerySet[TaskRun]:
    qs = TaskRun.objects.for_workspace(workspace).filter(task_runs_body_q(workspace, body))
    if sort:
        qs = qs.select_related("state").order_by(*TASK_RUN_SORTS[sort], F("id").desc())
    return qs


def task_run_state_get(*, workspace, state_id: uuid.UUID) -> TaskRunState | None:
    return TaskRunState.objects.for_workspace(workspace).filter(pk=state_id).first()


def task_run_state_list(*, workspace, task_run_id: uuid.UUID) -> QuerySet[TaskRunState]:
    return TaskRunState.objects.for_workspace(workspace).filter(task_run_id=task_run_id).order_by("timestamp", "id")


def task_run_decision_list(*, workspace, task_run_id: uuid.UUID) -> QuerySet[OrchestrationDecision]:
    return (OrchestrationDecision.objects.for_workspace(workspace).filter(task_run_id=task_run_id)
            .order_by("created", "id"))


def cached_state_get(*, workspace, cache_key: str, now: datetime.datetime) -> TaskRunState | None:
    """The newest unexpired Completed state stored under `cache_key`, if any."""
    entry = (TaskRunStateCache.objects.for_workspace(workspace).select_related("task_run_state")
             .filter(Q(cache_expiration__isnull=True) | Q(cache_expiration__gt=now), cache_key=cache_key)
             .order_by("-created").first())
    return entry.task_run_state if entry else None


def task_run_in_running_flow_run(*, workspace, task_run_id: uuid.UUID) -> bool:
    """Whether this task run of the workspace belongs to a flow run that is Running (a run under way)."""
    return TaskRun.objects.for_workspace(workspace).filter(
        pk=task_run_id, flow_run__state_type=StateType.RUNNING).exists()
