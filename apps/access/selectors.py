"""Effective access: what an actor may do in an organization or workspace, computed once per request,
and the reads behind the access endpoints and pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet, Value
from django.db.models.fields import BooleanField, CharField
from django.db.models.fields.json import JSONField

from apps.access import catalog
from apps.access.models import CustomRole, WorkspaceGrant
from apps.billing.selectors import organization_entitlements
from apps.core.errors import NotFound
from apps.organizations.models import (
    Membership,
    Organization,
    OrganizationRole,
    ServiceAccount,
    TeamMembership,
)

ADMIN_ROLES = (OrganizationRole.OWNER, OrganizationRole.ADMIN)


@dataclass(frozen=True)
class Access:
    """The caller's standing in one organization (and, when resolved, one workspace).

    `is_member` means "may see this scope at all": in a workspace it is False without any grant (404).
    `read_only`: the member is beyond the organization's seat limit (after a downgrade), so billing's
    `read_only_check` refuses their writes with 402 until the organization is back under.
    """

    organization_role: str | None
    permissions: frozenset[str] = field(default_factory=frozenset)
    is_member: bool = False
    role_names: tuple[str, ...] = ()
    read_only: bool = False

    def has(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions


# Tier rules (issue #3, item 4), read from billing's entitlements (cached; operator overrides included):
# roles "none" = every organization member is Administrator of every workspace; "system" = the three
# system roles; "custom" = also custom roles and the Runner/Worker templates.
def roles_exposed(organization) -> bool:
    return organization_entitlements(organization).workspace_roles


def custom_roles_enabled(organization) -> bool:
    return organization_entitlements(organization).custom_roles


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


def _grant_rows(actor, workspace) -> list[tuple]:
    """One query: the user's organization role plus every grant that reaches them in the workspace
    (direct or through a team), as (kind, role_key, custom_permissions, inherited_role, read_only) rows;
    `read_only` is the membership's seat flag (always False on grant rows)."""
    grants = WorkspaceGrant.objects.for_workspace(workspace)
    if isinstance(actor, ServiceAccount):
        grants = grants.filter(service_account_id=actor.pk)
    else:
        teams = TeamMembership.objects.filter(user_id=actor.pk)
        grants = grants.filter(Q(user_id=actor.pk) | Q(team_id__in=teams.values("team_id")))
    grant_rows = grants.values_list(
        Value("grant", output_field=CharField()), "role_key", "custom_role__permissions",
        "custom_role__inherited_role", Value(False, output_field=BooleanField()),
    )
    if isinstance(actor, ServiceAccount):
        return list(grant_rows)
    org_row = (
        Membership.objects.for_organization(workspace.organization_id)
        .filter(user_id=actor.pk)
        .values_list(Value("org", output_field=CharField()), "role", Value(None, output_field=JSONField()),
                     Value("", output_field=CharField()), "read_only")
    )
    return list(org_row.union(grant_rows, all=True))


def _custom_permissions(permissions, inherited: str | None) -> frozenset[str]:
    base = catalog.BUILT_IN_BY_KEY[inherited].permissions if inherited in catalog.BUILT_IN_BY_KEY else frozenset()
    return base | (frozenset(permissions or ()) & catalog.WORKSPACE_KEYS)


