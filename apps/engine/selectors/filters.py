"""Prefect's filter bodies (parsed by apps.engine.schemas.filters) → Django Q objects.

Each builder takes the plain dict of one filter and a `prefix`: the path from the queried model to the
filtered one (`"flow__"` when filtering flow runs by their flow). Within a filter and within each of
its parts, criteria combine with that part's `operator` (default and_), as Prefect's do.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q

from apps.engine.models.deployments import Deployment
from apps.engine.models.runs import FlowRun, TaskRun


def _combine(parts: list[Q], operator: str | None) -> Q:
    if not parts:
        return Q()
    result = parts[0]
    for part in parts[1:]:
        result = (result | part) if operator == "or_" else (result & part)
    return result


def _any(p: str, field: str, f: dict | None) -> list[Q]:
    """`any_` (in) and `not_any_` (not in), plus `like_` (contains, case-insensitive) where given."""
    if not f:
        return []
    out = []
    if "any_" in f:
        out.append(Q(**{f"{p}{field}__in": f["any_"]}))
    if "not_any_" in f:
        out.append(~Q(**{f"{p}{field}__in": f["not_any_"]}))
    if f.get("like_") is not None:
        out.append(Q(**{f"{p}{field}__icontains": f["like_"]}))
    return out


def _null(p: str, field: str, f: dict) -> list[Q]:
    if "is_null_" not in f:
        return []
    return [Q(**{f"{p}{field}__isnull": f["is_null_"]})]


def _tags(p: str, f: dict | None) -> Q:
    if not f:
        return Q()
    parts = []
    if f.get("all_"):
        parts.append(Q(**{f"{p}tags__contains_all": list(f["all_"])}))
    if "is_null_" in f:
        parts.append(Q(**{f"{p}tags": []}) if f["is_null_"] else ~Q(**{f"{p}tags": []}))
    return _combine(parts, f.get("operator"))


def _times(p: str, field: str, f: dict | None) -> list[Q]:
    if not f:
        return []
    out = []
    if f.get("before_") is not None:
        out.append(Q(**{f"{p}{field}__lte": f["before_"]}))
    if f.get("after_") is not None:
        out.append(Q(**{f"{p}{field}__gte": f["after_"]}))
    out.extend(_null(p, field, f))
    return out


def _state(p: str, f: dict | None) -> Q:
    if not f:
        return Q()
    parts = []
    if (f.get("type") or {}).get("any_") is not None:
        parts.append(Q(**{f"{p}state_type__in": f["type"]["any_"]}))
    if (f.get("name") or {}).get("any_") is not None:
        parts.append(Q(**{f"{p}state_name__in": f["name"]["any_"]}))
    return _combine(parts, f.get("operator"))


def _part(parts: list[Q], f: dict | None) -> Q:
    return _combine(parts, (f or {}).get("operator"))


def flow_q(f: dict | None, prefix: str = "") -> Q:
    """FlowFilter: id, name (any_/like_), tags, deployment.is_null_ (flows with no deployment)."""
    if not f:
        return Q()
    p = prefix
    parts = [*_any(p, "id", f.get("id")), *_any(p, "name", f.get("name")), _tags(p, f.get("tags"))]
    if "is_null_" in (f.get("deployment") or {}):
        # Exists, not a join: a flow with two deployments must not come back twice.
        has = Q(Exists(Deployment.all_workspaces.filter(flow_id=OuterRef(f"{p}id"))))
        parts.append(~has if f["deployment"]["is_null_"] else has)
    return _combine([q for q in parts if q], f.get("operator"))


def flow_run_q(f: dict | None, prefix: str = "") -> Q:
    """FlowRunFilter, every criterion Prefect 2.20 has."""
    if not f:
        return Q()
    p = prefix
    parts = [
        *_any(p, "id", f.get("id")),
        *_any(p, "name", f.get("name")),
        _tags(p, f.get("tags")),
        _part([*_any(p, "deployment_id", f.get("deployment_id")), *_null(p, "deployment_id",
                                                                         f.get("deployment_id") or {})],
              f.get("deployment_id")),
        _part([*_any(p, "work_queue_name", f.get("work_queue_name")),
               *_null(p, "work_queue_name", f.get("work_queue_name") or {})], f.get("work_queue_name")),
        _state(p, f.get("state")),
        *_any(p, "flow_version", f.get("flow_version")),
        *_times(p, "start_time", f.get("start_time")),
        *_times(p, "expected_start_time", f.get("expected_start_time")),
        *_times(p, "next_scheduled_start_time", f.get("next_scheduled_start_time")),
        _part(_any(p, "parent_task_run__flow_run_id", f.get("parent_flow_run_id")), f.get("parent_flow_run_id")),
        _part([*_any(p, "parent_task_run_id", f.get("parent_task_run_id")),
               *_null(p, "parent_task_run_id", f.get("parent_task_run_id") or {})], f.get("parent_task_run_id")),
        *_any(p, "idempotency_key", f.get("idempotency_key")),
    ]
    return _combine([q for q in parts if q], f.get("operator"))


def task_run_q(f: dict | None, prefix: str = "") -> Q:
    """TaskRunFilter: id, name, tags, state, start_time, subflow_runs.exists_, flow_run_id."""
    if not f:
        return Q()
    p = prefix
    parts = [
        *_any(p, "id", f.get("id")),
        *_any(p, "name", f.get("name")),
        _tags(p, f.get("tags")),
        _state(p, f.get("state")),
        *_times(p, "start_time", f.get("start_time")),
        _part([*_any(p, "flow_run_id", f.get("flow_run_id")), *_null(p, "flow_run_id", f.get("flow_run_id") or {})],
              f.get("flow_run_id")),
    ]
    if "exists_" in (f.get("subflow_runs") or {}):
        has = Q(Exists(FlowRun.all_workspaces.filter(parent_task_run_id=OuterRef(f"{p}id"))))
        parts.append(has if f["subflow_runs"]["exists_"] else ~has)
    return _combine([q for q in parts if q], f.get("operator"))


def deployment_q(f: dict | None, prefix: str = "") -> Q:
    """DeploymentFilter; `is_schedule_active` is 2.20's legacy name for "not paused"."""
    if not f:
        return Q()
    p = prefix
    parts = [*_any(p, "id", f.get("id")), *_any(p, "name", f.get("name")), _tags(p, f.get("tags")),
             *_any(p, "work_queue_name", f.get("work_queue_name"))]
    if "eq_" in (f.get("paused") or {}):
        parts.append(Q(**{f"{p}paused": f["paused"]["eq_"]}))
    if "eq_" in (f.get("is_schedule_active") or {}):
        parts.append(Q(**{f"{p}paused": not f["is_schedule_active"]["eq_"]}))
    return _combine([q for q in parts if q], f.get("operator"))


