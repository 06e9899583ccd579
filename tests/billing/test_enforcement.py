"""Tier limits enforced where they apply: invitations (seats) and workspaces; nothing changes when refused."""

from __future__ import annotations

import pytest

from apps.core.errors import LimitExceeded
from apps.organizations import services as org_services
from apps.organizations.models import Invitation
from apps.workspaces import services as ws_services
from apps.workspaces.models import Workspace
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership

pytestmark = pytest.mark.django_db


def test_inviting_past_the_seat_limit_is_refused_and_sends_nothing(organization, user, mailoutbox):
    membership(organization, UserFactory())
    org_services.invitation_create(organization=organization, email="third@example.com", actor=user)
    with pytest.raises(LimitExceeded) as caught:
        org_services.invitation_create(organization=organization, email="fourth@example.com", actor=user)
    assert caught.value.detail == ("The Free tier allows 3 members (seats); this organization uses 3. "
                                   "Upgrade to Starter to add more.")
    assert list(Invitation.objects.for_organization(organization).values_list("email", flat=True)) == [
        "third@example.com"]


def test_creating_a_workspace_past_the_limit_is_refused(organization, user):
    ws_services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    with pytest.raises(LimitExceeded) as caught:
        ws_services.workspace_create(organization=organization, name="Dev", handle="dev", actor=user)
    assert caught.value.code == "max_workspaces_exceeded"
    assert caught.value.extra["upgrade_tier"] == "starter"
    assert list(Workspace.objects.for_organization(organization).values_list("handle", flat=True)) == ["prod"]


def test_upgrade_lifts_the_workspace_limit(organization, user):
    from apps.billing.services import organization_tier_set

    ws_services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    organization_tier_set(organization=organization, tier="starter")
    ws_services.workspace_create(organization=organization, name="Dev", handle="dev", actor=user)
    assert Workspace.objects.for_organization(organization).count() == 2
