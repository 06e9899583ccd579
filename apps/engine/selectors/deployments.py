"""Reads for deployments: by id, by flow and name, Prefect's DeploymentFilter (with flow, work pool and
queue filters) and status. A deployment is READY while an agent or worker polled its queue in the last
60 seconds, NOT_READY otherwise (Prefect's `deployment_last_polled_timeout_seconds`)."""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from apps.engine.models import Deployment, DeploymentSchedule, FlowRun, StateType, TaskRun
from apps.engine.selectors.filters import deployment_q, flow_q, flow_run_q, task_run_q, work_pool_q, work_queue_q

DEPLOYMENT_POLL_TIMEOUT = datetime.timedelta(seconds=60)
SORTS = {"CREATED_DESC": ("-created",), "UPDATED_DESC": ("-updated",), "NAME_ASC": ("name",),
         "NAME_DESC": ("-name",)}


def deployment_status(deployment: Deployment, now: datetime.datetime) -> str:
    polled = deployment.last_polled
    return "READY" if polled and polled >= now - DEPLOYMENT_POLL_TIMEOUT else "NOT_READY"


def _base(workspace) -> QuerySet[Deployment]:
    schedules = DeploymentSchedule.objects.for_workspace(workspace).order_by("created", "id")
    return (Deployment.objects.for_workspace(workspace).select_related("work_queue__work_pool")
            .prefetch_related(Prefetch("schedules", queryset=schedules)))


def deployment_get(*, workspace, deployment_id) -> Deployment | None:
    return _base(workspace).filter(pk=deployment_id).first()


def deployment_get_by_name(*, workspace, flow_name: str, name: str) -> Deployment | None:
    return _base(workspace).filter(flow__name=flow_name, name=name).first()


def deployment_list(*, workspace, flows: dict | None = None, flow_runs: dict | None = None,
                    task_runs: dict | None = None, deployments: dict | None = None, work_pools: dict | None = None,
                    work_pool_queues: dict | None = None, sort: str | None = "NAME_ASC") -> QuerySet[Deployment]:
    """Deployments matching Prefect's filters (the shared builders of selectors.filters). Flow run and task
    run filters select deployments having a run that matches them (both, when both are given)."""
    q = (flow_q(flows, "flow__") & deployment_q(deployments) & work_pool_q(work_pools, "work_queue__work_pool__")
         & work_queue_q(work_pool_queues, "work_queue__"))
    if flow_runs or task_runs:
        runs = FlowRun.objects.for_workspace(workspace).filter(flow_run_q(flow_runs), deployment_id=OuterRef("pk"))
        if task_runs:
            runs = runs.filter(Exists(TaskRun.objects.for_workspace(workspace).filter(
                task_run_q(task_runs), flow_run_id=OuterRef("pk"))))
        q &= Q(Exists(runs))
    return _base(workspace).filter(q).order_by(*SORTS[sort or "NAME_ASC"], "id")


def deployment_scheduled_runs(*, workspace, deployment_ids: list, scheduled_before=None) -> QuerySet[FlowRun]:
    """Scheduled runs of these deployments, soonest first (what `prefect serve` runners poll for); none
    in a read-only workspace, which starts nothing new (docs/billing.md)."""
    if workspace.read_only:
        return FlowRun.objects.for_workspace(workspace).none()
    qs = FlowRun.objects.for_workspace(workspace).filter(deployment_id__in=deployment_ids,
                                                         state_type=StateType.SCHEDULED)
    if scheduled_before is not None:
        qs = qs.filter(next_scheduled_start_time__lte=scheduled_before)
    return qs.select_related("state", "work_queue__work_pool").order_by("next_scheduled_start_time", "id")


def flow_run_for_response(*, workspace, run_id) -> FlowRun:
    """One run with what its response shows (state, queue and pool names) in one query."""
    return (FlowRun.objects.for_workspace(workspace).select_related("state", "work_queue__work_pool")
            .get(pk=run_id))
