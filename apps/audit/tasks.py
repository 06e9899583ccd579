"""Celery entry points of the audit trail."""

from __future__ import annotations

from celery import shared_task

from apps.audit.retention import MINIMUM_RETENTION_DAYS, audit_retention_days
from apps.audit.selectors import audit_chain_ids
from apps.audit.services import audit_retention_apply, retention_cutoff
from apps.organizations.models import Organization

BATCH_SIZE = 1000
MAX_BATCHES_PER_CHAIN = 50  # bounded work per run; the next run continues


@shared_task(name="praetor.audit.apply_retention")
def apply_retention() -> int:
    """Delete each chain's events older than its tier's retention, oldest first, in batches.

    Safe to run twice at once: each batch holds the chain's lock, so a second runner finds nothing left
    to delete for that prefix. Returns how many events were deleted.
    """
    deleted = 0
    for organization_id in audit_chain_ids():
        organization = Organization.objects.filter(pk=organization_id).first() if organization_id else None
        if organization_id and organization is None:
            days = MINIMUM_RETENTION_DAYS  # the organization is gone; its trail is kept for the floor
        else:
            days = audit_retention_days(organization)
        cutoff = retention_cutoff(days)
        for _ in range(MAX_BATCHES_PER_CHAIN):
            n = audit_retention_apply(organization_id=organization_id, older_than=cutoff, batch_size=BATCH_SIZE)
            deleted += n
            if n < BATCH_SIZE:
                break
    return deleted
