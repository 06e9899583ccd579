"""Writing the audit trail: `audit_record()` appends one hash-chained event inside the caller's transaction;
retention deletes the oldest events and leaves a checkpoint so the rest still verifies."""

from __future__ import annotations

import hashlib
import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.actions import ACTIONS
from apps.audit.models import ActorType, AuditEvent

GENESIS_HASH = "0" * 64
USER_AGENT_MAX = 512


@dataclass(frozen=True)
class RequestContext:
    """Where an action came from; built by the web/API layer, passed to services as plain data."""

    ip_address: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> RequestContext:
        if request is None:
            return cls()
        meta = getattr(request, "META", {})
        # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it,
        # and the deployment's proxy is expected to set REMOTE_ADDR (gunicorn forwarded_allow_ips).
        return cls(ip_address=meta.get("REMOTE_ADDR") or None, user_agent=meta.get("HTTP_USER_AGENT", "")[:512])


_CURRENT_CONTEXT: ContextVar[RequestContext | None] = ContextVar("praetor_audit_request_context", default=None)


def current_request_context() -> RequestContext:
    """The request being served (set by apps.audit.context.AuditContextMiddleware), or an empty context."""
    return _CURRENT_CONTEXT.get() or RequestContext()


def _actor_fields(actor) -> tuple[str, uuid.UUID | None, str]:
    if actor is None:
        return ActorType.SYSTEM, None, ""
    actor_type = getattr(actor, "actor_type", None)
    if actor_type == "user":
        return ActorType.USER, actor.pk, actor.email
    if actor_type == "service_account":
        return ActorType.SERVICE_ACCOUNT, actor.pk, actor.name
    return ActorType.ANONYMOUS, None, ""


def canonical_payload(event: AuditEvent) -> bytes:
    """The bytes the hash covers: every column but `id` and `hash`, in a fixed order and encoding."""
    occurred = event.occurred.astimezone(UTC).isoformat(timespec="microseconds")
    row = [
        str(event.organization_id or ""), str(event.workspace_id or ""), int(event.seq), event.action,
        event.actor_type, str(event.actor_id or ""), event.actor_label, event.target_type, event.target_id,
        event.target_label, event.ip_address or "", event.user_agent, occurred, event.details, event.prev_hash,
    ]
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_payload(event)).hexdigest()


def _lock_chain(organization_id) -> None:
    """Serialise writers of one chain until the transaction ends. On PostgreSQL a transaction-scoped
    advisory lock keyed by the organization; SQLite already serialises writers (IMMEDIATE transactions)."""
    if connection.vendor != "postgresql":
        return
    key = uuid.UUID(str(organization_id)).int if organization_id else 0
    signed = (key & 0xFFFFFFFFFFFFFFFF) - (1 << 63)  # pg advisory keys are signed 64-bit
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [signed])


def _jsonable(details: dict | None) -> dict:
    # Round-trip once so the hashed value equals what the JSON column gives back later.
    return json.loads(json.dumps(details or {}, default=str))


def audit_record(
    *,
    action: str,
    actor,
    organization_id=None,
    workspace_id=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    details: dict | None = None,
    context: RequestContext | None = None,
    occurred: datetime | None = None,
) -> AuditEvent:
    """Append one event to its organization's chain, in the caller's transaction.

    The chain lock is held until that transaction commits, so concurrent writers of one organization
    line up and each event's `prev_hash` is its predecessor's `hash`. If the caller rolls back, the event
    goes with it: nothing is recorded as done that was not done.
    """
    if action not in ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to apps/audit/actions.py.")
    if target is not None:
        target_type = target_type or getattr(target, "actor_type", "") or target._meta.model_name
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)
    context = context or current_request_context()
    organization_id = uuid.UUID(str(organization_id)) if organization_id else None
    workspace_id = uuid.UUID(str(workspace_id)) if workspace_id else None
    actor_type, actor_id, actor_label = _actor_fields(actor)
    with transaction.atomic():
        _lock_chain(organization_id)
        last = (
            AuditEvent.objects.filter(organization_id=organization_id)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
        event = AuditEvent(
            organization_id=organization_id,
            workspace_id=workspace_id,
            seq=seq,
            action=action,
            actor_type=actor_type,
            actor_id=actor_id,
            actor_label=(actor_label or "")[:254],
            target_type=target_type[:32],
            target_id=str(target_id)[:64],
            target_label=(target_label or "")[:254],
            ip_address=context.ip_address,
            user_agent=(context.user_agent or "")[:USER_AGENT_MAX],
            occurred=occurred or timezone.now(),
            details=_jsonable(details),
            prev_hash=prev_hash,
        )
        event.hash = compute_hash(event)
        event.save(force_insert=True)
    return event


def audit_retention_apply(*, organization_id, older_than: datetime, batch_size: int = 1000) -> int:
    """Delete up to `batch_size` of the organization's oldest events older than `older_than`.

    Deletes only a prefix of the chain (lowest seq first) and, in the same transaction, appends a
    checkpoint event naming the last deleted seq and hash, so `verify_audit_trail` can still prove the
    remaining chain starts where the deleted part ended. Returns how many events were deleted.
    """
    with transaction.atomic():
        _lock_chain(organization_id)
        scoped = AuditEvent.objects.filter(organization_id=organization_id)
        victims = list(
            scoped.filter(occurred__lt=older_than).order_by("seq").values_list("seq", "hash")[:batch_size]
        )
        # Keep the deletion a contiguous prefix: stop before the first event that must stay.
        first_kept = scoped.filter(occurred__gte=older_than).order_by("seq").values_list("seq", flat=True).first()
        if first_kept is not None:
            victims = [v for v in victims if v[0] < first_kept]
        if not victims:
            return 0
        through_seq, through_hash = victims[-1]
        deleted = scoped.filter(seq__lte=through_seq).unsafe_delete_for_retention()
        audit_record(
            action="praetor.audit.retention_applied",
            actor=None,
            organization_id=organization_id,
            target_type="audit_trail",
            details={"deleted_through_seq": through_seq, "deleted_through_hash": through_hash,
                     "deleted": deleted},
        )
    return deleted


def retention_cutoff(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


def audit_record_for_user(*, action: str, user, actor, details: dict | None = None,
                          target=None, target_type: str = "", target_id: str = "", target_label: str = "",
                          context: RequestContext | None = None) -> list[AuditEvent]:
    """Record an event about a person (sign-in, a personal API key) in every organization they belong to,
    so each organization's admins see it; in the organization-less chain if they belong to none."""
    from apps.organizations.models import Membership

    org_ids = list(
        Membership.all_organizations.filter(user_id=user.pk).order_by("organization_id")
        .values_list("organization_id", flat=True)
    ) if user is not None else []
    return [
        audit_record(action=action, actor=actor, organization_id=org_id, target=target, target_type=target_type,
                     target_id=target_id, target_label=target_label, details=details, context=context)
        for org_id in (org_ids or [None])
    ]
