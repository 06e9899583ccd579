"""Flow run inputs at Prefect 2.20's paths: `flow_runs/{id}/input` (create), `…/input/filter` (by key
prefix), `…/input/{key}` (read as plain text, delete). A run of another workspace is not found (404)."""

from __future__ import annotations

import uuid

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import parse_body, path_uuid
from apps.engine.schemas import flow_run_inputs as schemas
from apps.engine.selectors import flow_run_inputs as selectors
from apps.engine.services import flow_run_inputs as services

READ, WRITE = "flow_runs:read", "flow_runs:write"
FILTER = "filter"


class FlowRunInputCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    def is_work_under_way(self, request) -> bool:
        # A read-only workspace lets runs under way finish: one pausing for input saves its schema here after
        # its Paused state is accepted, and flows under way send each other input.
        try:
            run_id = uuid.UUID(str(self.kwargs.get("id")))
        except ValueError:
            return False
        return selectors.flow_run_is_under_way(workspace=self.workspace, flow_run_id=run_id)

    @extend_schema(request=schemas.FlowRunInputCreate, responses={201: None}, operation_id="flow_run_input_create")
    def post(self, request, id: str, **kwargs):
        data = parse_body(schemas.FlowRunInputCreate, request.data)
        services.flow_run_input_create(workspace=self.workspace, flow_run_id=path_uuid(id), actor=request.user,
                                       **data)
        # Prefect's handler returns nothing, which FastAPI renders as a JSON null
        return HttpResponse(b"null", status=201, content_type="application/json")


def _read(workspace, run_id: str, key: str) -> HttpResponse:
    row = selectors.flow_run_input_get(workspace=workspace, flow_run_id=path_uuid(run_id), key=key)
    if row is None:
        raise NotFound("Flow run input not found")
    return HttpResponse(row.value, content_type="text/plain; charset=utf-8")


def _delete(workspace, run_id: str, key: str, actor) -> Response:
    services.flow_run_input_delete(workspace=workspace, flow_run_id=path_uuid(run_id), key=key, actor=actor)
    return Response(status=204)


class FlowRunInputKeyView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "DELETE": WRITE}

    @extend_schema(responses={(200, "text/plain"): OpenApiTypes.STR}, operation_id="flow_run_input_read")
    def get(self, request, id: str, key: str, **kwargs):
        return _read(self.workspace, id, key)

    @extend_schema(responses={204: None}, operation_id="flow_run_input_delete")
    def delete(self, request, id: str, key: str, **kwargs):
        return _delete(self.workspace, id, key, request.user)


class FlowRunInputFilterView(WorkspaceAPIView):
    """`POST …/input/filter`. On Prefect's server the filter route takes only POST, so GET and DELETE of
    this path reach the key route: they read and delete the input whose key is "filter"."""

    required_permissions = {"POST": READ, "GET": READ, "DELETE": WRITE}

    @extend_schema(request=schemas.FlowRunInputFilterBody, responses=schemas.FlowRunInputResponse(many=True),
                   operation_id="flow_run_input_filter")
    def post(self, request, id: str, **kwargs):
        run_id = path_uuid(id)
        body = parse_body(schemas.FlowRunInputFilterBody, request.data)
        if not selectors.flow_run_exists(workspace=self.workspace, flow_run_id=run_id):
            raise NotFound("Flow run not found")
        rows = selectors.flow_run_input_list(workspace=self.workspace, flow_run_id=run_id, prefix=body["prefix"],
                                             exclude_keys=body["exclude_keys"], limit=body["limit"])
        return Response([schemas.flow_run_input_json(row) for row in rows])

    @extend_schema(exclude=True)  # documented as flow_run_input_read
    def get(self, request, id: str, **kwargs):
        return _read(self.workspace, id, FILTER)

    @extend_schema(exclude=True)  # documented as flow_run_input_delete
    def delete(self, request, id: str, **kwargs):
        return _delete(self.workspace, id, FILTER, request.user)


urlpatterns = [
    path("flow_runs/<str:id>/input", FlowRunInputCreateView.as_view(), name="flow-run-inputs"),
    path("flow_runs/<str:id>/input/filter", FlowRunInputFilterView.as_view(), name="flow-run-inputs-filter"),
    path("flow_runs/<str:id>/input/<str:key>", FlowRunInputKeyView.as_view(), name="flow-run-input"),
]
