"""Flows at Prefect 2.20's paths: create (upsert by name), read by id or name, filter, count, update, delete."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.lean import lean_view, respond
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import parse_body, path_uuid, plain
from apps.engine.schemas import filters
from apps.engine.schemas import runs as schemas
from apps.engine.selectors import flow_runs as flow_run_selectors
from apps.engine.selectors import flows as selectors
from apps.engine.services import flows as services

READ, WRITE = "flows:read", "flows:write"


def parse_plain(serializer_class, data) -> dict:
    return plain(parse_body(serializer_class, data))


class FlowCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    def is_work_under_way(self, request) -> bool:
        # A run under way starting a subflow "creates" its flow (the client does it for every subflow, before
        # creating the subflow run). A flow that exists is returned unchanged; a new flow name is allowed while
        # some flow run of the workspace is Running, so a run under way can start a subflow it never ran
        # before. With nothing Running, a new flow is new work (an ad-hoc `python flow.py`): 402. The subflow
        # run itself is then checked on its own (FlowRunCreateView: its parent must be in a Running run).
        name = request.data.get("name") if isinstance(request.data, dict) else None
        if not isinstance(name, str):
            return False
        return (selectors.flow_get_by_name(workspace=self.workspace, name=name) is not None
                or flow_run_selectors.flow_run_any_running(workspace=self.workspace))

    @extend_schema(request=schemas.FlowCreate, responses={201: schemas.Flow, 200: schemas.Flow},
                   operation_id="flow_create")
    def post(self, request, **kwargs):
        data = schemas.flow_create_body(request.data)  # name and tags: str, list of str (nothing to make plain)
        flow, created = services.flow_create(workspace=self.workspace, name=data["name"], tags=data.get("tags", []),
                                             actor=request.user)
        return respond(schemas.flow_json(flow), status=201 if created else 200)


class FlowFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.FlowFilterBody, responses=schemas.Flow(many=True), operation_id="flow_filter")
    def post(self, request, **kwargs):
        body = parse_plain(filters.FlowFilterBody, request.data)
        flows = selectors.flow_list(workspace=self.workspace, body=body, sort=body.get("sort", "NAME_ASC"))
        return Response([schemas.flow_json(flow) for flow in flows[filters.page(body)]])


class FlowCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.FlowCountBody, responses=OpenApiTypes.INT, operation_id="flow_count")
    def post(self, request, **kwargs):
        body = parse_plain(filters.FlowCountBody, request.data)
        return Response(selectors.flow_list(workspace=self.workspace, body=body, sort=None).count())


class FlowByNameView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=schemas.Flow, operation_id="flow_read_by_name")
    def get(self, request, name: str, **kwargs):
        flow = selectors.flow_get_by_name(workspace=self.workspace, name=name)
        if flow is None:
            raise NotFound("Flow not found.")
        return Response(schemas.flow_json(flow))


class FlowDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=schemas.Flow, operation_id="flow_read")
    def get(self, request, id: str, **kwargs):
        flow = selectors.flow_get(workspace=self.workspace, flow_id=path_uuid(id))
        if flow is None:
            raise NotFound("Flow not found.")
        return Response(schemas.flow_json(flow))

    @extend_schema(request=schemas.FlowUpdate, responses={204: None}, operation_id="flow_update")
    def patch(self, request, id: str, **kwargs):
        data = parse_plain(schemas.FlowUpdate, request.data)
        services.flow_update(workspace=self.workspace, flow_id=path_uuid(id), tags=data.get("tags"),
                             actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="flow_delete")
    def delete(self, request, id: str, **kwargs):
        services.flow_delete(workspace=self.workspace, flow_id=path_uuid(id), actor=request.user)
        return Response(status=204)


urlpatterns = [
    path("flows/", lean_view(FlowCreateView), name="flows"),
    path("flows/filter", FlowFilterView.as_view(), name="flows-filter"),
    path("flows/count", FlowCountView.as_view(), name="flows-count"),
    path("flows/name/<str:name>", FlowByNameView.as_view(), name="flow-by-name"),
    path("flows/<str:id>", FlowDetailView.as_view(), name="flow"),
]
