"""Writes for events: validate what a client sends and store it once per workspace."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core import prepared
from apps.core.errors import Invalid
from apps.engine.models.events import Event
from apps.ratelimit import services as ratelimit
from apps.ratelimit.limiter import Decision
from apps.ratelimit.selectors import LOGS_EVENTS

logger = logging.getLogger(__name__)
MAX_BATCH = 1000


def _parse_one(raw, *, received: datetime, workspace) -> Event:
    if not isinstance(raw, dict):
        raise Invalid("An event must be a JSON object.", loc=["body"])
    try:
        event_id = uuid.UUID(str(raw.get("id")))
    except ValueError:
        raise Invalid("id must be a UUID.", loc=["body", "id"]) from None
    occurred = parse_datetime(str(raw.get("occurred") or ""))
    if occurred is None:
        raise Invalid("occurred must be an ISO-8601 datetime.", loc=["body", "occurred"])
    if timezone.is_naive(occurred):
        occurred = timezone.make_aware(occurred, timezone.utc)
    name = raw.get("event")
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise Invalid("event must be a non-empty string of at most 1024 characters.", loc=["body", "event"])
    resource = raw.get("resource")
    if not isinstance(resource, dict) or not isinstance(resource.get("prefect.resource.id"), str):
        raise Invalid("resource must be an object with a prefect.resource.id.", loc=["body", "resource"])
    related = raw.get("related") or []
    if not isinstance(related, list) or not all(
        isinstance(r, dict) and isinstance(r.get("prefect.resource.id"), str) for r in related
    ):
        raise Invalid("related must be a list of resources with a prefect.resource.id.", loc=["body", "related"])
    payload = raw.get("payload") or {}
    if not isinstance(payload, dict):
        raise Invalid("payload must be an object.", loc=["body", "payload"])
    follows = raw.get("follows")
    try:
        follows = uuid.UUID(str(follows)) if follows else None
    except ValueError:
        raise Invalid("follows must be a UUID.", loc=["body", "follows"]) from None
    return Event(workspace=workspace, event_id=event_id, occurred=occurred, event=name,
                 resource_id=resource["prefect.resource.id"][:1024], resource=resource, related=related,
                 payload=payload, follows=follows, received=received)


def events_record(*, workspace, events: list[dict]) -> int:
    """Validate and store a batch of events (all or none: one bad event is a 422 for the batch).
    An event id already stored in the workspace is skipped, so client resends are harmless.
    Returns the number of events received."""
    if len(events) > MAX_BATCH:
        raise Invalid(f"At most {MAX_BATCH} events per request.", loc=["body"])
    received = timezone.now()
    rows = [_parse_one(raw, received=received, workspace=workspace) for raw in events]
    Event.objects.for_workspace(workspace).bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def event_record_from_stream(*, workspace, raw, force: bool = False) -> Decision | None:
    """Store one event read from the websocket, drawing its unit from the organization's `logs_events`
    bucket first, in this same call (the consumer's one thread hop per event; the draw is one Redis round
    trip, failing open onto the in-process limiter as every draw does).

    Returns the draw's Decision: allowed → stored (a resent event id is skipped, yet counts again);
    refused → nothing stored, retry after `retry_after`. With `force` (an event read off a socket the
    consumer is closing, which the client may count as delivered) the event is stored first and its unit
    then taken even from an empty bucket, leaving it in debt; a resend already stored is not counted
    again there, so a client resending into a closing socket cannot dig the debt deeper. A malformed event
    is logged and dropped without a draw, as a refused log batch draws nothing, and None is returned:
    closing the stream would make the client reconnect and resend it forever."""
    try:
        event = _parse_one(raw, received=timezone.now(), workspace=workspace)
    except Invalid as exc:
        logger.warning("dropped a malformed event for workspace %s: %s", workspace.pk, exc.detail)
        return None
    # One statement built once per process (apps/core/prepared.py); a resent event id is skipped.
    if force:
        if not prepared.insert(event, ignore_conflicts=True):
            return None
        return ratelimit.consume(workspace.organization, LOGS_EVENTS, 1, force=True)
    decision = ratelimit.consume(workspace.organization, LOGS_EVENTS, 1)
    if decision.allowed:
        prepared.insert(event, ignore_conflicts=True)
    return decision
