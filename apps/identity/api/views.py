"""/api/me and /api/me/workspaces: who the caller is and which workspaces it reaches."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import AUTHENTICATED, PraetorAPIView
from apps.identity.api.serializers import MeOutput, MeWorkspaceOutput
from apps.workspaces.selectors import workspace_list_for_actor


class MeView(PraetorAPIView):
    required_permissions = {"GET": AUTHENTICATED}

    @extend_schema(responses=MeOutput, operation_id="me_read")
    def get(self, request):
        actor = request.user
        is_user = actor.actor_type == "user"
        return Response(
            MeOutput(
                {
                    "id": actor.pk,
                    "actor_id": actor.pk,
                    "email": actor.email if is_user else None,
                    "handle": actor.handle if is_user else str(actor.pk),
                    "first_name": actor.first_name if is_user else actor.name,
                    "last_name": actor.last_name if is_user else "",
                    "actor_type": actor.actor_type,
                }
            ).data
        )


class MeWorkspacesView(PraetorAPIView):
    """What `prefect cloud login` reads to list the workspaces a key can use."""

    required_permissions = {"GET": AUTHENTICATED}

    @extend_schema(responses=MeWorkspaceOutput(many=True), operation_id="me_workspaces_list")
    def get(self, request):
        rows = [
            {
                "account_id": ws.organization_id,
                "account_name": ws.organization.name,
                "account_handle": ws.organization.handle,
                "workspace_id": ws.pk,
                "workspace_name": ws.name,
                "workspace_description": ws.description,
                "workspace_handle": ws.handle,
            }
            for ws in workspace_list_for_actor(actor=request.user)
        ]
        return Response(MeWorkspaceOutput(rows, many=True).data)
