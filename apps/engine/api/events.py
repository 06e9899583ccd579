"""Events over HTTP: `POST events` (ingest), `POST events/filter` and `GET events/filter/next` (Cloud's
EventPage shape). The websocket `events/in` stream is apps/engine/api/events_stream.py."""

from __future__ import annotations

from django.core import signing
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid
from apps.engine.schemas import events as schemas
from apps.engine.selectors.events import event_list
from apps.engine.services.events import events_record

READ, WRITE = "events:read", "events:write"
_TOKEN_SALT = "praetor.engine.events.page"
_TOKEN_MAX_AGE = 3600


def _page(view, request, event_filter: dict, limit: int, offset: int) -> Response:
    qs = event_list(workspace=view.workspace, event_filter=event_filter)
    total = qs.count()
    events = list(qs[offset: offset + limit])
    next_page = None
    if offset + limit < total and limit:
        token = signing.dumps({"w": str(view.workspace.pk), "f": event_filter, "l": limit, "o": offset + limit},
                              salt=_TOKEN_SALT, compress=True)
        url = reverse("events-filter-next", kwargs={"account_id": view.kwargs["account_id"],
                                                    "workspace_id": view.kwargs["workspace_id"]})
        next_page = request.build_absolute_uri(f"{url}?page-token={token}")
    return Response(schemas.EventPage({"events": events, "total": total, "next_page": next_page}).data)


class EventsCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.EventInput(many=True), responses={204: None}, operation_id="events_create")
    def post(self, request, **kwargs):
        if not isinstance(request.data, list):
            raise Invalid("Expected a list of events.", loc=["body"])
        events_record(workspace=self.workspace, events=request.data)
        return Response(status=204)


class EventsFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.EventFilterBody, responses=schemas.EventPage, operation_id="events_filter")
    def post(self, request, **kwargs):
        body = schemas.EventFilterBody(data=request.data if request.data is not None else {})
        body.is_valid(raise_exception=True)
        # The filter travels in the next-page token, so keep it in its JSON form.
        raw_filter = (request.data or {}).get("filter") or {}
        return _page(self, request, {**raw_filter, **_normalised(body.validated_data.get("filter") or {})},
                     body.validated_data["limit"], 0)


def _normalised(validated: dict) -> dict:
    """Validated datetimes → ISO strings (JSON-safe for the page token); the selector parses them back."""
    out = dict(validated)
    occurred = out.get("occurred") or {}
    out["occurred"] = {k: v.isoformat() for k, v in occurred.items() if v is not None}
    if ids := (out.get("id") or {}).get("id"):
        out["id"] = {"id": [str(i) for i in ids]}
    return out


class EventsFilterNextView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(parameters=[OpenApiParameter("page-token", OpenApiTypes.STR, required=True)],
                   responses=schemas.EventPage, operation_id="events_filter_next")
    def get(self, request, **kwargs):
        try:
            token = signing.loads(request.query_params.get("page-token", ""), salt=_TOKEN_SALT,
                                  max_age=_TOKEN_MAX_AGE)
        except signing.BadSignature:
            raise Invalid("Invalid or expired page token.", loc=["query", "page-token"]) from None
        if token.get("w") != str(self.workspace.pk):
            raise Invalid("Invalid or expired page token.", loc=["query", "page-token"])
        return _page(self, request, token["f"], token["l"], token["o"])


urlpatterns = [
    path("events", EventsCreateView.as_view(), name="events"),
    path("events/filter", EventsFilterView.as_view(), name="events-filter"),
    path("events/filter/next", EventsFilterNextView.as_view(), name="events-filter-next"),
]
