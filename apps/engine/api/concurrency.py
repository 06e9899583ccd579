"""Concurrency limits at Prefect 2.20's paths: tag-based limits (v1, `concurrency_limits/`) and global
limits (v2, `v2/concurrency_limits/`) with their atomic `increment`/`decrement` of slots."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import page, parse_body, parse_params, path_uuid
from apps.engine.schemas import concurrency as schemas
from apps.engine.selectors import concurrency as selectors
from apps.engine.services import concurrency as services

READ, WRITE = "concurrency_limits:read", "concurrency_limits:write"


# v1: tag-based


class ConcurrencyLimitCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.ConcurrencyLimitCreate, responses={200: schemas.ConcurrencyLimit,
                                                                      201: schemas.ConcurrencyLimit},
                   operation_id="concurrency_limit_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.ConcurrencyLimitCreate, request.data)
        row, created = services.concurrency_limit_upsert(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.ConcurrencyLimit(row).data, status=201 if created else 200)


class ConcurrencyLimitFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.PageBody, responses=schemas.ConcurrencyLimit(many=True),
                   operation_id="concurrency_limit_filter")
    def post(self, request, **kwargs):
        body = parse_params(schemas.PageBody, request.data)
        rows = page(selectors.concurrency_limit_list(workspace=self.workspace), body)
        return Response(schemas.ConcurrencyLimit(rows, many=True).data)


@extend_schema(responses=schemas.ConcurrencyLimit)
class ConcurrencyLimitDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "DELETE": WRITE}

    def get(self, request, id, **kwargs):
        row = selectors.concurrency_limit_get(workspace=self.workspace, limit_id=path_uuid(id))
        if row is None:
            raise NotFound("Concurrency limit not found")
        return Response(schemas.ConcurrencyLimit(row).data)

    def delete(self, request, id, **kwargs):
        services.concurrency_limit_delete(workspace=self.workspace, limit_id=path_uuid(id), actor=request.user)
        return Response(status=200)


@extend_schema(responses=schemas.ConcurrencyLimit)
class ConcurrencyLimitByTagView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "DELETE": WRITE}

    def get(self, request, tag, **kwargs):
        row = selectors.concurrency_limit_get_by_tag(workspace=self.workspace, tag=tag)
        if row is None:
            raise NotFound("Concurrency limit not found")
        return Response(schemas.ConcurrencyLimit(row).data)

    def delete(self, request, tag, **kwargs):
        services.concurrency_limit_delete(workspace=self.workspace, tag=tag, actor=request.user)
        return Response(status=200)


class ConcurrencyLimitResetView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.ConcurrencyLimitReset, responses={200: None},
                   operation_id="concurrency_limit_reset")
    def post(self, request, tag, **kwargs):
        data = parse_params(schemas.ConcurrencyLimitReset, request.data)
        services.concurrency_limit_reset(workspace=self.workspace, tag=tag, slot_override=data.get("slot_override"),
                                         actor=request.user)
        return Response(status=200)


# v2: global


class ConcurrencyLimitV2CreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.ConcurrencyLimitV2Create, responses={201: schemas.ConcurrencyLimitV2},
                   operation_id="concurrency_limit_v2_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.ConcurrencyLimitV2Create, request.data)
        row = services.concurrency_limit_v2_create(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.ConcurrencyLimitV2(row).data, status=201)


class ConcurrencyLimitV2FilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.PageBody, responses=schemas.GlobalConcurrencyLimitResponse(many=True),
                   operation_id="concurrency_limit_v2_filter")
    def post(self, request, **kwargs):
        body = parse_params(schemas.PageBody, request.data)
        rows = page(selectors.concurrency_limit_v2_list(workspace=self.workspace), body)
        return Response(schemas.GlobalConcurrencyLimitResponse(rows, many=True).data)


@extend_schema(responses=schemas.GlobalConcurrencyLimitResponse, request=schemas.ConcurrencyLimitV2Update)
class ConcurrencyLimitV2DetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    def get(self, request, id_or_name, **kwargs):
        row = selectors.concurrency_limit_v2_get(workspace=self.workspace, id_or_name=id_or_name)
        if row is None:
            raise NotFound("Concurrency Limit not found")
        return Response(schemas.GlobalConcurrencyLimitResponse(row).data)

    def patch(self, request, id_or_name, **kwargs):
        changes = parse_body(schemas.ConcurrencyLimitV2Update, request.data)
        services.concurrency_limit_v2_update(workspace=self.workspace, id_or_name=id_or_name, changes=dict(changes),
                                             actor=request.user)
        return Response(status=204)

    def delete(self, request, id_or_name, **kwargs):
        services.concurrency_limit_v2_delete(workspace=self.workspace, id_or_name=id_or_name, actor=request.user)
        return Response(status=204)


class ConcurrencyIncrementView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.ConcurrencyIncrementBody,
                   responses={200: schemas.MinimalConcurrencyLimitResponse(many=True), 423: None},
                   operation_id="concurrency_limit_v2_increment")
    def post(self, request, **kwargs):
        data = parse_params(schemas.ConcurrencyIncrementBody, request.data)
        limits = services.concurrency_slots_increment(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.MinimalConcurrencyLimitResponse(limits, many=True).data)


class ConcurrencyDecrementView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.ConcurrencyDecrementBody,
                   responses=schemas.MinimalConcurrencyLimitResponse(many=True),
                   operation_id="concurrency_limit_v2_decrement")
    def post(self, request, **kwargs):
        data = parse_params(schemas.ConcurrencyDecrementBody, request.data)
        limits = services.concurrency_slots_decrement(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.MinimalConcurrencyLimitResponse(limits, many=True).data)


urlpatterns = [
    path("concurrency_limits/", ConcurrencyLimitCreateView.as_view(), name="concurrency-limits"),
    path("concurrency_limits/filter", ConcurrencyLimitFilterView.as_view(), name="concurrency-limits-filter"),
    path("concurrency_limits/tag/<str:tag>", ConcurrencyLimitByTagView.as_view(), name="concurrency-limit-by-tag"),
    path("concurrency_limits/tag/<str:tag>/reset", ConcurrencyLimitResetView.as_view(),
         name="concurrency-limit-reset"),
    path("concurrency_limits/<str:id>", ConcurrencyLimitDetailView.as_view(), name="concurrency-limit"),
    path("v2/concurrency_limits/", ConcurrencyLimitV2CreateView.as_view(), name="concurrency-limits-v2"),
    path("v2/concurrency_limits/filter", ConcurrencyLimitV2FilterView.as_view(), name="concurrency-limits-v2-filter"),
    path("v2/concurrency_limits/increment", ConcurrencyIncrementView.as_view(), name="concurrency-limits-v2-increment"),
    path("v2/concurrency_limits/decrement", ConcurrencyDecrementView.as_view(), name="concurrency-limits-v2-decrement"),
    path("v2/concurrency_limits/<str:id_or_name>", ConcurrencyLimitV2DetailView.as_view(),
         name="concurrency-limit-v2"),
]