def effective_access(actor, workspace) -> Access:
    """Direct grant + team grants + organization role, under the organization's tier rules.

    Organization Owners and Admins are Administrator of every workspace. On tiers without roles every
    member (and service account) of the organization is Administrator. Below Enterprise, a custom role
    or template grant left over from a downgrade gives only its read permissions (read-only until the
    organization is back under its limits). One query for users, one for service accounts (whose
    organization role is on the row already). `workspace.organization` must be loaded.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Access(organization_role=None)
    if isinstance(actor, ServiceAccount) and actor.organization_id != workspace.organization_id:
        return Access(organization_role=None)
    organization = workspace.organization
    rows = _grant_rows(actor, workspace)
    org_row = None if isinstance(actor, ServiceAccount) else next((r for r in rows if r[0] == "org"), None)
    org_role = actor.role if isinstance(actor, ServiceAccount) else (org_row[1] if org_row else None)
    if org_role is None:
        return Access(organization_role=None)
    read_only = bool(org_row and org_row[4])
    if org_role in ADMIN_ROLES or not roles_exposed(organization):
        return Access(org_role, catalog.ADMINISTRATOR.permissions, True, (catalog.ADMINISTRATOR.name,), read_only)
    permissions: set[str] = set()
    names: list[str] = []
    full_roles = custom_roles_enabled(organization)
    for kind, role_key, custom_perms, inherited, _ in rows:
        if kind != "grant":
            continue
        if role_key:
            role = catalog.BUILT_IN_BY_KEY.get(role_key)
            if role is None:
                continue
            granted = role.permissions if (full_roles or not role.is_template) else role.permissions & catalog.READ_KEYS
            names.append(role.name)
        else:
            granted = _custom_permissions(custom_perms, inherited)
            if not full_roles:
                granted &= catalog.READ_KEYS
            names.append("custom")
        permissions |= granted
    if not names:
        return Access(organization_role=org_role)
    return Access(org_role, frozenset(permissions), True, tuple(names), read_only)


def organization_access(actor, organization_id) -> Access:
    """Organization-level permissions from the organization role (Owner ⊃ Admin ⊃ Member)."""
    role = organization_role_for(actor, organization_id)
    if role is None:
        return Access(organization_role=None)
    perms = {"organization:read"}
    if role in ADMIN_ROLES:
        perms |= {"organization:manage"}
    if role == OrganizationRole.OWNER:
        perms |= {"organization:own"}
    return Access(organization_role=role, permissions=frozenset(perms), is_member=True)


# --- roles ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleView:
    """A workspace role as the API and pages show it, built-in or custom."""

    id: object
    name: str
    description: str
    permissions: frozenset[str]
    organization_id: object | None
    inherited_role_id: object | None
    is_template: bool = False
    custom_role: CustomRole | None = None

    @property
    def is_built_in(self) -> bool:
        return self.custom_role is None


def _built_in_view(role: catalog.BuiltInRole) -> RoleView:
    return RoleView(role.id, role.name, role.description, role.permissions, None, None, role.is_template)


def _custom_view(role: CustomRole) -> RoleView:
    inherited = catalog.BUILT_IN_BY_KEY.get(role.inherited_role)
    return RoleView(
        role.pk, role.name, role.description, _custom_permissions(role.permissions, role.inherited_role),
        role.organization_id, inherited.id if inherited else None, False, role,
    )


def workspace_role_list(*, organization) -> list[RoleView]:
    """Roles an admin of this organization may see: the system roles, the templates, its custom roles."""
    built_in = [_built_in_view(r) for r in (*catalog.SYSTEM_ROLES, *catalog.TEMPLATE_ROLES)]
    custom = CustomRole.objects.for_organization(organization).order_by("name")
    return built_in + [_custom_view(r) for r in custom]


def workspace_role_get(*, organization, role_id) -> RoleView:
    """A built-in role by its stable id, or this organization's custom role; another's is not found."""
    role_uuid = _uuid_or_none(role_id)
    if role_uuid is None:
        raise NotFound("Workspace role not found.", code="role_not_found")
    if role_uuid in catalog.BUILT_IN_ROLES:
        return _built_in_view(catalog.BUILT_IN_ROLES[role_uuid])
    custom = CustomRole.objects.for_organization(organization).filter(pk=role_uuid).first()
    if custom is None:
        raise NotFound("Workspace role not found.", code="role_not_found")
    return _custom_view(custom)


def role_view_for_grant(grant: WorkspaceGrant) -> RoleView:
    if grant.custom_role_id:
        return _custom_view(grant.custom_role)
    return _built_in_view(catalog.BUILT_IN_BY_KEY[grant.role_key])


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


# --- grants --------------------------------------------------------------------------------------


def workspace_grant_list(*, workspace, principal_type: str | None = None) -> QuerySet[WorkspaceGrant]:
    """The workspace's grants with their principal and role loaded (one query)."""
    qs = WorkspaceGrant.objects.for_workspace(workspace).select_related("user", "team", "service_account",
                                                                        "custom_role")
    if principal_type == "user":
        qs = qs.filter(user__isnull=False)
    elif principal_type == "team":
        qs = qs.filter(team__isnull=False)
    elif principal_type == "service_account":
        qs = qs.filter(service_account__isnull=False)
    return qs.order_by("created", "id")


