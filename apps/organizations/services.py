"""Writes for organizations and their memberships. Each service is one transaction."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.core.errors import Conflict
from apps.core.validators import validate_handle, validate_name
from apps.organizations.models import Membership, Organization, OrganizationRole


@transaction.atomic
def organization_create(*, name: str, handle: str, owner) -> Organization:
    """Create an organization with `owner` as its first Owner."""
    name = validate_name(name)
    validate_handle(handle)
    if Organization.objects.filter(handle=handle).exists():
        raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken")
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name, handle=handle)
    except IntegrityError:
        raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken") from None
    Membership.objects.for_organization(organization).create(
        organization=organization, user=owner, role=OrganizationRole.OWNER
    )
    return organization
