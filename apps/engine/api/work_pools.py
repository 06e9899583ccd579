"""Work pools, their queues and workers at Prefect 2.20's paths (`work_pools/…`), the workers' poll
(`work_pools/{name}/get_scheduled_flow_runs`) and the agent-era `work_queues/…` endpoints."""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.lean import lean_view, respond
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import page, parse_body, path_uuid, plain
from apps.engine.models.deployments import DEFAULT_AGENT_POOL_NAME
from apps.engine.schemas import work_pools as schemas
from apps.engine.schemas.runs import flow_run_json
from apps.engine.selectors import work_pools as selectors
from apps.engine.services import work_pools as services

POOL_READ, POOL_WRITE = "work_pools:read", "work_pools:write"
QUEUE_READ, QUEUE_WRITE, POLL = "work_queues:read", "work_queues:write", "work_queues:poll"


def render_pool(pool, status: str) -> dict:
    return schemas.WorkPool({
        "id": pool.pk, "created": pool.created, "updated": pool.updated, "name": pool.name,
        "description": pool.description, "type": pool.type, "base_job_template": pool.base_job_template,
        "is_paused": pool.is_paused, "concurrency_limit": pool.concurrency_limit, "status": status,
        "default_queue_id": pool.default_queue_id, "last_polled": pool.last_polled,
    }).data


def render_queue(queue, now=None) -> dict:
    """A queue (with `work_pool` loaded) as WorkQueueResponse."""
    now = now or timezone.now()
    return schemas.WorkQueueResponse({
        "id": queue.pk, "created": queue.created, "updated": queue.updated, "name": queue.name,
        "description": queue.description, "is_paused": queue.is_paused, "concurrency_limit": queue.concurrency_limit,
        "priority": queue.priority, "work_pool_id": queue.work_pool_id, "filter": queue.filter,
        "last_polled": queue.last_polled, "work_pool_name": queue.work_pool.name,
        "status": selectors.work_queue_status(queue, now),
    }).data


def _pool(workspace, name: str):
    pool = selectors.work_pool_get_by_name(workspace=workspace, name=name)
    if pool is None:
        raise services.pool_not_found(name)
    return pool


def _pool_queue(workspace, pool_name: str, name: str):
    queue = selectors.work_queue_get_by_name(workspace=workspace, pool_name=pool_name, name=name)
    if queue is None:
        _pool(workspace, pool_name)
        raise NotFound(f"Work pool queue '{pool_name}/{name}' not found.")
    return queue


# --- pools ----------------------------------------------------------------------------------------------

