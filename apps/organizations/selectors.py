"""Reads for organizations and memberships."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.organizations.models import Membership, Organization


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(
        pk__in=Membership.all_organizations.filter(user=user).values("organization_id")
    ).order_by("name")


def membership_get(*, organization, user) -> Membership | None:
    return Membership.objects.for_organization(organization).filter(user=user).first()