def work_pool_q(f: dict | None, prefix: str = "") -> Q:
    if not f:
        return Q()
    p = prefix
    parts = [*_any(p, "id", f.get("id")), *_any(p, "name", f.get("name")), *_any(p, "type", f.get("type"))]
    return _combine(parts, f.get("operator"))


def work_queue_q(f: dict | None, prefix: str = "") -> Q:
    if not f:
        return Q()
    p = prefix
    parts = [*_any(p, "id", f.get("id"))]
    name = f.get("name") or {}
    if "any_" in name:
        parts.append(Q(**{f"{p}name__in": name["any_"]}))
    if name.get("startswith_"):
        starts = Q()
        for s in name["startswith_"]:
            starts |= Q(**{f"{p}name__istartswith": s})
        parts.append(starts)
    return _combine(parts, f.get("operator"))


def _task_runs_exist(workspace, task_runs: dict, outer: str) -> Q:
    """Runs having at least one task run matching the TaskRunFilter (`outer` = the flow run's id field)."""
    matching = TaskRun.objects.for_workspace(workspace).filter(task_run_q(task_runs), flow_run_id=OuterRef(outer))
    return Q(Exists(matching))


def flow_runs_body_q(workspace, body: dict) -> Q:
    """A flow_runs/filter or /count body → one Q on FlowRun (every filter given, and_-ed)."""
    q = flow_run_q(body.get("flow_runs"))
    if body.get("flows"):
        q &= flow_q(body["flows"], "flow__")
    if body.get("deployments"):
        q &= deployment_q(body["deployments"], "deployment__")
    if body.get("work_pools"):
        q &= work_pool_q(body["work_pools"], "work_queue__work_pool__")
    queues = body.get("work_pool_queues") or body.get("work_queues")
    if queues:
        q &= work_queue_q(queues, "work_queue__")
    if body.get("task_runs"):
        q &= _task_runs_exist(workspace, body["task_runs"], "pk")
    return q


def task_runs_body_q(workspace, body: dict) -> Q:
    """A task_runs/filter or /count body → one Q on TaskRun."""
    q = task_run_q(body.get("task_runs"))
    if body.get("flow_runs"):
        q &= flow_run_q(body["flow_runs"], "flow_run__")
    if body.get("flows"):
        q &= flow_q(body["flows"], "flow_run__flow__")
    if body.get("deployments"):
        q &= deployment_q(body["deployments"], "flow_run__deployment__")
    return q


def flows_body_q(workspace, body: dict) -> Q:
    """A flows/filter or /count body → one Q on Flow (runs, task runs, deployments, pools via Exists)."""
    q = flow_q(body.get("flows"))
    run_parts = {k: body[k] for k in ("flow_runs", "task_runs", "work_pools") if body.get(k)}
    if run_parts:
        runs = FlowRun.objects.for_workspace(workspace).filter(flow_runs_body_q(workspace, run_parts),
                                                                flow_id=OuterRef("pk"))
        q &= Q(Exists(runs))
    if body.get("deployments"):
        deployments = Deployment.objects.for_workspace(workspace).filter(deployment_q(body["deployments"]),
                                                                         flow_id=OuterRef("pk"))
        q &= Q(Exists(deployments))
    return q
