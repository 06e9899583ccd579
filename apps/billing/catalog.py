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
