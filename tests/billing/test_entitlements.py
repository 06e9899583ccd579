"""The tier catalog as data, the cached entitlements selector and `entitlement_check`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.billing.models import Plan
from apps.billing.selectors import Entitlements, organization_entitlements
from apps.billing.services import (
    enterprise_set,
    enterprise_unset,
    entitlement_check,
    organization_tier_set,
    plan_changed,
)
from apps.core.errors import Invalid, LimitExceeded
from apps.organizations.models import Invitation, Organization
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_catalog_is_seeded_with_the_four_tiers_in_order():
    rows = list(Plan.objects.order_by("position").values_list(
        "slug", "purchasable", "max_members", "max_workspaces", "roles", "run_retention_days", "audit_trail",
        "rate_limit_api_per_minute", "rate_limit_logs_events_per_minute"))
    assert rows == [
        ("free", False, 3, 1, "none", 7, False, 250, 500),
        ("starter", True, 10, 3, "none", 14, False, 500, 1600),
        ("growth", True, 50, 10, "system", 30, False, 2000, 10000),
        ("enterprise", False, None, None, "custom", 365, True, 10000, 50000),
    ]


def test_new_organization_is_on_free():
    org = OrganizationFactory()
    assert organization_entitlements(org) == Entitlements(
        tier="free", tier_name="Free", max_members=3, max_workspaces=1, roles="none", run_retention_days=7,
        audit_trail=False, audit_retention_days=0, rate_limit_api_per_minute=250,
        rate_limit_logs_events_per_minute=500,
    )


def test_entitlements_cost_one_query_then_none_from_cache():
    org = OrganizationFactory()
    with CaptureQueriesContext(connection) as first:
        organization_entitlements(org)
    with CaptureQueriesContext(connection) as second:
        organization_entitlements(org)
    assert (len(first), len(second)) == (1, 0)


def test_tier_change_is_in_force_at_once_despite_the_cache():
    org = OrganizationFactory()
    assert organization_entitlements(org).tier == "free"
    organization_tier_set(organization=org, tier="growth")
    fresh = Organization.objects.get(pk=org.pk)
    ent = organization_entitlements(fresh)
    assert (ent.tier, ent.max_members, ent.rate_limit_api_per_minute) == ("growth", 50, 2000)


def test_unknown_tier_is_refused_and_changes_nothing():
    org = OrganizationFactory()
    with pytest.raises(Invalid, match="Unknown tier 'platinum'"):
        organization_tier_set(organization=org, tier="platinum")
    assert Organization.objects.get(pk=org.pk).tier == "free"


def test_catalog_edit_reaches_cached_entitlements_after_plan_changed():
    org = OrganizationFactory(tier="starter")
    assert organization_entitlements(org).max_workspaces == 3
    Plan.objects.filter(slug="starter").update(max_workspaces=4)
    plan_changed(plan=Plan.objects.get(slug="starter"))
    assert organization_entitlements(org).max_workspaces == 4


def test_seat_limit_counts_members_and_pending_invitations():
    owner = UserFactory()
    org = OrganizationFactory()
    membership(org, owner, "owner")
    membership(org, UserFactory())
    Invitation.all_organizations.create(organization=org, email="a@example.com", token_digest="x" * 64,
                                        expires_at=timezone.now() + timedelta(days=1))
    Invitation.all_organizations.create(organization=org, email="old@example.com", token_digest="y" * 64,
                                        expires_at=timezone.now() - timedelta(days=1))
    with pytest.raises(LimitExceeded) as caught:
        entitlement_check(organization=org, feature_or_limit="max_members")
    error = caught.value
    assert error.status_code == 402
    assert error.code == "max_members_exceeded"
    assert error.detail == ("The Free tier allows 3 members (seats); this organization uses 3. "
                            "Upgrade to Starter to add more.")
    assert error.extra == {"limit": "max_members", "tier": "free", "allowed": 3, "used": 3, "upgrade_tier": "starter"}


def test_seat_check_passes_under_the_limit_and_names_the_tier_that_lifts_a_big_add():
    org = OrganizationFactory()
    membership(org, UserFactory(), "owner")
    entitlement_check(organization=org, feature_or_limit="max_members", adding=2)
    with pytest.raises(LimitExceeded) as caught:
        entitlement_check(organization=org, feature_or_limit="max_members", adding=20)
    assert caught.value.extra["upgrade_tier"] == "growth"


def test_workspace_limit_and_over_limit_after_downgrade_refuses_more():
    org = OrganizationFactory(tier="starter")
    for _ in range(3):
        WorkspaceFactory(organization=org)
    organization_tier_set(organization=org, tier="free")
    with pytest.raises(LimitExceeded) as caught:
        entitlement_check(organization=org, feature_or_limit="max_workspaces")
    assert caught.value.detail == ("The Free tier allows 1 workspace; this organization uses 3. "
                                   "Upgrade to Growth to add more.")
    # Nothing was deleted by the downgrade.
    assert org.tier == "free" and WorkspaceFactory._meta.model.objects.for_organization(org).count() == 3


def test_features_are_gated_by_tier():
    org = OrganizationFactory(tier="growth")
    entitlement_check(organization=org, feature_or_limit="workspace_roles")
    with pytest.raises(LimitExceeded) as caught:
        entitlement_check(organization=org, feature_or_limit="custom_roles")
    assert caught.value.detail == (
        "Custom roles are not included in the Growth tier. Upgrade to Enterprise to get this feature.")
    assert caught.value.code == "custom_roles_not_included"
    with pytest.raises(LimitExceeded, match="The audit trail is not included in the Growth tier"):
        entitlement_check(organization=org, feature_or_limit="audit_trail")
    free = OrganizationFactory()
    with pytest.raises(LimitExceeded, match="Upgrade to Growth"):
        entitlement_check(organization=free, feature_or_limit="workspace_roles")


def test_unknown_limit_name_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown limit or feature 'max_cats'"):
        entitlement_check(organization=OrganizationFactory(), feature_or_limit="max_cats")


def test_enterprise_set_by_operator_with_overrides_and_unset_back_to_free():
    org = OrganizationFactory()
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 30000, "max_members": 500})
    ent = organization_entitlements(Organization.objects.get(pk=org.pk))
    assert (ent.tier, ent.max_members, ent.max_workspaces, ent.rate_limit_api_per_minute, ent.custom_roles) == (
        "enterprise", 500, None, 30000, True)
    entitlement_check(organization=org, feature_or_limit="audit_trail")
    enterprise_unset(organization=org)
    assert organization_entitlements(Organization.objects.get(pk=org.pk)).tier == "free"


def test_enterprise_override_of_unknown_limit_is_refused():
    org = OrganizationFactory()
    with pytest.raises(Invalid, match="Unknown limits: cats"):
        enterprise_set(organization=org, overrides={"cats": 3})
    assert Organization.objects.get(pk=org.pk).tier == "free"


def test_operator_command_sets_and_ends_enterprise():
    from io import StringIO

    from django.core.management import CommandError, call_command

    org = OrganizationFactory(handle="acme")
    out = StringIO()
    call_command("billing_enterprise", "acme", "--limit", "rate_limit_api_per_minute=30000",
                 "--limit", "max_members=null", stdout=out)
    assert out.getvalue().strip() == (
        "acme: Enterprise (members None, workspaces None, api 30000/min, logs+events 50000/min)")
    assert Organization.objects.get(pk=org.pk).tier == "enterprise"
    with pytest.raises(CommandError, match="Unknown limits: seats"):
        call_command("billing_enterprise", "acme", "--limit", "seats=3")
    with pytest.raises(CommandError, match="No organization with the handle 'nope'"):
        call_command("billing_enterprise", "nope")
    call_command("billing_enterprise", "acme", "--end", stdout=StringIO())
    assert Organization.objects.get(pk=org.pk).tier == "free"
