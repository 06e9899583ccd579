"""Logs at Prefect 2.20's paths: `POST logs/` (a batch from the client's log worker) and `POST logs/filter`.

Every log message counts one against the organization's `logs_events` rate-limit bucket (the request
itself counts against `api` like any other). A batch is taken whenever the bucket is not empty, even
if it leaves the bucket in debt (events, drawn one by one as the bucket refills, would otherwise starve
a batch that waits for all its units at once, and the client drops a batch after five 429s); an empty
bucket refuses the whole batch with 429 and Retry-After, and the client sends it again, so nothing is
stored twice.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.lean import lean_view
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid
from apps.engine.api.common import page, parse_params
from apps.engine.schemas import logs as schemas
from apps.engine.selectors.logs import log_list
from apps.engine.services.logs import logs_create
from apps.ratelimit import services as ratelimit
from apps.ratelimit.selectors import LOGS_EVENTS

READ, WRITE = "logs:read", "logs:write"


class LogCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.LogCreate(many=True), responses={201: None}, operation_id="logs_create")
    def post(self, request, **kwargs):
        if not isinstance(request.data, list):
            raise Invalid("Expected a list of logs.", loc=["body"], code="type_error.list")
        logs = schemas.log_batch(request.data)
        if logs:
            ratelimit.enforce(self.organization, LOGS_EVENTS, n=len(logs), batch=True)
        logs_create(workspace=self.workspace, logs=logs, actor=request.user)
        return Response(status=201)


class LogFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.LogFilterBody, responses=schemas.Log(many=True), operation_id="logs_filter")
    def post(self, request, **kwargs):
        data = parse_params(schemas.LogFilterBody, request.data)
        logs = log_list(workspace=self.workspace, logs=data.get("logs"), sort=data["sort"])
        return Response(schemas.Log(page(logs, data), many=True).data)


urlpatterns = [
    path("logs/", lean_view(LogCreateView), name="logs"),
    path("logs/filter", LogFilterView.as_view(), name="logs-filter"),
]