class WorkPoolCreateView(WorkspaceAPIView):
    required_permissions = {"POST": POOL_WRITE}

    @extend_schema(request=schemas.WorkPoolCreate, responses={201: schemas.WorkPool}, operation_id="work_pool_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.WorkPoolCreate, request.data)
        pool = services.work_pool_create(workspace=self.workspace, actor=request.user, **data)
        status = selectors.work_pool_statuses(workspace=self.workspace, pools=[pool])[pool.pk]
        return Response(render_pool(pool, status), status=201)


class WorkPoolFilterView(WorkspaceAPIView):
    required_permissions = {"POST": POOL_READ}

    @extend_schema(request=schemas.WorkPoolFilterBody, responses=schemas.WorkPool(many=True),
                   operation_id="work_pool_filter")
    def post(self, request, **kwargs):
        body = plain(parse_body(schemas.WorkPoolFilterBody, request.data))
        pools = page(selectors.work_pool_list(workspace=self.workspace, work_pools=body.get("work_pools")), body)
        statuses = selectors.work_pool_statuses(workspace=self.workspace, pools=pools)
        return Response([render_pool(p, statuses[p.pk]) for p in pools])


class WorkPoolCountView(WorkspaceAPIView):
    required_permissions = {"POST": POOL_READ}

    @extend_schema(request=schemas.WorkPoolCountBody, responses=OpenApiTypes.INT, operation_id="work_pool_count")
    def post(self, request, **kwargs):
        body = plain(parse_body(schemas.WorkPoolCountBody, request.data))
        return Response(selectors.work_pool_list(workspace=self.workspace, work_pools=body.get("work_pools")).count())


class WorkPoolDetailView(WorkspaceAPIView):
    required_permissions = {"GET": POOL_READ, "PATCH": POOL_WRITE, "DELETE": POOL_WRITE}

    @extend_schema(responses=schemas.WorkPool, operation_id="work_pool_read")
    def get(self, request, name, **kwargs):
        pool = _pool(self.workspace, name)
        status = selectors.work_pool_statuses(workspace=self.workspace, pools=[pool])[pool.pk]
        return Response(render_pool(pool, status))

    @extend_schema(request=schemas.WorkPoolUpdate, responses={204: None}, operation_id="work_pool_update")
    def patch(self, request, name, **kwargs):
        changes = parse_body(schemas.WorkPoolUpdate, request.data)
        services.work_pool_update(workspace=self.workspace, name=name, changes=dict(changes), actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="work_pool_delete")
    def delete(self, request, name, **kwargs):
        services.work_pool_delete(workspace=self.workspace, name=name, actor=request.user)
        return Response(status=204)


class WorkPoolScheduledRunsView(WorkspaceAPIView):
    """The workers' poll: Scheduled runs of the pool's (or the named) queues by priority, then time."""

    required_permissions = {"POST": POLL}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.PoolScheduledRunsBody, responses=OpenApiTypes.OBJECT,
                   operation_id="work_pool_get_scheduled_flow_runs")
    def post(self, request, name, **kwargs):
        body = parse_body(schemas.PoolScheduledRunsBody, request.data)
        # the pool comes with its queues (one query); a pool without queues is looked up on its own
        queues = selectors.work_queues_for_poll(workspace=self.workspace, pool_name=name)
        pool = queues[0].work_pool if queues else _pool(self.workspace, name)
        if body.get("work_queue_names"):
            by_name = {q.name: q for q in queues}
            missing = [n for n in body["work_queue_names"] if n not in by_name]
            if missing:
                raise NotFound(f"Work pool queue '{name}/{missing[0]}' not found.")
            queues = [by_name[n] for n in body["work_queue_names"]]
        for queue in queues:
            queue.work_pool = pool
        polled = selectors.scheduled_runs_for_queues(
            workspace=self.workspace, queues=queues, limit=body.get("limit") or 200,
            scheduled_before=body.get("scheduled_before"), scheduled_after=body.get("scheduled_after"))
        now = timezone.now()
        out = [{"work_pool_id": str(p.work_pool_id), "work_queue_id": str(p.work_queue_id),
                "flow_run": flow_run_json(p.run, now=now)} for p in polled]
        services.polled_mark(workspace=self.workspace, pools=[pool], queues=queues)
        return respond(out)


# --- queues of a pool -----------------------------------------------------------------------------------

class PoolQueueCreateView(WorkspaceAPIView):
    required_permissions = {"POST": QUEUE_WRITE}

    @extend_schema(request=schemas.WorkQueueCreate, responses={201: schemas.WorkQueueResponse},
                   operation_id="work_pool_queue_create")
    def post(self, request, work_pool_name, **kwargs):
        data = dict(parse_body(schemas.WorkQueueCreate, request.data))
        data.pop("work_pool_name", None)
        pool = _pool(self.workspace, work_pool_name)
        queue = services.work_queue_create(workspace=self.workspace, pool=pool, actor=request.user,
                                           **_queue_fields(data))
        return Response(render_queue(queue), status=201)


def _queue_fields(data: dict) -> dict:
    data = dict(data)
    if data.get("filter") is not None:
        data["filter"] = plain(data["filter"])
    return data


