"""Billing API: catalog and entitlements for members, subscription changes for Owners only, errors in
our one shape, nothing charged when refused."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.billing.models import Subscription
from apps.identity.services import api_key_create
from apps.organizations.models import Organization
from tests.billing.conftest import DECLINED_CARD, make_payment_method
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership

pytestmark = pytest.mark.django_db


def _client_for(user) -> APIClient:
    client = APIClient()
    _, secret = api_key_create(owner=user, name="t", expires_at=None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def _url(organization, tail: str) -> str:
    return f"/api/accounts/{organization.pk}/{tail}"


def test_members_read_the_catalog(authed_client, organization):
    response = authed_client.get(_url(organization, "plans"))
    assert response.status_code == 200
    assert [(p["slug"], p["price_per_seat_cents"], p["max_members"]) for p in response.json()] == [
        ("free", 0, 3), ("starter", 2000, 10), ("growth", 5000, 50), ("enterprise", 0, None)]


def test_entitlements_with_usage(organization, user, workspace):
    member = UserFactory()
    membership(organization, member)
    response = _client_for(member).get(_url(organization, "entitlements"))
    assert response.status_code == 200
    assert response.json() == {
        "tier": "free", "tier_name": "Free", "max_members": 3, "max_workspaces": 1, "roles": "none",
        "run_retention_days": 7, "audit_trail": False, "audit_retention_days": 0,
        "rate_limit_api_per_minute": 250, "rate_limit_logs_events_per_minute": 500,
        "usage": {"max_members": 2, "max_workspaces": 1},
    }


@pytest.mark.parametrize("who", ["anonymous", "other tenant", "member", "admin", "owner"])
def test_buying_is_for_owners_only(who, organization, user, stripe_catalog):
    expected = {"anonymous": 401, "other tenant": 404, "member": 403, "admin": 403, "owner": 200}[who]
    if who == "anonymous":
        client = APIClient()
    elif who == "other tenant":
        stranger = UserFactory()
        membership(OrganizationFactory(), stranger, "owner")
        client = _client_for(stranger)
    elif who in ("member", "admin"):
        other = UserFactory()
        membership(organization, other, who)
        client = _client_for(other)
    else:
        client = _client_for(user)
    response = client.put(_url(organization, "billing/subscription"),
                          {"tier": "growth", "payment_method_id": make_payment_method()}, format="json")
    assert response.status_code == expected
    if expected != 200:
        assert not Subscription.objects.for_organization(organization).exists()
        assert Organization.objects.get(pk=organization.pk).tier == "free"
        return
    body = response.json()
    assert (body["tier"], body["status"], body["seats"], body["card"]["last4"]) == ("growth", "active", 1, "4242")
    assert body["upcoming_invoice"]["amount_cents"] == 5000
    assert [(i["amount_cents"], i["status"]) for i in body["invoices"]] == [(5000, "paid")]


def test_bad_input_is_a_clear_4xx_and_charges_nothing(organization, user, stripe_catalog, stripe_api):
    client = _client_for(user)
    url = _url(organization, "billing/subscription")
    unknown = client.put(url, {"tier": "platinum", "payment_method_id": make_payment_method()}, format="json")
    assert unknown.status_code == 422
    assert unknown.json()["exception_detail"] == [
        {"loc": ["body", "tier"], "msg": "Unknown tier 'platinum': choose starter or growth.",
         "type": "value_error.unknown_tier"}]
    extra = client.put(url, {"tier": "growth", "card_number": "4242424242424242"}, format="json")
    assert extra.status_code == 422
    no_card = client.put(url, {"tier": "growth"}, format="json")
    assert (no_card.status_code, no_card.json()["exception_detail"][0]["type"]) == (
        422, "value_error.payment_method_required")
    declined = client.put(url, {"tier": "growth", "payment_method_id": make_payment_method(DECLINED_CARD)},
                          format="json")
    assert (declined.status_code, declined.json()) == (402, {"detail": "Your card was declined.",
                                                             "code": "card_declined"})
    assert Organization.objects.get(pk=organization.pk).tier == "free"
    bought = client.put(url, {"tier": "starter", "payment_method_id": make_payment_method()}, format="json")
    assert bought.status_code == 200
    again = client.put(url, {"tier": "starter"}, format="json")
    assert (again.status_code, again.json()) == (409, {"detail": "This organization is already on Starter.",
                                                       "code": "already_on_tier"})
    customer = Subscription.objects.for_organization(organization).get().stripe_customer_id
    assert len(stripe_api.Invoice.list(customer=customer)["data"]) == 1


def test_upgrade_cancel_and_resume_through_the_api(organization, user, stripe_catalog):
    client = _client_for(user)
    client.put(_url(organization, "billing/subscription"),
               {"tier": "starter", "payment_method_id": make_payment_method()}, format="json")
    upgraded = client.put(_url(organization, "billing/subscription"), {"tier": "growth"}, format="json")
    assert (upgraded.status_code, upgraded.json()["tier"]) == (200, "growth")
    canceled = client.post(_url(organization, "billing/subscription/cancel"), {}, format="json")
    assert (canceled.json()["cancel_at_period_end"], canceled.json()["tier"],
            canceled.json()["upcoming_invoice"]) == (True, "growth", None)
    resumed = client.post(_url(organization, "billing/subscription/resume"), {}, format="json")
    assert resumed.json()["cancel_at_period_end"] is False


def test_cancel_without_subscription_is_409(organization, user, stripe_catalog):
    response = _client_for(user).post(_url(organization, "billing/subscription/cancel"), {}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "no_subscription")


def test_billing_overview_is_for_owners(organization, user):
    member = UserFactory()
    membership(organization, member)
    assert _client_for(member).get(_url(organization, "billing")).status_code == 403
    response = _client_for(user).get(_url(organization, "billing"))
    assert response.status_code == 200
    assert (response.json()["tier"], response.json()["status"], response.json()["card"]) == ("free", "none", None)
