"""How long an organization keeps its audit trail: billing's `audit_retention_days` for its tier.

Tiers that do not list the trail (0 days in the catalog) still keep a floor of recent events, so a
security question about last week can be answered and an upgrade shows recent history at once.
"""

from __future__ import annotations

from apps.billing.selectors import organization_entitlements

MINIMUM_RETENTION_DAYS = 7
# Events without an organization (failed sign-ins of unknown emails, sign-ins of people in none).
ORGANIZATIONLESS_RETENTION_DAYS = 30


def audit_retention_days(organization) -> int:
    if organization is None:
        return ORGANIZATIONLESS_RETENTION_DAYS
    return max(organization_entitlements(organization).audit_retention_days, MINIMUM_RETENTION_DAYS)