class PoolQueueFilterView(WorkspaceAPIView):
    required_permissions = {"POST": QUEUE_READ}

    @extend_schema(request=schemas.WorkQueueFilterBody, responses=schemas.WorkQueueResponse(many=True),
                   operation_id="work_pool_queue_filter")
    def post(self, request, work_pool_name, **kwargs):
        body = plain(parse_body(schemas.WorkQueueFilterBody, request.data))
        pool = _pool(self.workspace, work_pool_name)
        queues = page(selectors.work_queue_list(workspace=self.workspace, pool=pool,
                                                  work_queues=body.get("work_queues")), body)
        now = timezone.now()
        return Response([render_queue(q, now) for q in queues])


class PoolQueueDetailView(WorkspaceAPIView):
    required_permissions = {"GET": QUEUE_READ, "PATCH": QUEUE_WRITE, "DELETE": QUEUE_WRITE}

    @extend_schema(responses=schemas.WorkQueueResponse, operation_id="work_pool_queue_read")
    def get(self, request, work_pool_name, name, **kwargs):
        return Response(render_queue(_pool_queue(self.workspace, work_pool_name, name)))

    @extend_schema(request=schemas.WorkQueueUpdate, responses={204: None}, operation_id="work_pool_queue_update")
    def patch(self, request, work_pool_name, name, **kwargs):
        changes = _queue_fields(parse_body(schemas.WorkQueueUpdate, request.data))
        queue = _pool_queue(self.workspace, work_pool_name, name)
        services.work_queue_update(workspace=self.workspace, queue_id=queue.pk, changes=changes, actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="work_pool_queue_delete")
    def delete(self, request, work_pool_name, name, **kwargs):
        queue = _pool_queue(self.workspace, work_pool_name, name)
        services.work_queue_delete(workspace=self.workspace, queue_id=queue.pk, actor=request.user)
        return Response(status=204)


# --- workers ------------------------------------------------------------------------------------------

class WorkerHeartbeatView(WorkspaceAPIView):
    required_permissions = {"POST": POLL}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.WorkerHeartbeat, responses={204: None}, operation_id="worker_heartbeat")
    def post(self, request, work_pool_name, **kwargs):
        data = parse_body(schemas.WorkerHeartbeat, request.data)
        services.worker_heartbeat(workspace=self.workspace, pool_name=work_pool_name, name=data["name"],
                                  heartbeat_interval_seconds=data.get("heartbeat_interval_seconds"))
        return respond(status=204)


class WorkerFilterView(WorkspaceAPIView):
    required_permissions = {"POST": POOL_READ}

    @extend_schema(request=schemas.WorkerFilterBody, responses=schemas.WorkerResponse(many=True),
                   operation_id="worker_filter")
    def post(self, request, work_pool_name, **kwargs):
        body = parse_body(schemas.WorkerFilterBody, request.data)
        pool = _pool(self.workspace, work_pool_name)
        now = timezone.now()
        workers = selectors.worker_list(workspace=self.workspace, pool=pool, workers=body.get("workers"), now=now)
        return Response(schemas.WorkerResponse([
            {"id": w.pk, "created": w.created, "updated": w.updated, "name": w.name, "work_pool_id": w.work_pool_id,
             "last_heartbeat_time": w.last_heartbeat_time, "heartbeat_interval_seconds": w.heartbeat_interval_seconds,
             "status": "ONLINE" if selectors.worker_is_online(w, now) else "OFFLINE"}
            for w in page(workers, body)], many=True).data)


class WorkerDetailView(WorkspaceAPIView):
    required_permissions = {"DELETE": POOL_WRITE}

    @extend_schema(responses={204: None}, operation_id="worker_delete")
    def delete(self, request, work_pool_name, name, **kwargs):
        _pool(self.workspace, work_pool_name)
        services.worker_delete(workspace=self.workspace, pool_name=work_pool_name, name=name, actor=request.user)
        return Response(status=204)


