"""The organization ("account") roles as data: stable ids for Cloud's account_roles API, and what each allows.

The ids never change: API clients (Terraform, scripts) store them. They are documented in docs/api.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from apps.organizations.models import OrganizationRole


@dataclass(frozen=True)
class AccountRole:
    id: uuid.UUID
    key: str  # OrganizationRole value stored on memberships and service accounts
    name: str  # Cloud's display name
    permissions: tuple[str, ...]


# Ordered from most to least privileged. Permissions mirror apps.access.selectors.organization_access
# (tests/organizations/test_roles.py keeps the two in step).
ACCOUNT_ROLES: tuple[AccountRole, ...] = (
    AccountRole(
        id=uuid.UUID("6f1c3a7e-0b1d-4c39-9a51-000000000001"),
        key=OrganizationRole.OWNER,
        name="Owner",
        permissions=("organization:read", "organization:manage", "organization:own"),
    ),
    AccountRole(
        id=uuid.UUID("6f1c3a7e-0b1d-4c39-9a51-000000000002"),
        key=OrganizationRole.ADMIN,
        name="Admin",
        permissions=("organization:read", "organization:manage"),
    ),
    AccountRole(
        id=uuid.UUID("6f1c3a7e-0b1d-4c39-9a51-000000000003"),
        key=OrganizationRole.MEMBER,
        name="Member",
        permissions=("organization:read",),
    ),
)

ROLE_BY_KEY: dict[str, AccountRole] = {role.key: role for role in ACCOUNT_ROLES}
ROLE_BY_ID: dict[uuid.UUID, AccountRole] = {role.id: role for role in ACCOUNT_ROLES}


def account_role_for_key(key: str) -> AccountRole:
    return ROLE_BY_KEY[key]


def account_role_for_id(role_id) -> AccountRole | None:
    """The role with this id, or None for an unknown or malformed id."""
    try:
        return ROLE_BY_ID.get(uuid.UUID(str(role_id)))
    except (TypeError, ValueError):
        return None
