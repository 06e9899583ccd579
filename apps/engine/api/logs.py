"""Logs at Prefect 2.20's paths: `POST logs/` (a batch from the client's log worker) and `POST logs/filter`.

A batch of valid logs is paid in the organization's `logs_events` rate-limit bucket alone, one unit per
message, drawn where every other request draws its `api` unit (after membership, before the permission
check and the handler); an empty batch or a body refused 422 draws one `api` unit, as any request. Not
in `api` as well: the prefect client sends a batch at most six times, and a batch that also needed an
`api` token could lose the race for it, refill after refill, to the run's own orchestration requests
(the limiter is not FIFO-fair), and be dropped. A batch is taken whenever the bucket is not empty, even
if it leaves the bucket in debt (events, drawn one by one as the bucket refills, would otherwise starve
a batch that waits for all its units at once); an empty bucket refuses the whole batch with 429 and
Retry-After, and the client sends it again, so nothing is stored twice.
"""

from __future__ import annotations

import contextlib

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.core.api.lean import lean_view, respond
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid
from apps.engine.api.common import page, parse_params
from apps.engine.schemas import logs as schemas
from apps.engine.selectors.logs import log_list
from apps.engine.services.logs import logs_create
from apps.ratelimit.middleware import logs_request_draw

READ, WRITE = "logs:read", "logs:write"


class LogCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    def rate_limit_draw(self, request) -> None:
        """A batch of valid logs is paid in `logs_events`, one unit per message; any other request to this
        URL (an empty batch, a body refused 422, another method) draws its one `api` unit as usual."""
        self.batch = None
        if request.method == "POST" and isinstance(request.data, list):
            with contextlib.suppress(ValidationError):  # post() answers the 422
                self.batch = schemas.log_batch(request.data)
        if not self.batch:
            return super().rate_limit_draw(request)
        return logs_request_draw(request, self.organization, len(self.batch))

    @extend_schema(request=schemas.LogCreate(many=True), responses={201: None}, operation_id="logs_create")
    def post(self, request, **kwargs):
        logs = self.batch
        if logs is None:
            if not isinstance(request.data, list):
                raise Invalid("Expected a list of logs.", loc=["body"], code="type_error.list")
            logs = schemas.log_batch(request.data)
        logs_create(workspace=self.workspace, logs=logs, actor=request.user)
        return respond(status=201)


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
