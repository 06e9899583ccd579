"""Reads for workspaces."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.access.selectors import workspace_reachable_q
from apps.core.errors import NotFound
from apps.workspaces.models import Workspace


def workspace_list_for_actor(*, actor) -> QuerySet[Workspace]:
    """Workspaces the actor can reach (access.selectors decides: role, grants, tier), with their
    organization, ordered by organization then handle."""
    return (
        Workspace.all_organizations.filter(workspace_reachable_q(actor=actor))
        .select_related("organization")
        .order_by("organization__handle", "handle")
    )


def workspace_list(*, organization, handles: list[str] | None = None) -> QuerySet[Workspace]:
    """The organization's workspaces ordered by handle, optionally only those with the given handles."""
    qs = Workspace.objects.for_organization(organization)
    if handles is not None:
        qs = qs.filter(handle__in=handles)
    return qs.order_by("handle")


def workspace_list_reachable(*, organization, actor, handles: list[str] | None = None) -> QuerySet[Workspace]:
    """The organization's workspaces this actor can open (all of them for Owners and Admins), by handle."""
    return workspace_list(organization=organization, handles=handles).filter(workspace_reachable_q(actor=actor))


def workspace_get_reachable(*, organization, actor, workspace_id) -> Workspace:
    """One workspace of the organization the actor can open; one it cannot is NotFound, like a missing one."""
    workspace = workspace_get(organization=organization, workspace_id=workspace_id)
    if not Workspace.objects.for_organization(organization).filter(workspace_reachable_q(actor=actor),
                                                                   pk=workspace.pk).exists():
        raise NotFound("Workspace not found.")
    return workspace


def workspace_get(*, organization, workspace_id) -> Workspace:
    """One workspace of the organization; another organization's (or a malformed id) is NotFound."""
    try:
        wid = uuid.UUID(str(workspace_id))
    except (TypeError, ValueError):
        raise NotFound("Workspace not found.") from None
    workspace = Workspace.objects.for_organization(organization).filter(pk=wid).first()
    if workspace is None:
        raise NotFound("Workspace not found.")
    return workspace
