"""GET /api/accounts/{a}/audit_events: the organization's audit trail, newest first, cursor-paginated.
Enterprise organizations only (402 below)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.audit.api.serializers import AuditEventPageOutput, AuditEventQuery
from apps.audit.selectors import audit_event_list, audit_trail_require_tier
from apps.core.api.views import AccountAPIView


class AuditEventsView(AccountAPIView):
    required_permissions = {"GET": "organization:manage"}
    pagination_class = None

    @extend_schema(
        parameters=[AuditEventQuery], responses=AuditEventPageOutput, operation_id="audit_events_list",
        description="Newest first. Pass next_cursor back as ?cursor= for the next page; null means the end.",
    )
    def get(self, request, account_id):
        audit_trail_require_tier(self.organization)
        query = AuditEventQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        page = audit_event_list(
            organization_id=self.organization.pk, limit=q["limit"], cursor=q.get("cursor") or None,
            action=q.get("event"), actor_id=q.get("actor_id"), workspace_id=q.get("workspace_id"),
            since=q.get("since"), until=q.get("until"),
        )
        return Response(AuditEventPageOutput({"results": page.events, "next_cursor": page.next_cursor}).data)


