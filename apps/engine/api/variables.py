"""Variables at Prefect 2.20's paths: create, read/update/delete by id or by name, filter, count."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import page, parse_body, parse_params, path_uuid, plain
from apps.engine.schemas import variables as schemas
from apps.engine.selectors import variables as selectors
from apps.engine.services import variables as services

READ, WRITE = "variables:read", "variables:write"


class VariableCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.VariableCreate, responses={201: schemas.Variable}, operation_id="variable_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.VariableCreate, request.data)
        variable = services.variable_create(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.Variable(variable).data, status=201)


class VariableFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.VariableFilterBody, responses=schemas.Variable(many=True),
                   operation_id="variable_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.VariableFilterBody, request.data))
        qs = selectors.variable_list(workspace=self.workspace, variables=body.get("variables"), sort=body["sort"])
        return Response(schemas.Variable(page(qs, body), many=True).data)


class VariableCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.VariableCountBody, responses=OpenApiTypes.INT, operation_id="variable_count")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.VariableCountBody, request.data))
        return Response(selectors.variable_list(workspace=self.workspace, variables=body.get("variables")).count())


class _VariableDetail(WorkspaceAPIView):
    abstract = True
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    by_name = False  # the URL names the variable (variables/name/{name}) instead of its id

    def lookup(self, kwargs) -> dict:
        return {"name": kwargs["name"]} if self.by_name else {"variable_id": path_uuid(kwargs["id"])}

    def get(self, request, **kwargs):
        found = self.lookup(kwargs)
        variable = (selectors.variable_get(workspace=self.workspace, variable_id=found["variable_id"])
                    if "variable_id" in found else
                    selectors.variable_get_by_name(workspace=self.workspace, name=found["name"]))
        if variable is None:
            raise NotFound("Variable not found.")
        return Response(schemas.Variable(variable).data)

    def patch(self, request, **kwargs):
        changes = parse_body(schemas.VariableUpdate, request.data)
        services.variable_update(workspace=self.workspace, changes=dict(changes), actor=request.user,
                                 **self.lookup(kwargs))
        return Response(status=204)

    def delete(self, request, **kwargs):
        services.variable_delete(workspace=self.workspace, actor=request.user, **self.lookup(kwargs))
        return Response(status=204)


@extend_schema(responses=schemas.Variable, request=schemas.VariableUpdate)
class VariableDetailView(_VariableDetail):
    """A variable by its id: variables/{id}."""


@extend_schema(responses=schemas.Variable, request=schemas.VariableUpdate)
class VariableByNameView(_VariableDetail):
    by_name = True


urlpatterns = [
    path("variables/", VariableCreateView.as_view(), name="variables"),
    path("variables/filter", VariableFilterView.as_view(), name="variables-filter"),
    path("variables/count", VariableCountView.as_view(), name="variables-count"),
    path("variables/name/<str:name>", VariableByNameView.as_view(), name="variable-by-name"),
    path("variables/<str:id>", VariableDetailView.as_view(), name="variable"),
]
