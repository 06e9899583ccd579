"""Celery entry points of the audit trail."""

from __future__ import annotations

from celery import shared_task

from apps.audit.retention import audit_retention_days
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
    tiers = dict(Organization.objects.values_list("pk", "tier"))
    deleted = 0
    for organization_id in audit_chain_ids():
        # An organization that is gone keeps its trail as long as the lowest tier does.
        gone = organization_id is not None and organization_id not in tiers
        tier = "free" if gone else tiers.get(organization_id)
        cutoff = retention_cutoff(audit_retention_days(tier))
        for _ in range(MAX_BATCHES_PER_CHAIN):
            n = audit_retention_apply(organization_id=organization_id, older_than=cutoff, batch_size=BATCH_SIZE)
            deleted += n
            if n < BATCH_SIZE:
                break
    return deleted
