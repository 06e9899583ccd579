"""Workspaces of an account: Prefect Cloud's `/accounts/{a}/workspaces/` paths and shape. Lists and reads
show only the workspaces the caller can open; creating, changing and deleting take Owner or Admin, and
creating past the tier's workspace limit is 402."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.inputs import any_of, body, page, valid
from apps.core.api.views import AccountAPIView
from apps.workspaces import selectors, services
from apps.workspaces.api import serializers as s

READ = "organization:read"
MANAGE = "organization:manage"  # checked by the workspace services


class WorkspacesView(AccountAPIView):
    required_permissions = {"GET": READ, "POST": MANAGE}

    @extend_schema(responses=s.WorkspaceOutput(many=True), operation_id="workspaces_list")
    def get(self, request, account_id):
        rows = selectors.workspace_list_reachable(organization=self.organization, actor=request.user)
        return Response([s.workspace_row(w) for w in page(rows, request.query_params)])

    @extend_schema(request=s.WorkspaceCreateInput, responses={201: s.WorkspaceOutput}, operation_id="workspaces_create")
    def post(self, request, account_id):
        data = valid(s.WorkspaceCreateInput, body(request))
        workspace = services.workspace_create(organization=self.organization, name=data["name"],
                                              handle=data["handle"], description=data["description"] or "",
                                              actor=request.user)
        return Response(s.workspace_row(workspace), status=status.HTTP_201_CREATED)


class WorkspacesFilterView(AccountAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=s.WorkspaceFilterInput, responses=s.WorkspaceOutput(many=True),
                   operation_id="workspaces_filter")
    def post(self, request, account_id):
        data = valid(s.WorkspaceFilterInput, body(request))
        rows = selectors.workspace_list_reachable(organization=self.organization, actor=request.user,
                                                  handles=any_of(data.get("workspaces"), "handle"))
        return Response([s.workspace_row(w) for w in page(rows, data)])


class WorkspaceDetailView(AccountAPIView):
    """GET, PATCH and DELETE one workspace. The workspace is looked up among those the caller can open before
    anything else, so one it cannot open is 404 whatever the method (never a 403 that confirms it exists);
    PATCH and DELETE then take organization:manage, checked by the service (403 naming it)."""

    required_permissions = {"GET": READ, "PATCH": READ, "DELETE": READ}

    def _workspace(self, request, workspace_id):
        return selectors.workspace_get_reachable(organization=self.organization, actor=request.user,
                                                 workspace_id=workspace_id)

    @extend_schema(responses=s.WorkspaceOutput, operation_id="workspaces_read")
    def get(self, request, account_id, workspace_id):
        return Response(s.workspace_row(self._workspace(request, workspace_id)))

    @extend_schema(request=s.WorkspaceUpdateInput, responses=s.WorkspaceOutput, operation_id="workspaces_update",
                   description="Changing the handle changes the `account/workspace` slug clients log in with; the "
                               "ids in API URLs stay.")
    def patch(self, request, account_id, workspace_id):
        workspace = self._workspace(request, workspace_id)
        data = valid(s.WorkspaceUpdateInput, body(request))
        workspace = services.workspace_update(workspace=workspace, actor=request.user, name=data.get("name"),
                                              handle=data.get("handle"), description=data.get("description"))
        return Response(s.workspace_row(workspace))

    @extend_schema(responses={204: None}, operation_id="workspaces_delete",
                   description="Deletes the workspace and all of its orchestration data.")
    def delete(self, request, account_id, workspace_id):
        services.workspace_delete(workspace=self._workspace(request, workspace_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
