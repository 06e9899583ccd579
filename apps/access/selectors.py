"""Effective access: what an actor may do in an organization or workspace, computed once per request."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.organizations.models import Membership, OrganizationRole, ServiceAccount


@dataclass(frozen=True)
class Access:
    """The caller's standing in one organization (and, when resolved, one workspace)."""

    organization_role: str | None
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_member: bool = False

    def has(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


def organization_role_for(actor, organization_id) -> str | None:
    """The actor's organization role, or None when the actor does not belong to the organization."""
    if isinstance(actor, ServiceAccount):
        return actor.role if str(actor.organization_id) == str(organization_id) else None
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return (
        Membership.objects.for_organization(organization_id)
        .filter(user_id=actor.pk)
        .values_list("role", flat=True)
        .first()
    )


def effective_access(actor, workspace) -> Access:
    """Every permission for any member of the workspace's organization.

    Placeholder-free interim rule from the engine issue: until role grants exist, a member's key has
    full access to its organization's workspaces. Access control (issue #3) replaces the body.
    """
    role = organization_role_for(actor, workspace.organization_id)
    if role is None:
        return Access(organization_role=None)
    return Access(organization_role=role, permissions=frozenset({"*"}), is_member=True)


def organization_access(actor, organization_id) -> Access:
    role = organization_role_for(actor, organization_id)
    if role is None:
        return Access(organization_role=None)
    perms = {"organization:read"}
    if role in (OrganizationRole.OWNER, OrganizationRole.ADMIN):
        perms |= {"organization:manage"}
    if role == OrganizationRole.OWNER:
        perms |= {"organization:own"}
    return Access(organization_role=role, permissions=frozenset(perms), is_member=True)
