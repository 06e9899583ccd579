"""Stripe webhooks: signature checked, stored by id and applied once, order-independent; localstripe's
own signed deliveries reach a live server."""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pytest

from apps.billing.models import StripeEvent, Subscription
from apps.billing.services import payment_method_update, subscription_buy
from apps.organizations.models import Organization
from tests.billing.conftest import FAILS_LATER_CARD, event_for, fail_a_renewal, make_payment_method, signed_event

URL = "/webhooks/stripe"


def _post(client, event: dict, *, secret: str | None = None, signature: str | None = None):
    payload, header = signed_event(event, **({"secret": secret} if secret else {}))
    return client.post(URL, data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=signature if signature is not None else header)


def _tier(organization) -> str:
    return Organization.objects.get(pk=organization.pk).tier


def _row(organization) -> Subscription:
    return Subscription.objects.for_organization(organization).get()


@pytest.fixture
def bought(db, stripe_catalog, stripe_api, organization, user):
    subscription_buy(organization=organization, actor=user, tier="starter", payment_method_id=make_payment_method())
    return _row(organization)


@pytest.mark.parametrize("variant", ["wrong secret", "no header", "garbage header", "tampered"])
def test_bad_signature_is_400_and_changes_nothing(client, bought, stripe_api, organization, variant):
    stripe_api.Subscription.cancel(bought.stripe_subscription_id)
    event = event_for(stripe_api.Subscription.retrieve(bought.stripe_subscription_id), "customer.subscription.deleted")
    if variant == "wrong secret":
        response = _post(client, event, secret="whsec_someone_else")
    elif variant == "no header":
        response = client.post(URL, data=b"{}", content_type="application/json")
    elif variant == "garbage header":
        response = _post(client, event, signature="t=1,v1=deadbeef")
    else:
        payload, header = signed_event(event)
        response = client.post(URL, data=payload.replace(b"deleted", b"created"), content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 400
    assert response.json()["code"] == "bad_signature"
    assert StripeEvent.objects.count() == 0
    assert (_row(organization).status, _tier(organization)) == ("active", "starter")


def test_duplicated_event_is_processed_once(client, bought, stripe_api, organization):
    stripe_api.Subscription.cancel(bought.stripe_subscription_id)
    deleted = event_for(stripe_api.Subscription.retrieve(bought.stripe_subscription_id),
                        "customer.subscription.deleted", event_id="evt_dup_1")
    first = _post(client, deleted)
    assert (first.status_code, first.json()) == (200, {"received": True, "outcome": "processed"})
    assert _tier(organization) == "free"
    # Meanwhile our row is changed by hand; a redelivery of the same event must not touch it again.
    Subscription.objects.for_organization(organization).update(status="active")
    second = _post(client, deleted)
    assert (second.status_code, second.json()) == (200, {"received": True, "outcome": "duplicate"})
    assert _row(organization).status == "active"
    assert list(StripeEvent.objects.values_list("stripe_id", "type")) == [
        ("evt_dup_1", "customer.subscription.deleted")]


def test_out_of_order_delivery_applies_the_current_state(client, bought, stripe_api, organization):
    created = event_for(stripe_api.Subscription.retrieve(bought.stripe_subscription_id),
                        "customer.subscription.created")
    stripe_api.Subscription.cancel(bought.stripe_subscription_id)
    deleted = event_for(stripe_api.Subscription.retrieve(bought.stripe_subscription_id),
                        "customer.subscription.deleted")
    assert _post(client, deleted).status_code == 200
    assert _post(client, created).status_code == 200  # late, stale copy says "active"
    assert (_row(organization).status, _tier(organization)) == ("canceled", "free")


def test_invoice_payment_failed_starts_the_grace_period(client, bought, stripe_api, organization, user):
    failing_card = make_payment_method(FAILS_LATER_CARD)
    payment_method_update(organization=organization, actor=user, payment_method_id=failing_card)
    invoice_id = fail_a_renewal(stripe_api, bought)
    response = _post(client, event_for(stripe_api.Invoice.retrieve(invoice_id), "invoice.payment_failed"))
    assert response.json()["outcome"] == "processed"
    row = _row(organization)
    assert (row.status, row.grace_until is not None, _tier(organization)) == ("past_due", True, "starter")


@pytest.mark.parametrize("type_", ["invoice.paid", "customer.subscription.updated"])
def test_events_localstripe_does_not_send_are_handled(client, bought, stripe_api, organization, type_):
    stripe_api.Subscription.modify(bought.stripe_subscription_id, cancel_at_period_end=True)
    obj = (stripe_api.Invoice.list(customer=bought.stripe_customer_id)["data"][0] if type_ == "invoice.paid"
           else stripe_api.Subscription.retrieve(bought.stripe_subscription_id))
    assert _post(client, event_for(obj, type_)).json()["outcome"] == "processed"
    assert _row(organization).cancel_at_period_end is True


def test_unhandled_event_types_are_stored_and_ignored(client, db, stripe_settings):
    response = _post(client, event_for({"id": "prod_x", "object": "product"}, "product.created", event_id="evt_p"))
    assert response.json() == {"received": True, "outcome": "ignored"}
    assert StripeEvent.objects.get(stripe_id="evt_p").processed_at is not None


def _wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_localstripe_delivers_signed_webhooks_to_the_live_server(live_server, stripe_catalog, stripe_api):
    from tests.factories.identity import UserFactory
    from tests.factories.organizations import OrganizationFactory, membership

    data = urllib.parse.urlencode({"url": f"{live_server.url}{URL}", "secret": stripe_catalog.STRIPE_WEBHOOK_SECRET})
    urllib.request.urlopen(f"{stripe_catalog.STRIPE_API_BASE}/_config/webhooks/praetor", data=data.encode(),
                           timeout=5).close()
    owner = UserFactory()
    organization = OrganizationFactory()
    membership(organization, owner, "owner")
    subscription_buy(organization=organization, actor=owner, tier="growth", payment_method_id=make_payment_method())
    row = _row(organization)
    assert _wait_for(lambda: StripeEvent.objects.filter(
        type="customer.subscription.created", payload__data__object__id=row.stripe_subscription_id,
        processed_at__isnull=False).exists())
    assert _wait_for(lambda: StripeEvent.objects.filter(
        type="invoice.payment_succeeded", processed_at__isnull=False,
        payload__data__object__customer=row.stripe_customer_id).exists())
    # Stripe ends the subscription (e.g. the period ended after a cancel): the webhook alone moves us to Free.
    stripe_api.Subscription.cancel(row.stripe_subscription_id)
    assert _wait_for(lambda: _tier(organization) == "free")
    assert _row(organization).status == "canceled"
