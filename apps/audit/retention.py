"""How long each tier keeps its audit trail, in days (Cloud calls it audit_log_retention_days)."""

from __future__ import annotations

from apps.organizations.models import Tier

AUDIT_RETENTION_DAYS: dict[str, int] = {
    Tier.FREE: 7,
    Tier.STARTER: 30,
    Tier.GROWTH: 90,
    Tier.ENTERPRISE: 365,
}
# Events recorded before anyone signed into an organization (failed sign-ins of unknown emails).
ORGANIZATIONLESS_RETENTION_DAYS = 30


def audit_retention_days(tier: str | None) -> int:
    if tier is None:
        return ORGANIZATIONLESS_RETENTION_DAYS
    return AUDIT_RETENTION_DAYS.get(tier, AUDIT_RETENTION_DAYS[Tier.FREE])
