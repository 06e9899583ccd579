"""A workspace's service routes, answered as Prefect 2.20's server answers them: `health` (true),
`hello` ("👋"), `version` (the REST API version the client sends as X-PREFECT-API-VERSION),
`admin/version` (the Prefect release whose API this is) and `csrf-token`, which the client only probes:
CSRF protection does not apply to API keys, so it answers 422 "CSRF protection is disabled.", the
answer on which the client turns its CSRF support off."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid

READ = "workspace:read"
# The Prefect release whose REST API the engine serves, and that release's API version.
PREFECT_VERSION = "2.20.26"
PREFECT_API_VERSION = "0.8.4"


class HealthView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=OpenApiTypes.BOOL, operation_id="workspace_health")
    def get(self, request, **kwargs):
        return Response(True)


class HelloView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=OpenApiTypes.STR, operation_id="workspace_hello")
    def get(self, request, **kwargs):
        return Response("👋")


class ApiVersionView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=OpenApiTypes.STR, operation_id="workspace_api_version")
    def get(self, request, **kwargs):
        return Response(PREFECT_API_VERSION)


class AdminVersionView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=OpenApiTypes.STR, operation_id="workspace_prefect_version")
    def get(self, request, **kwargs):
        return Response(PREFECT_VERSION)


class CsrfTokenView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(parameters=[OpenApiParameter("client", OpenApiTypes.STR, required=True)],
                   responses={422: None}, operation_id="workspace_csrf_token")
    def get(self, request, **kwargs):
        if not request.query_params.get("client"):
            raise Invalid("field required", loc=["query", "client"], code="missing")
        response = Response({"detail": "CSRF protection is disabled."}, status=422)
        # The answer every client expects of its probe (once per flow run, bench/client_mix.py), not an error:
        # Django would log each as a warning ("Unprocessable Entity: …") unless the response says it is logged.
        response._has_been_logged = True
        return response


urlpatterns = [
    path("health", HealthView.as_view(), name="workspace-health"),
    path("hello", HelloView.as_view(), name="workspace-hello"),
    path("version", ApiVersionView.as_view(), name="workspace-api-version"),
    path("admin/version", AdminVersionView.as_view(), name="workspace-admin-version"),
    path("csrf-token", CsrfTokenView.as_view(), name="workspace-csrf-token"),
]
