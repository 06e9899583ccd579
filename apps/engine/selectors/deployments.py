"""Reads for deployments: by id, by flow and name, Prefect's DeploymentFilter (with flow, work pool and
queue filters) and status. A deployment is READY while an agent or worker polled its queue in the last
60 seconds, NOT_READY otherwise (Prefect's `deployment_last_polled_timeout_seconds`)."""

from __future__ import annotations

import datetime

from django.db.models import Prefetch, Q, QuerySet

from apps.engine.models import Deployment, DeploymentSchedule, FlowRun, StateType
from apps.engine.selectors.work_pools import combine_q, work_pool_filter_q, work_queue_filter_q

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


def _text(f: dict, field: str) -> list[Q]:
    parts = []
    if f.get("name"):
        if f["name"].get("any_") is not None:
            parts.append(Q(**{f"{field}__in": f["name"]["any_"]}))
        if f["name"].get("like_") is not None:
            parts.append(Q(**{f"{field}__icontains": f["name"]["like_"]}))
    return parts


def _tags(f: dict, field: str) -> list[Q]:
    parts = []
    if tags := f.get("tags"):
        if tags.get("all_"):
            parts.append(Q(**{f"{field}__contains": list(tags["all_"])}))
        if tags.get("is_null_") is not None:
            parts.append(Q(**{field: []}) if tags["is_null_"] else ~Q(**{field: []}))
    return parts


def deployment_filter_q(f: dict | None, prefix: str = "") -> Q:
    """Prefect's DeploymentFilter as a Q on Deployment (or on a relation through `prefix`)."""
    if not f:
        return Q()
    parts = []
    if f.get("id") and f["id"].get("any_") is not None:
        parts.append(Q(**{f"{prefix}id__in": f["id"]["any_"]}))
    parts += _text(f, f"{prefix}name")
    for key in ("paused", "is_schedule_active"):
        if f.get(key) and f[key].get("eq_") is not None:
            paused = f[key]["eq_"] if key == "paused" else not f[key]["eq_"]
            parts.append(Q(**{f"{prefix}paused": paused}))
    parts += _tags(f, f"{prefix}tags")
    if f.get("work_queue_name") and f["work_queue_name"].get("any_") is not None:
        parts.append(Q(**{f"{prefix}work_queue_name__in": f["work_queue_name"]["any_"]}))
    return combine_q(parts, f.get("operator"))


def _flow_q(f: dict | None) -> Q:
    if not f:
        return Q()
    parts = []
    if f.get("id") and f["id"].get("any_") is not None:
        parts.append(Q(flow_id__in=f["id"]["any_"]))
    parts += _text(f, "flow__name") + _tags(f, "flow__tags")
    return combine_q(parts, f.get("operator"))


def deployment_list(*, workspace, flows: dict | None = None, deployments: dict | None = None,
                    work_pools: dict | None = None, work_pool_queues: dict | None = None,
                    sort: str | None = "NAME_ASC") -> QuerySet[Deployment]:
    q = (_flow_q(flows) & deployment_filter_q(deployments) & work_pool_filter_q(work_pools, "work_queue__work_pool__")
         & work_queue_filter_q(work_pool_queues, "work_queue__"))
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