# --- agent-era work queues (work_queues/…) ------------------------------------------------------------

def _queue(workspace, queue_id):
    queue = selectors.work_queue_get(workspace=workspace, queue_id=queue_id)
    if queue is None:
        raise NotFound("Work queue not found.")
    return queue


class WorkQueueCreateView(WorkspaceAPIView):
    required_permissions = {"POST": QUEUE_WRITE}

    @extend_schema(request=schemas.WorkQueueCreate, responses={201: schemas.WorkQueueResponse},
                   operation_id="work_queue_create")
    def post(self, request, **kwargs):
        data = dict(parse_body(schemas.WorkQueueCreate, request.data))
        pool_name = data.pop("work_pool_name", None)
        if pool_name and pool_name != DEFAULT_AGENT_POOL_NAME:
            pool = _pool(self.workspace, pool_name)
        else:
            pool = services.work_pool_get_or_create_default_agent_pool(workspace=self.workspace)
        queue = services.work_queue_create(workspace=self.workspace, pool=pool, actor=request.user,
                                           **_queue_fields(data))
        return Response(render_queue(queue), status=201)


class WorkQueueFilterView(WorkspaceAPIView):
    required_permissions = {"POST": QUEUE_READ}

    @extend_schema(request=schemas.WorkQueueFilterBody, responses=schemas.WorkQueueResponse(many=True),
                   operation_id="work_queue_filter")
    def post(self, request, **kwargs):
        body = plain(parse_body(schemas.WorkQueueFilterBody, request.data))
        queues = page(selectors.work_queue_list(workspace=self.workspace, work_queues=body.get("work_queues")),
                        body)
        now = timezone.now()
        return Response([render_queue(q, now) for q in queues])


class WorkQueueByNameView(WorkspaceAPIView):
    """An agent's queue by name, in the default agent pool. An agent asks for its queue before creating it;
    a caller that may poll gets the queue created there and then (the agent would create it next anyway,
    and a polling key need not hold work_queues:write)."""

    required_permissions = {"GET": QUEUE_READ}

    @extend_schema(responses=schemas.WorkQueueResponse, operation_id="work_queue_read_by_name")
    def get(self, request, name, **kwargs):
        queue = selectors.work_queue_get_by_name(workspace=self.workspace, pool_name=DEFAULT_AGENT_POOL_NAME,
                                                 name=name)
        if queue is None:
            if not request.access.has(POLL):
                raise NotFound("Work queue not found.")
            pool = services.work_pool_get_or_create_default_agent_pool(workspace=self.workspace)
            queue = services.work_queue_get_or_create(workspace=self.workspace, pool=pool, name=name,
                                                      actor=request.user)
        return Response(render_queue(queue))


class WorkQueueDetailView(WorkspaceAPIView):
    required_permissions = {"GET": QUEUE_READ, "PATCH": QUEUE_WRITE, "DELETE": QUEUE_WRITE}

    @extend_schema(responses=schemas.WorkQueueResponse, operation_id="work_queue_read")
    def get(self, request, id, **kwargs):
        return Response(render_queue(_queue(self.workspace, path_uuid(id))))

    @extend_schema(request=schemas.WorkQueueUpdate, responses={204: None}, operation_id="work_queue_update")
    def patch(self, request, id, **kwargs):
        changes = _queue_fields(parse_body(schemas.WorkQueueUpdate, request.data))
        services.work_queue_update(workspace=self.workspace, queue_id=path_uuid(id), changes=changes,
                                   actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="work_queue_delete")
    def delete(self, request, id, **kwargs):
        services.work_queue_delete(workspace=self.workspace, queue_id=path_uuid(id), actor=request.user)
        return Response(status=204)


