"""Writes for workspace access: custom roles and grants. Each service is one transaction and records its
audit event inside it; bad input raises before anything is written."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models.deletion import ProtectedError

from apps.access import catalog
from apps.access.models import CustomRole, WorkspaceGrant
from apps.access.selectors import RoleView, workspace_role_get
from apps.audit.services import RequestContext, audit_record
from apps.billing.catalog import Feature
from apps.billing.services import entitlement_check
from apps.core import authcache
from apps.core.errors import Conflict, Invalid, NotFound
from apps.core.validators import validate_name
from apps.organizations.models import Membership, ServiceAccount, Team

PRINCIPAL_TYPES = ("user", "team", "service_account")


def _require_custom_roles(organization) -> None:
    entitlement_check(organization=organization, feature_or_limit=Feature.CUSTOM_ROLES)


def _require_roles(organization) -> None:
    entitlement_check(organization=organization, feature_or_limit=Feature.WORKSPACE_ROLES)


def _validate_permissions(scopes, inherited_role_id) -> tuple[list[str], str]:
    if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
        raise Invalid("scopes must be a list of permission names.", loc=["body", "scopes"])
    keys, unknown = catalog.keys_from_scopes(scopes)
    if unknown:
        raise Invalid(f"Unknown permissions: {', '.join(sorted(unknown))}. See GET /api/workspace_scopes.",
                      loc=["body", "scopes"], code="unknown_permission")
    inherited = ""
    if inherited_role_id not in (None, ""):
        role = catalog.BUILT_IN_ROLES.get(_as_uuid(inherited_role_id))
        if role is None:
            raise Invalid("inherited_role_id must be the id of a built-in workspace role.",
                          loc=["body", "inherited_role_id"], code="role_not_found")
        inherited = role.key
    if not keys and not inherited:
        raise Invalid("A role needs at least one permission.", loc=["body", "scopes"])
    return sorted(keys), inherited


def _as_uuid(value):
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _role_details(role: CustomRole) -> dict:
    return {"name": role.name, "permissions": list(role.permissions), "inherited_role": role.inherited_role}


@transaction.atomic
def custom_role_create(*, organization, name: str, description: str = "", scopes, inherited_role_id=None,
                       actor, context: RequestContext | None = None) -> CustomRole:
    """Create an Enterprise organization's custom workspace role from catalog permissions."""
    _require_custom_roles(organization)
    name = validate_name(name)
    if len(description or "") > 1000:
        raise Invalid("description is at most 1000 characters.", loc=["body", "description"])
    keys, inherited = _validate_permissions(scopes, inherited_role_id)
    scoped = CustomRole.objects.for_organization(organization)
    if scoped.filter(name__iexact=name).exists() or name.lower() in {
        r.name.lower() for r in catalog.BUILT_IN_BY_KEY.values()
    }:
        raise Conflict(f"A workspace role named {name!r} already exists.", code="role_name_taken")
    try:
        with transaction.atomic():
            role = scoped.create(organization=organization, name=name, description=description or "",
                                 permissions=keys, inherited_role=inherited)
    except IntegrityError:
        raise Conflict(f"A workspace role named {name!r} already exists.", code="role_name_taken") from None
    audit_record(action="praetor.workspace_role.created", actor=actor, organization_id=organization.pk,
                 target=role, target_type="workspace_role", details=_role_details(role), context=context)
    return role


@transaction.atomic
def custom_role_update(*, role: CustomRole, organization, name: str | None = None,
                       description: str | None = None, scopes=None, inherited_role_id=...,
                       actor, context: RequestContext | None = None) -> CustomRole:
    """Change a custom role; every grant of it takes the new permissions from the next request on."""
    authcache.access_changed()
    _require_custom_roles(organization)
    role = CustomRole.objects.for_organization(organization).select_for_update().get(pk=role.pk)
    before = _role_details(role)
    if name is not None:
        name = validate_name(name)
        clash = CustomRole.objects.for_organization(organization).filter(name__iexact=name).exclude(pk=role.pk)
        if clash.exists() or name.lower() in {r.name.lower() for r in catalog.BUILT_IN_BY_KEY.values()}:
            raise Conflict(f"A workspace role named {name!r} already exists.", code="role_name_taken")
        role.name = name
    if description is not None:
        if len(description) > 1000:
            raise Invalid("description is at most 1000 characters.", loc=["body", "description"])
        role.description = description
    if scopes is not None or inherited_role_id is not ...:
        inherited_id = (catalog.BUILT_IN_BY_KEY[role.inherited_role].id if role.inherited_role else None) \
            if inherited_role_id is ... else inherited_role_id
        role.permissions, role.inherited_role = _validate_permissions(
            role.permissions if scopes is None else scopes, inherited_id
        )
    role.save()
    audit_record(action="praetor.workspace_role.updated", actor=actor, organization_id=organization.pk,
                 target=role, target_type="workspace_role",
                 details={"before": before, "after": _role_details(role)}, context=context)
    return role


