"""Buying, changing, cancelling and failing to pay, against localstripe as the Stripe API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.billing.errors import PaymentDeclined
from apps.billing.models import Subscription
from apps.billing.selectors import billing_overview, organization_entitlements
from apps.billing.services import (
    payment_method_update,
    subscription_buy,
    subscription_cancel,
    subscription_change_tier,
    subscription_resume,
    subscriptions_reconcile,
)
from apps.core.errors import Conflict, Invalid, LimitExceeded, PermissionDenied
from apps.organizations.models import Organization
from apps.workspaces import services as ws_services
from tests.billing.conftest import DECLINED_CARD, FAILS_LATER_CARD, fail_a_renewal, make_payment_method
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("stripe_catalog")]


def _org(organization) -> Organization:
    return Organization.objects.get(pk=organization.pk)


def _row(organization) -> Subscription:
    return Subscription.objects.for_organization(organization).get()


def test_owner_buys_growth_with_seats_and_limits_take_effect(organization, user, stripe_api):
    membership(organization, UserFactory())
    subscription_buy(organization=organization, actor=user, tier="growth", payment_method_id=make_payment_method())
    row = _row(organization)
    assert (row.status, row.plan.slug, row.quantity, row.cancel_at_period_end) == ("active", "growth", 2, False)
    remote = stripe_api.Subscription.retrieve(row.stripe_subscription_id)
    assert (remote["items"]["data"][0]["plan"]["id"], remote["items"]["data"][0]["quantity"]) == (
        "praetor_growth_usd_5000_monthly", 2)
    invoices = stripe_api.Invoice.list(customer=row.stripe_customer_id)["data"]
    assert [(i["status"], i["amount_due"]) for i in invoices] == [("paid", 10000)]
    ent = organization_entitlements(_org(organization))
    assert (ent.tier, ent.max_members, ent.max_workspaces, ent.rate_limit_api_per_minute) == ("growth", 50, 10, 2000)
    for handle in ("a", "b", "c"):  # Free allowed one workspace
        ws_services.workspace_create(organization=organization, name=handle, handle=handle, actor=user)
    overview = billing_overview(organization=_org(organization))
    assert (overview.tier, overview.status, overview.seats, overview.card.last4) == ("growth", "active", 2, "4242")
    assert overview.upcoming_invoice.amount_cents == 10000
    assert [i.amount_cents for i in overview.invoices] == [10000]


def test_buying_the_tier_you_have_is_refused_without_a_charge(organization, user, stripe_api):
    subscription_buy(organization=organization, actor=user, tier="starter", payment_method_id=make_payment_method())
    row = _row(organization)
    with pytest.raises(Conflict) as caught:
        subscription_buy(organization=organization, actor=user, tier="starter",
                         payment_method_id=make_payment_method())
    assert (caught.value.status_code, caught.value.code) == (409, "already_on_tier")
    assert len(stripe_api.Invoice.list(customer=row.stripe_customer_id)["data"]) == 1


@pytest.mark.parametrize(("tier", "code"), [("platinum", "unknown_tier"), ("enterprise", "tier_not_purchasable"),
                                            ("free", "tier_not_purchasable"), (None, "unknown_tier")])
def test_unknown_or_unpurchasable_tier_is_refused_and_creates_nothing(organization, user, tier, code):
    with pytest.raises(Invalid) as caught:
        subscription_buy(organization=organization, actor=user, tier=tier, payment_method_id=make_payment_method())
    assert (caught.value.status_code, caught.value.code) == (422, code)
    assert not Subscription.objects.for_organization(organization).exists()
    assert _org(organization).tier == "free"


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_an_owner_can_buy(organization, role):
    other = UserFactory()
    membership(organization, other, role)
    with pytest.raises(PermissionDenied) as caught:
        subscription_buy(organization=organization, actor=other, tier="growth",
                         payment_method_id=make_payment_method())
    assert (caught.value.status_code, caught.value.code) == (403, "owner_required")
    assert not Subscription.objects.for_organization(organization).exists()


def test_card_numbers_are_never_accepted_as_payment_method(organization, user):
    with pytest.raises(Invalid) as caught:
        subscription_buy(organization=organization, actor=user, tier="growth", payment_method_id="4242424242424242")
    assert caught.value.loc == ["body", "payment_method_id"]
    assert not Subscription.objects.for_organization(organization).exists()


def test_declined_card_buys_nothing(organization, user, stripe_api):
    with pytest.raises(PaymentDeclined) as caught:
        subscription_buy(organization=organization, actor=user, tier="growth",
                         payment_method_id=make_payment_method(DECLINED_CARD))
    assert (caught.value.status_code, caught.value.detail) == (402, "Your card was declined.")
    row = _row(organization)  # the customer is kept for the next attempt
    assert (row.status, row.stripe_subscription_id, _org(organization).tier) == ("none", "", "free")
    live = stripe_api.Subscription.list(customer=row.stripe_customer_id)["data"]
    assert live == []


def test_upgrade_starter_to_growth_is_prorated(organization, user, stripe_api):
    subscription_buy(organization=organization, actor=user, tier="starter", payment_method_id=make_payment_method())
    subscription_change_tier(organization=organization, actor=user, tier="growth")
    row = _row(organization)
    assert (row.plan.slug, _org(organization).tier) == ("growth", "growth")
    preview = stripe_api.Invoice.create_preview(customer=row.stripe_customer_id,
                                                subscription=row.stripe_subscription_id)
    assert sorted((line["description"], line["amount"]) for line in preview["lines"]["data"]) == [
        ("Praetor Growth", 5000), ("Unused time", -2000)]
    assert preview["amount_due"] == 3000


def test_downgrade_keeps_data_and_refuses_growth_beyond_the_limit(organization, user):
    subscription_buy(organization=organization, actor=user, tier="growth", payment_method_id=make_payment_method())
    for n in range(4):
        WorkspaceFactory(organization=organization, handle=f"ws-{n}")
    subscription_buy(organization=organization, actor=user, tier="starter")  # a live subscription: a change
    assert _org(organization).tier == "starter"
    with pytest.raises(LimitExceeded) as caught:
        ws_services.workspace_create(organization=organization, name="Five", handle="five", actor=user)
    assert caught.value.detail == ("The Starter tier allows 3 workspaces; this organization uses 4. "
                                   "Upgrade to Growth to add more.")
    assert WorkspaceFactory._meta.model.objects.for_organization(organization).count() == 4


def test_cancel_at_period_end_keeps_the_tier_until_stripe_ends_it(organization, user, stripe_api):
    subscription_buy(organization=organization, actor=user, tier="starter", payment_method_id=make_payment_method())
    subscription_cancel(organization=organization, actor=user)
    row = _row(organization)
    assert (row.status, row.cancel_at_period_end, _org(organization).tier) == ("active", True, "starter")
    assert stripe_api.Subscription.retrieve(row.stripe_subscription_id)["cancel_at_period_end"] is True
    with pytest.raises(Conflict):
        subscription_cancel(organization=organization, actor=user)
    subscription_resume(organization=organization, actor=user)
    assert _row(organization).cancel_at_period_end is False
    subscription_cancel(organization=organization, actor=user)
    # The period ends: Stripe deletes the subscription. The reconcile re-reads it.
    stripe_api.Subscription.cancel(row.stripe_subscription_id)
    assert subscriptions_reconcile() >= 1
    row = _row(organization)
    assert (row.status, _org(organization).tier) == ("canceled", "free")
    # Buying again after the end starts a new subscription.
    subscription_buy(organization=organization, actor=user, tier="growth", payment_method_id=make_payment_method())
    assert (_row(organization).status, _org(organization).tier) == ("active", "growth")


def test_failed_payment_gives_a_grace_period_then_free_then_paid_again(organization, user, stripe_api):
    subscription_buy(organization=organization, actor=user, tier="starter", payment_method_id=make_payment_method())
    failing_card = make_payment_method(FAILS_LATER_CARD)
    payment_method_update(organization=organization, actor=user, payment_method_id=failing_card)
    row = _row(organization)
    open_invoice = fail_a_renewal(stripe_api, row)
    subscriptions_reconcile()
    row = _row(organization)
    assert (row.status, _org(organization).tier) == ("past_due", "starter")
    assert row.grace_until - row.past_due_since == timedelta(days=7)
    # Still unpaid after the grace period: back to Free.
    subscriptions_reconcile(now=row.grace_until + timedelta(seconds=1))
    assert (_row(organization).status, _org(organization).tier) == ("past_due", "free")
    # The owner enters a working card and the invoice is paid: the tier comes back.
    payment_method_update(organization=organization, actor=user, payment_method_id=make_payment_method())
    stripe_api.Invoice.pay(open_invoice)
    subscriptions_reconcile()
    row = _row(organization)
    assert (row.status, row.past_due_since, row.grace_until, _org(organization).tier) == (
        "active", None, None, "starter")