class WorkQueueRunsView(WorkspaceAPIView):
    """The agents' poll: Scheduled runs of one queue, soonest first, within its and its pool's limits."""

    required_permissions = {"POST": POLL}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.QueueRunsBody, responses=OpenApiTypes.OBJECT, operation_id="work_queue_get_runs")
    def post(self, request, id, **kwargs):
        body = parse_body(schemas.QueueRunsBody, request.data)
        queue = _queue(self.workspace, path_uuid(id))
        polled = selectors.scheduled_runs_for_queues(workspace=self.workspace, queues=[queue],
                                                     limit=body.get("limit") or 200,
                                                     scheduled_before=body.get("scheduled_before"))
        now = timezone.now()
        out = [flow_run_json(p.run, now=now) for p in polled]
        # The Prefect UI peeks at queues with this header: a peek is not a poll.
        if request.headers.get("X-Prefect-UI", "").lower() not in ("true", "1"):
            services.polled_mark(workspace=self.workspace, pools=[queue.work_pool], queues=[queue])
        return Response(out)


class WorkQueueStatusView(WorkspaceAPIView):
    required_permissions = {"GET": QUEUE_READ}

    @extend_schema(responses=schemas.WorkQueueStatusDetail, operation_id="work_queue_status")
    def get(self, request, id, **kwargs):
        queue = _queue(self.workspace, path_uuid(id))
        late = selectors.late_runs_count(workspace=self.workspace, queue=queue)
        now = timezone.now()
        polled_recently = bool(queue.last_polled and queue.last_polled >= now - selectors.QUEUE_POLL_TIMEOUT)
        return Response(schemas.WorkQueueStatusDetail({
            "healthy": polled_recently and late == 0 and not queue.is_paused, "late_runs_count": late,
            "last_polled": queue.last_polled,
            "health_check_policy": {"maximum_late_runs": 0,
                                    "maximum_seconds_since_last_polled": int(
                                        selectors.QUEUE_POLL_TIMEOUT.total_seconds())},
        }).data)


urlpatterns = [
    path("work_pools/", WorkPoolCreateView.as_view(), name="work-pools"),
    path("work_pools/filter", WorkPoolFilterView.as_view(), name="work-pools-filter"),
    path("work_pools/count", WorkPoolCountView.as_view(), name="work-pools-count"),
    path("work_pools/<str:name>", WorkPoolDetailView.as_view(), name="work-pool"),
    # the workers' poll and heartbeat come every few seconds from every worker: the lean dispatch (issue 5)
    path("work_pools/<str:name>/get_scheduled_flow_runs", lean_view(WorkPoolScheduledRunsView),
         name="work-pool-scheduled-runs"),
    path("work_pools/<str:work_pool_name>/queues", PoolQueueCreateView.as_view(), name="work-pool-queues"),
    path("work_pools/<str:work_pool_name>/queues/filter", PoolQueueFilterView.as_view(),
         name="work-pool-queues-filter"),
    path("work_pools/<str:work_pool_name>/queues/<str:name>", PoolQueueDetailView.as_view(),
         name="work-pool-queue"),
    path("work_pools/<str:work_pool_name>/workers/heartbeat", lean_view(WorkerHeartbeatView),
         name="work-pool-worker-heartbeat"),
    path("work_pools/<str:work_pool_name>/workers/filter", WorkerFilterView.as_view(), name="work-pool-workers"),
    path("work_pools/<str:work_pool_name>/workers/<str:name>", WorkerDetailView.as_view(), name="work-pool-worker"),
    path("work_queues/", WorkQueueCreateView.as_view(), name="work-queues"),
    path("work_queues/filter", WorkQueueFilterView.as_view(), name="work-queues-filter"),
    path("work_queues/name/<str:name>", WorkQueueByNameView.as_view(), name="work-queue-by-name"),
    path("work_queues/<str:id>", WorkQueueDetailView.as_view(), name="work-queue"),
    path("work_queues/<str:id>/get_runs", WorkQueueRunsView.as_view(), name="work-queue-runs"),
    path("work_queues/<str:id>/status", WorkQueueStatusView.as_view(), name="work-queue-status"),
]
