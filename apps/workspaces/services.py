"""Writes for workspaces: creating one also prepares its orchestration engine."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, Invalid
from apps.core.validators import validate_handle, validate_name
from apps.workspaces.models import Workspace


@transaction.atomic
def workspace_create(*, organization, name: str, handle: str, description: str = "", actor=None) -> Workspace:
    """Create a workspace with a handle unique in its organization."""
    name = validate_name(name)
    validate_handle(handle)
    if len(description or "") > 1000:
        raise Invalid("description is at most 1000 characters.", loc=["body", "description"])
    scoped = Workspace.objects.for_organization(organization)
    if scoped.filter(handle=handle).exists():
        raise Conflict(f"A workspace with the handle {handle!r} already exists.", code="handle_taken")
    try:
        with transaction.atomic():
            workspace = scoped.create(organization=organization, name=name, handle=handle,
                                      description=description or "")
    except IntegrityError:
        raise Conflict(f"A workspace with the handle {handle!r} already exists.", code="handle_taken") from None
    return workspace
