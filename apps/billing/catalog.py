"""The names other apps use with `entitlement_check`: countable limits and feature gates.

The values per tier are rows of `billing.Plan` (seeded by migration 0002, edited in the admin).
"""

from __future__ import annotations

from enum import StrEnum


class TierSlug(StrEnum):
    FREE = "free"
    STARTER = "starter"
    GROWTH = "growth"
    ENTERPRISE = "enterprise"


class Limit(StrEnum):
    """Countable limits: `entitlement_check` refuses when usage + adding would pass the tier's value."""

    MAX_MEMBERS = "max_members"  # seats: members plus pending invitations
    MAX_WORKSPACES = "max_workspaces"


class Feature(StrEnum):
    """Feature gates: `entitlement_check` refuses when the tier does not include the feature."""

    WORKSPACE_ROLES = "workspace_roles"  # granting built-in workspace roles (roles >= "system")
    CUSTOM_ROLES = "custom_roles"  # creating custom workspace roles (roles == "custom")
    AUDIT_TRAIL = "audit_trail"


LIMIT_LABELS = {
    Limit.MAX_MEMBERS: ("member (seat)", "members (seats)"),
    Limit.MAX_WORKSPACES: ("workspace", "workspaces"),
}

# "<what> <is/are>", completed with "not included in the <Tier> tier."
FEATURE_LABELS = {
    Feature.WORKSPACE_ROLES: "Workspace roles are",
    Feature.CUSTOM_ROLES: "Custom roles are",
    Feature.AUDIT_TRAIL: "The audit trail is",
}


# The seeded catalog (migration 0002). After seeding, the rows are the truth and are edited in the
# admin; these values are only the fallback `organization_entitlements` uses if a tier's row is missing.
DEFAULT_TIERS = [
    {
        "slug": "free", "name": "Free", "position": 0, "purchasable": False, "price_per_seat_cents": 0,
        "max_members": 3, "max_workspaces": 1, "roles": "none", "run_retention_days": 7,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 250, "rate_limit_logs_events_per_minute": 500,
        "features": ["Flows, deployments, work pools and agents", "Community support"],
    },
    {
        "slug": "starter", "name": "Starter", "position": 1, "purchasable": True, "price_per_seat_cents": 2000,
        "max_members": 10, "max_workspaces": 3, "roles": "none", "run_retention_days": 14,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 500, "rate_limit_logs_events_per_minute": 1600,
        "features": ["Teams and service accounts", "Email support"],
    },
    {
        "slug": "growth", "name": "Growth", "position": 2, "purchasable": True, "price_per_seat_cents": 5000,
        "max_members": 50, "max_workspaces": 10, "roles": "system", "run_retention_days": 30,
        "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 2000, "rate_limit_logs_events_per_minute": 10000,
        "features": ["Built-in workspace roles", "Teams and service accounts", "Priority email support"],
    },
    {
        "slug": "enterprise", "name": "Enterprise", "position": 3, "purchasable": False, "price_per_seat_cents": 0,
        "max_members": None, "max_workspaces": None, "roles": "custom", "run_retention_days": 365,
        "audit_trail": True, "audit_retention_days": 365,
        "rate_limit_api_per_minute": 10000, "rate_limit_logs_events_per_minute": 50000,
        "features": ["Custom workspace roles", "Audit trail", "Limits set by agreement"],
    },
]


def tier_catalog_restore() -> int:
    """Create the default rows of tiers missing from the catalog (never changes existing rows).
    For test databases flushed by transactional tests; returns how many rows were created."""
    from apps.billing.models import Plan

    existing = set(Plan.objects.values_list("slug", flat=True))
    missing = [Plan(**tier) for tier in DEFAULT_TIERS if tier["slug"] not in existing]
    Plan.objects.bulk_create(missing)
    return len(missing)
