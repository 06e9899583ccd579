"""Reads of the audit trail: filtered cursor pages for the API and pages, and chain verification."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from apps.audit.models import AuditEvent
from apps.audit.services import GENESIS_HASH, compute_hash
from apps.billing.catalog import Feature
from apps.billing.services import entitlement_check
from apps.core.errors import Invalid

RETENTION_ACTION = "praetor.audit.retention_applied"


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "seq":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise Invalid("cursor is not a cursor this API returned.", loc=["query", "cursor"]) from None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    next_cursor: str | None


def audit_event_list(
    *,
    organization_id,
    limit: int = 50,
    cursor: str | None = None,
    action: str | None = None,
    actor_id=None,
    workspace_id=None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AuditPage:
    """The organization's events, newest first, `limit` at a time. The cursor is the last seq seen, so
    pages stay stable while new events are appended (no offset drift)."""
    qs: QuerySet = AuditEvent.objects.filter(organization_id=organization_id)
    if cursor:
        qs = qs.filter(seq__lt=decode_cursor(cursor))
    if action:
        qs = qs.filter(action=action)
    if actor_id:
        qs = qs.filter(actor_id=actor_id)
    if workspace_id:
        qs = qs.filter(workspace_id=workspace_id)
    if since:
        qs = qs.filter(occurred__gte=since)
    if until:
        qs = qs.filter(occurred__lt=until)
    rows = list(qs.order_by("-seq")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return AuditPage(rows[:limit], next_cursor)


@dataclass(frozen=True)
class ChainReport:
    organization_id: object
    events: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_chain_verify(*, organization_id, batch_size: int = 2000) -> ChainReport:
    """Recompute every event's hash and check each links to its predecessor, in seq order.

    Where retention deleted the start of the chain, the first remaining event must continue from the
    seq and hash recorded by a retention checkpoint; anything else (an edited, inserted or removed row)
    is reported with its seq.
    """
    qs = AuditEvent.objects.filter(organization_id=organization_id).order_by("seq")
    problems: list[str] = []
    count = 0
    prev = first = None
    checkpoints: dict[int, str] = {}
    last_seq = 0
    while True:
        batch = list(qs.filter(seq__gt=last_seq)[:batch_size])
        if not batch:
            break
        for event in batch:
            count += 1
            if compute_hash(event) != event.hash:
                problems.append(f"seq {event.seq}: contents do not match its hash (edited).")
            if event.action == RETENTION_ACTION:
                details = event.details or {}
                if isinstance(details.get("deleted_through_seq"), int):
                    checkpoints[details["deleted_through_seq"]] = details.get("deleted_through_hash", "")
            if prev is None:
                first = event
            else:
                if event.seq != prev.seq + 1:
                    problems.append(f"seq {prev.seq + 1}..{event.seq - 1}: missing (deleted).")
                if event.prev_hash != prev.hash:
                    problems.append(f"seq {event.seq}: does not link to seq {prev.seq}.")
            prev = event
        last_seq = batch[-1].seq
    if count:
        if first.seq == 1:
            if first.prev_hash != GENESIS_HASH:
                problems.append("seq 1: does not start from the genesis hash.")
        elif checkpoints.get(first.seq - 1) != first.prev_hash:
            problems.append(f"seq 1..{first.seq - 1}: missing without a retention checkpoint.")
    return ChainReport(organization_id, count, problems)


def audit_chain_ids() -> list:
    """Every chain: each organization with events, plus the organization-less chain (None) if used."""
    return list(AuditEvent.objects.order_by().values_list("organization_id", flat=True).distinct())


def audit_trail_require_tier(organization) -> None:
    """The audit trail is listed where the tier includes it (Enterprise); it is recorded for every tier."""
    entitlement_check(organization=organization, feature_or_limit=Feature.AUDIT_TRAIL)