@transaction.atomic
def custom_role_delete(*, role: CustomRole, organization, actor, context: RequestContext | None = None) -> None:
    """Delete a custom role that no grant uses (409 otherwise: remove or change those grants first)."""
    authcache.access_changed()
    details = _role_details(role)
    try:
        with transaction.atomic():
            CustomRole.objects.for_organization(organization).filter(pk=role.pk).delete()
    except ProtectedError:
        raise Conflict("This role is granted in a workspace; change or remove those grants first.",
                       code="role_in_use") from None
    audit_record(action="praetor.workspace_role.deleted", actor=actor, organization_id=organization.pk,
                 target_type="workspace_role", target_id=str(role.pk), target_label=role.name, details=details,
                 context=context)


def _principal(workspace, principal_type: str, principal_id):
    """The principal inside the workspace's organization; anything else is 'not found', never 403."""
    pid = _as_uuid(principal_id)
    organization_id = workspace.organization_id
    found = None
    if pid is not None:
        if principal_type == "user":
            membership = (Membership.objects.for_organization(organization_id).select_related("user")
                          .filter(user_id=pid).first())
            found = membership.user if membership else None
        elif principal_type == "team":
            found = Team.objects.for_organization(organization_id).filter(pk=pid).first()
        elif principal_type == "service_account":
            found = ServiceAccount.objects.for_organization(organization_id).filter(pk=pid).first()
    if found is None:
        label = {"user": "User", "team": "Team", "service_account": "Service account"}[principal_type]
        raise NotFound(f"{label} not found in this organization.", code=f"{principal_type}_not_found")
    return found


def _grantable_role(workspace, role_id) -> RoleView:
    organization = workspace.organization
    _require_roles(organization)
    role = workspace_role_get(organization=organization, role_id=role_id)
    if not role.is_built_in or role.is_template:
        _require_custom_roles(organization)
    return role


@transaction.atomic
def workspace_access_set(*, workspace, principal_type: str, principal_id, role_id, actor,
                         context: RequestContext | None = None) -> tuple[WorkspaceGrant, bool]:
    """Grant `role_id` to a user, team or service account of the workspace's organization, replacing its
    current grant there. Returns (grant, created). Unknown principal or role → 404; a role the tier does
    not offer → 402; in every error case nothing is written and nothing audited."""
    authcache.access_changed()
    if principal_type not in PRINCIPAL_TYPES:
        raise Invalid(f"principal type must be one of {', '.join(PRINCIPAL_TYPES)}.")
    role = _grantable_role(workspace, role_id)
    principal = _principal(workspace, principal_type, principal_id)
    scoped = WorkspaceGrant.objects.for_workspace(workspace)
    grant = scoped.select_for_update().filter(**{principal_type: principal}).first()
    fields = {"role_key": "", "custom_role": None}
    if role.is_built_in:
        fields["role_key"] = catalog.BUILT_IN_ROLES[role.id].key
    else:
        fields["custom_role"] = role.custom_role
    created = grant is None
    if created:
        try:
            with transaction.atomic():
                grant = scoped.create(workspace=workspace, **{principal_type: principal}, **fields)
        except IntegrityError:
            raise Conflict("This principal was granted a role concurrently; retry.", code="grant_conflict") from None
        previous = None
    else:
        previous = grant.custom_role.name if grant.custom_role_id else catalog.BUILT_IN_BY_KEY[grant.role_key].name
        if (grant.role_key, grant.custom_role_id) == (fields["role_key"], getattr(fields["custom_role"], "pk", None)):
            return grant, False
        for key, value in fields.items():
            setattr(grant, key, value)
        grant.save(update_fields=["role_key", "custom_role", "updated"])
    audit_record(
        action="praetor.workspace_access.created" if created else "praetor.workspace_access.updated",
        actor=actor, organization_id=workspace.organization_id, workspace_id=workspace.pk,
        target=principal, target_type=principal_type,
        details={"role": role.name, "role_id": str(role.id), "previous_role": previous,
                 "workspace": workspace.handle},
        context=context,
    )
    return grant, created


@transaction.atomic
def workspace_access_set_many(*, workspace, principal_type: str, entries: list[tuple], actor,
                              context: RequestContext | None = None) -> list[WorkspaceGrant]:
    """Apply several (principal_id, role_id) grants all-or-nothing."""
    return [
        workspace_access_set(workspace=workspace, principal_type=principal_type, principal_id=pid, role_id=rid,
                             actor=actor, context=context)[0]
        for pid, rid in entries
    ]


@transaction.atomic
def workspace_access_delete(*, grant: WorkspaceGrant, actor, context: RequestContext | None = None) -> None:
    """Remove a grant; its principal loses the role's permissions from the next request on."""
    authcache.access_changed()
    principal, principal_type = grant.principal, grant.principal_type
    role = grant.custom_role.name if grant.custom_role_id else catalog.BUILT_IN_BY_KEY[grant.role_key].name
    deleted, _ = WorkspaceGrant.objects.for_workspace(grant.workspace_id).filter(pk=grant.pk).delete()
    if not deleted:
        raise NotFound("Workspace access not found.")
    audit_record(action="praetor.workspace_access.deleted", actor=actor,
                 organization_id=grant.workspace.organization_id, workspace_id=grant.workspace_id,
                 target=principal, target_type=principal_type, details={"role": role}, context=context)
