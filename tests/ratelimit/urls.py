"""The project's URLs plus probe endpoints of an account and a workspace, standing in for endpoints that
draw from the `logs_events` bucket or answer 4xx from inside the handler (the request hook is the
base views', the same as every real endpoint's)."""

from django.urls import path
from rest_framework.response import Response

from apps.core.api.views import AccountAPIView, WorkspaceAPIView
from apps.core.errors import Invalid, NotFound
from apps.ratelimit import services
from config.urls import urlpatterns as project_urlpatterns


class WorkspaceProbeView(WorkspaceAPIView):
    required_permissions = {"GET": "flows:read", "POST": "logs:write"}

    def get(self, request, account_id, workspace_id):
        outcome = request.query_params.get("outcome", "ok")
        if outcome == "not_found":
            raise NotFound("Flow not found.")
        if outcome == "invalid":
            raise Invalid("limit must be an integer", loc=["query", "limit"])
        return Response({"workspace": str(self.workspace.pk)})

    def post(self, request, account_id, workspace_id):
        # As the engine's POST logs/ does: each message of the batch is one unit of logs_events.
        services.enforce(self.organization, "logs_events", len(request.data))
        return Response(None, status=201)


class AccountProbeView(AccountAPIView):
    required_permissions = {"GET": "organization:read", "POST": "organization:own"}

    def get(self, request, account_id):
        return Response({"account": str(self.organization.pk)})

    def post(self, request, account_id):
        return Response(None, status=201)


urlpatterns = [
    path("api/accounts/<str:account_id>/workspaces/<str:workspace_id>/probe", WorkspaceProbeView.as_view()),
    path("api/accounts/<str:account_id>/probe", AccountProbeView.as_view()),
    *project_urlpatterns,
]