def workspace_grant_get(*, workspace, grant_id, principal_type: str | None = None) -> WorkspaceGrant:
    grant_uuid = _uuid_or_none(grant_id)
    grant = None
    if grant_uuid is not None:
        grant = workspace_grant_list(workspace=workspace, principal_type=principal_type).filter(pk=grant_uuid).first()
    if grant is None:
        raise NotFound("Workspace access not found.")
    return grant


def workspace_reachable_q(*, actor) -> Q:
    """A filter on Workspace for the workspaces the actor can open: every workspace of organizations where
    it is Owner/Admin or whose tier has no roles; elsewhere those with a direct or team grant.

    One query for the actor's memberships (none for a service account), plus cached entitlements per
    organization; the grants stay a subquery of the caller's single workspace query."""
    if isinstance(actor, ServiceAccount):
        tier = Organization.objects.filter(pk=actor.organization_id).values_list("tier", flat=True).first()
        memberships = [(actor.organization_id, actor.role, tier)]
        granted = WorkspaceGrant.all_workspaces.filter(service_account_id=actor.pk).values("workspace_id")
    else:
        memberships = list(
            Membership.all_organizations.filter(user_id=actor.pk).values_list(
                "organization_id", "role", "organization__tier"
            )
        )
        teams = TeamMembership.objects.filter(user_id=actor.pk).values("team_id")
        granted = WorkspaceGrant.all_workspaces.filter(Q(user_id=actor.pk) | Q(team_id__in=teams)).values(
            "workspace_id"
        )
    if not memberships:
        return Q(pk__in=[])
    org_ids = [org_id for org_id, _, _ in memberships]
    everything = [
        org_id for org_id, role, tier in memberships
        if role in ADMIN_ROLES or not roles_exposed(_OrgRef(org_id, tier))
    ]
    return Q(organization_id__in=everything) | (Q(organization_id__in=org_ids) & Q(pk__in=granted))


@dataclass(frozen=True)
class _OrgRef:
    """Enough of an organization for billing's entitlements lookup (its id and tier)."""

    pk: object
    tier: str


# --- what the Access page offers -------------------------------------------------------------------


def workspace_role_list_grantable(*, organization) -> list[RoleView]:
    """The roles the organization's tier lets an admin grant: none without roles, the three system roles,
    or also the templates and custom roles where custom roles are included."""
    if not roles_exposed(organization):
        return []
    roles = workspace_role_list(organization=organization)
    if custom_roles_enabled(organization):
        return roles
    return [r for r in roles if r.is_built_in and not r.is_template]


@dataclass(frozen=True)
class Principals:
    users: list
    teams: list
    service_accounts: list


def principal_list(*, organization) -> Principals:
    """Who can be granted a workspace role: the organization's members, teams and service accounts
    (three queries, ordered for display)."""
    from apps.organizations.models import Team

    users = [m.user for m in Membership.objects.for_organization(organization).select_related("user")
             .order_by("user__email")]
    teams = list(Team.objects.for_organization(organization).order_by("name"))
    bots = list(ServiceAccount.objects.for_organization(organization).order_by("name"))
    return Principals(users, teams, bots)
