"""Reads for workspaces."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.organizations.models import Membership, ServiceAccount
from apps.workspaces.models import Workspace


def workspace_list_for_actor(*, actor) -> QuerySet[Workspace]:
    """Workspaces the actor can reach, with their organization, ordered by organization then handle."""
    if isinstance(actor, ServiceAccount):
        qs = Workspace.objects.for_organization(actor.organization_id)
    else:
        org_ids = Membership.all_organizations.filter(user=actor).values("organization_id")
        qs = Workspace.all_organizations.filter(organization_id__in=org_ids)
    return qs.select_related("organization").order_by("organization__handle", "handle")
