"""Writes for workspaces. Each service is one transaction and checks the actor's organization permission
(actor=None is the system); billing's workspace-count limit hooks in at the start of workspace_create."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.audit.services import audit_record
from apps.billing.services import entitlement_check, organization_lock, organization_workspaces_changed
from apps.core import authcache
from apps.core.errors import Conflict, Invalid
from apps.core.validators import validate_handle, validate_name
from apps.engine.services import blocks as engine_blocks
from apps.organizations.selectors import organization_authorize
from apps.workspaces.models import Workspace

MANAGE = "organization:manage"
DESCRIPTION_MAX = 1000


def _validate_description(description: str | None) -> str:
    description = (description or "").strip() if isinstance(description, str) or description is None else None
    if description is None:
        raise Invalid("description must be a string.", loc=["body", "description"])
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"description is at most {DESCRIPTION_MAX} characters.", loc=["body", "description"])
    return description


def _handle_taken(handle: str) -> Conflict:
    return Conflict(f"A workspace with the handle {handle!r} already exists.", code="handle_taken")


@transaction.atomic
def workspace_create(*, organization, name: str, handle: str, description: str = "", actor=None) -> Workspace:
    """Create a workspace with a handle unique in its organization (Owner/Admin)."""
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    name = validate_name(name)
    validate_handle(handle)
    description = _validate_description(description)
    scoped = Workspace.objects.for_organization(organization)
    if scoped.filter(handle=handle).exists():
        raise _handle_taken(handle)
    entitlement_check(organization=organization, feature_or_limit="max_workspaces")
    try:
        with transaction.atomic():
            workspace = scoped.create(organization=organization, name=name, handle=handle, description=description)
    except IntegrityError:
        raise _handle_taken(handle) from None
    # The client looks system block types up by slug and checksum (result storage, infrastructure):
    # every workspace has them from its first moment, as a Prefect server installs them at start-up.
    engine_blocks.workspace_seed_blocks(workspace=workspace)
    # Normally a no-op (creating past the limit was refused above); it keeps the flags exact whatever happened.
    organization_workspaces_changed(organization=organization, actor=actor)
    audit_record(action="praetor.workspace.created", actor=actor, organization_id=workspace.organization_id,
                 workspace_id=workspace.pk, target=workspace, target_type="workspace",
                 details={"handle": handle, "name": name})
    return workspace


@transaction.atomic
def workspace_update(*, workspace: Workspace, actor, name: str | None = None, handle: str | None = None,
                     description: str | None = None) -> Workspace:
    """Rename a workspace, change its handle (unique in the organization) or its description (Owner/Admin).

    Changing the handle changes the `account/workspace` slug clients log in with; the ids in API URLs stay.
    """
    authcache.access_changed()
    organization_authorize(actor=actor, organization=workspace.organization_id, permission=MANAGE)
    fields = []
    if name is not None:
        workspace.name = validate_name(name)
        fields.append("name")
    if handle is not None and handle != workspace.handle:
        validate_handle(handle)
        if Workspace.objects.for_organization(workspace.organization_id).filter(handle=handle).exists():
            raise _handle_taken(handle)
        workspace.handle = handle
        fields.append("handle")
    if description is not None:
        workspace.description = _validate_description(description)
        fields.append("description")
    if fields:
        try:
            with transaction.atomic():
                workspace.save(update_fields=[*fields, "updated"])
        except IntegrityError:
            raise _handle_taken(handle) from None
        audit_record(action="praetor.workspace.updated", actor=actor, organization_id=workspace.organization_id,
                     workspace_id=workspace.pk, target=workspace, target_type="workspace",
                     details={"changed": fields, "handle": workspace.handle, "name": workspace.name})
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace, actor) -> None:
    """Delete a workspace and all of its orchestration data (Owner/Admin). Allowed for a read-only
    workspace too: it is how an organization gets back under its workspace limit, and a workspace that
    was read-only because of this one's place in the order becomes writable in the same transaction."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=workspace.organization_id, permission=MANAGE)
    organization_lock(organization=workspace.organization_id)  # before the workspace's rows (billing's lock order)
    Workspace.objects.for_organization(workspace.organization_id).filter(pk=workspace.pk).delete()
    organization_workspaces_changed(organization=workspace.organization_id, actor=actor)
    audit_record(action="praetor.workspace.deleted", actor=actor, organization_id=workspace.organization_id,
                 workspace_id=workspace.pk, target_type="workspace", target_id=str(workspace.pk),
                 target_label=workspace.handle, details={"handle": workspace.handle, "name": workspace.name})
