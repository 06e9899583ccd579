"""The Billing page (Owners) and the Usage page (Owners and Admins) with the test client, against localstripe:
the catalog drives the comparison, buying/changing/cancelling goes through the same services as the API,
refusals change nothing, and the pages are hidden from everyone else."""

from __future__ import annotations

import re
import time
from html import unescape

import pytest

from apps.billing.models import Plan, Subscription
from apps.organizations.models import Organization
from apps.ratelimit.services import consume
from apps.workspaces.models import Workspace
from tests.billing.conftest import DECLINED_CARD, FAILS_LATER_CARD, fail_a_renewal, make_payment_method
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _url(organization, tail: str = "") -> str:
    return f"/{organization.handle}/-/billing/{tail}"


def _text(response) -> str:
    """The page's visible text, whitespace collapsed (so assertions read like what a person sees)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    html = re.sub(r"</?(a|strong|span|time|code)\b[^>]*>", "", html)  # inline: no word break
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _person(organization, role: str):
    person = UserFactory()
    membership(organization, person, role)
    return person


def _tier(organization) -> str:
    return Organization.objects.get(pk=organization.pk).tier


@pytest.fixture
def owner_client(client, user, stripe_catalog):
    client.force_login(user)
    return client


def test_comparison_is_read_from_the_catalog(owner_client, organization, stripe_settings):
    Plan.objects.filter(slug="growth").update(max_workspaces=12, rate_limit_api_per_minute=2345,
                                              features=["Something only Growth has"])
    response = owner_client.get(_url(organization))
    assert response.status_code == 200
    text = _text(response)
    assert "Free Current Starter Growth Enterprise" in text
    assert "Price Free $20.00 per seat per month $50.00 per seat per month By agreement" in text
    assert "Workspaces 1 3 12 Unlimited" in text
    assert "API requests per minute 250 500 2,345 10,000" in text
    assert "Run history kept 7 days 14 days 30 days 365 days" in text
    assert "Something only Growth has" in text
    # The card form loads Stripe.js from the configured URL (localstripe's here, Stripe's in production).
    assert f'<script src="{stripe_settings.STRIPE_JS_URL}"></script>' in response.content.decode()
    assert "Starter: 1 seat \N{MULTIPLICATION SIGN} $20.00 = $20.00 per month" in text


@pytest.mark.parametrize(("who", "status"), [("anonymous", 302), ("outsider", 404), ("member", 403),
                                             ("admin", 403), ("owner", 200)])
def test_only_owners_see_billing(client, organization, user, stripe_catalog, who, status):
    if who == "owner":
        client.force_login(user)
    elif who == "outsider":
        outsider = UserFactory()
        membership(OrganizationFactory(), outsider, "owner")
        client.force_login(outsider)
    elif who != "anonymous":
        client.force_login(_person(organization, who))
    assert client.get(_url(organization)).status_code == status
    response = client.post(_url(organization, "subscribe"), {"tier": "starter",
                                                             "payment_method_id": make_payment_method()})
    assert response.status_code == (status if status != 200 else 302)
    assert _tier(organization) == ("starter" if who == "owner" else "free")
    if who in ("member", "admin"):
        home = client.get(f"/{organization.handle}/").content.decode()
        assert _url(organization) not in home
        assert client.post(_url(organization, "setup")).status_code == 403


def test_setup_gives_stripe_js_a_client_secret_and_changes_nothing(owner_client, organization, stripe_api):
    response = owner_client.post(_url(organization, "setup"))
    assert response.status_code == 200
    secret = response.json()["client_secret"]
    intent = stripe_api.SetupIntent.retrieve(secret.split("_secret_")[0])
    assert (intent["status"], intent["usage"], intent["metadata"]["organization_id"]) == (
        "requires_payment_method", "off_session", str(organization.pk))
    assert not Subscription.objects.for_organization(organization).exists()


def test_buy_then_upgrade_downgrade_cancel_resume_and_replace_the_card(owner_client, organization, stripe_api):
    response = owner_client.post(_url(organization, "subscribe"), {
        "tier": "starter", "payment_method_id": make_payment_method(), "idempotency_key": "k" * 32})
    assert (response.status_code, response["Location"]) == (302, _url(organization))
    text = _text(owner_client.get(_url(organization)))
    assert "Welcome to Starter. The new limits apply now." in text
    assert "Tier Starter Active" in text
    assert re.search(r"Next invoice \$20\.00 on \d+ \w+ \d{4}", text)
    assert "Card on file Visa ending in 4242, expires 12/2030" in text
    assert re.search(r"Past invoices Date Amount Status Invoice \d+ \w+ \d{4} \$20\.00 Paid in_", text)
    assert "Upgrade to Growth" in text and "Buy a tier" not in text

    # The same rendered key twice (a double click) buys once.
    again = owner_client.post(_url(organization, "subscribe"), {
        "tier": "starter", "payment_method_id": make_payment_method(), "idempotency_key": "k" * 32})
    assert again.status_code == 409
    assert "already on Starter" in _text(again)

    assert owner_client.post(_url(organization, "subscribe"), {"tier": "growth"}).status_code == 302
    row = Subscription.objects.for_organization(organization).get()
    assert (row.plan.slug, _tier(organization)) == ("growth", "growth")
    text = _text(owner_client.get(_url(organization)))
    assert "Your organization is now on Growth." in text and "Downgrade to Starter" in text
    invoices = stripe_api.Invoice.list(customer=row.stripe_customer_id)["data"]
    assert sorted(i["amount_due"] for i in invoices)[0] == 2000  # the first month; the upgrade is prorated

    assert owner_client.post(_url(organization, "subscribe"), {"tier": "starter"}).status_code == 302
    assert _tier(organization) == "starter"

    assert owner_client.post(_url(organization, "cancel")).status_code == 302
    text = _text(owner_client.get(_url(organization)))
    assert re.search(r"The Starter subscription ends on \d+ \w+ \d{4}; the organization then returns to Free", text)
    assert "Next invoice None: the subscription ends with this period" in text
    assert _tier(organization) == "starter"

    assert owner_client.post(_url(organization, "resume")).status_code == 302
    assert not Subscription.objects.for_organization(organization).get().cancel_at_period_end

    new_card = stripe_api.PaymentMethod.create(type="card", card={"number": "5555555555554444", "exp_month": 3,
                                                                   "exp_year": 2031, "cvc": "123"})["id"]
    assert owner_client.post(_url(organization, "card"), {"payment_method_id": new_card}).status_code == 302
    assert "Card on file Visa ending in 4444, expires 03/2031" in _text(owner_client.get(_url(organization)))


@pytest.mark.parametrize(("data", "status", "message"), [
    ({"tier": "platinum"}, 422, "Unknown tier 'platinum'"),
    ({"tier": "enterprise"}, 422, "Enterprise is arranged with us"),
    ({"tier": "starter"}, 422, "Enter a card to buy a tier."),
    ({"tier": "starter", "payment_method_id": "4242424242424242"}, 422, "must be a Stripe payment method id"),
])
def test_bad_purchases_are_shown_and_change_nothing(owner_client, organization, data, status, message):
    response = owner_client.post(_url(organization, "subscribe"), data)
    assert response.status_code == status
    assert message in _text(response)
    assert _tier(organization) == "free"
    assert not Subscription.objects.for_organization(organization).exclude(stripe_subscription_id="").exists()


def test_declined_card_is_402_and_buys_nothing(owner_client, organization):
    response = owner_client.post(_url(organization, "subscribe"), {
        "tier": "growth", "payment_method_id": make_payment_method(DECLINED_CARD)})
    assert response.status_code == 402
    assert "declined" in _text(response).lower()
    assert _tier(organization) == "free"


def test_past_due_shows_a_banner_with_the_grace_period(owner_client, organization, user, stripe_api):
    owner_client.post(_url(organization, "subscribe"), {"tier": "starter",
                                                        "payment_method_id": make_payment_method()})
    owner_client.post(_url(organization, "card"), {"payment_method_id": make_payment_method(FAILS_LATER_CARD)})
    row = Subscription.objects.for_organization(organization).get()
    fail_a_renewal(stripe_api, row)
    from apps.billing.services import subscriptions_reconcile

    subscriptions_reconcile()
    text = _text(owner_client.get(_url(organization)))
    assert re.search(r"Your last payment failed\. Starter stays in force until \d+ \w+ \d{4}", text)
    assert "Tier Starter Past due" in text


def test_over_the_limit_after_a_downgrade_is_shown_and_nothing_deleted(owner_client, organization, user):
    for n in range(3):
        WorkspaceFactory(organization=organization, handle=f"w{n}")
    text = _text(owner_client.get(_url(organization)))
    assert ("Workspaces 3 1 Over the limit: nothing was deleted, but the newest beyond 1 are read-only and none can "
            "be added until there are fewer than 1, or the tier is upgraded.") in text
    assert Workspace.objects.for_organization(organization).count() == 3


def test_workspace_limit_prompts_owners_to_upgrade_and_others_to_ask(client, organization, user, workspace):
    client.force_login(user)
    response = client.post(f"/{organization.handle}/-/workspaces/new", {"name": "Second", "handle": "second"})
    assert response.status_code == 402
    text = _text(response)
    assert "The Free tier allows 1 workspace; this organization uses 1. Upgrade to Starter to add more." in text
    assert f'href="/{organization.handle}/-/billing/?tier=starter"' in response.content.decode()
    admin = _person(organization, "admin")
    client.force_login(admin)
    response = client.post(f"/{organization.handle}/-/workspaces/new", {"name": "Second", "handle": "second"})
    assert response.status_code == 402
    assert f"Ask an Owner of {organization.name} to upgrade" in _text(response)
    assert "/-/billing/" not in response.content.decode()
    assert Workspace.objects.for_organization(organization).count() == 1


def test_audit_trail_below_enterprise_prompts_an_upgrade(client, organization, user, stripe_catalog):
    client.force_login(user)
    response = client.get(f"/{organization.handle}/-/audit/")
    assert "The audit trail is not included in the Free tier. Upgrade to Enterprise" in _text(response)
    # Enterprise is not bought online: the prompt names it and links to Billing, where it is explained.
    assert f'href="/{organization.handle}/-/billing/?tier=enterprise"' in response.content.decode()
    text = _text(client.get(f"/{organization.handle}/-/billing/?tier=enterprise"))
    assert "Enterprise is not bought online: it is arranged with the operator of this Praetor installation" in text


@pytest.mark.parametrize(("role", "status"), [("member", 403), ("admin", 200), ("owner", 200)])
def test_usage_page_for_owners_and_admins(client, organization, user, role, status, settings):
    # A loaded machine made this flaky twice over: (1) buckets refill continuously (logs_events at 500/min
    # gives back 5 units in 0.6 s), so a fixed tolerance failed whenever rendering took longer; the bound is
    # now what the bucket guarantees for the time that actually passed. (2) A Redis reply slower than the
    # 0.25 s socket timeout switched the limiter to its in-process fallback for 5 s, so the draw and the
    # page's peek read different stores; this test's own limiter (a new configuration) waits for Redis.
    settings.PRAETOR_RATELIMIT_REDIS_TIMEOUT = 30.0
    # Exact counts: with leases (docs/ratelimit.md) a process's drawn-but-unspent tokens show as used too.
    settings.PRAETOR_RATELIMIT_LEASE_MAX = 1
    person = user if role == "owner" else _person(organization, role)
    client.force_login(person)
    started = time.monotonic()
    for _ in range(7):
        consume(organization, "api")
    consume(organization, "logs_events", n=40)
    response = client.get(f"/{organization.handle}/-/usage/")
    elapsed = time.monotonic() - started
    assert response.status_code == status
    if status == 200:
        text = _text(response)
        # limit, used (as a meter and a number), remaining, seconds to full, last hour allowed and refused.
        for label, limit, drawn in (("API requests api", 250, 7), ("Log lines and events logs_events", 500, 40)):
            found = re.search(rf"{label} {limit} (\d+) \1 (\d+) \d+ s {drawn} 0 ", text)
            assert found, text
            used, remaining = int(found[1]), int(found[2])
            # At most `elapsed` seconds of refill (limit per 60 s) since the first draw; nothing else drew.
            assert drawn - elapsed * limit / 60 <= used <= drawn, (used, elapsed)
            assert used + remaining == limit
        assert (f'href="/{organization.handle}/-/billing/"' in response.content.decode()) is (role == "owner")


def test_usage_page_of_another_organization_is_not_found(client, organization):
    outsider = UserFactory()
    membership(OrganizationFactory(), outsider, "owner")
    client.force_login(outsider)
    assert client.get(f"/{organization.handle}/-/usage/").status_code == 404


def test_downgrade_keeps_everything_over_the_limit_and_the_pages_say_so(owner_client, organization, user):
    from apps.organizations import services as org_services
    from apps.organizations.models import Membership
    from apps.workspaces import services as ws_services

    owner_client.post(_url(organization, "subscribe"), {"tier": "growth", "payment_method_id": make_payment_method()})
    organization = Organization.objects.get(pk=organization.pk)
    for n in range(4):
        ws_services.workspace_create(organization=organization, name=f"W{n}", handle=f"w{n}", actor=user)
    for _ in range(11):
        _person(organization, "member")
    text = _text(owner_client.get(_url(organization)))
    # Offered downgrade, with what it would leave over Starter's limits.
    assert ("Over Starter's limits after the change (kept, but the newest beyond the limit become read-only and "
            "nothing more can be added until under): "
            "Seats (members and pending invitations): 12 in use, Starter allows 10 "
            "Workspaces: 4 in use, Starter allows 3") in text

    assert owner_client.post(_url(organization, "subscribe"), {"tier": "starter"}).status_code == 302
    organization = Organization.objects.get(pk=organization.pk)
    assert organization.tier == "starter"
    assert Workspace.objects.for_organization(organization).count() == 4
    assert Membership.objects.for_organization(organization).count() == 12
    text = _text(owner_client.get(f"/{organization.handle}/"))
    assert ("is over the limits of its Starter tier. Nothing was deleted, but the workspaces created last and the "
            "members who joined last beyond the limit are read-only, and none of these can be added, until you "
            "are back under the limit or upgrade: Seats (members and pending invitations): 12 in use, 10 allowed "
            "Workspaces: 4 in use, 3 allowed") in text
    assert "W3 Read-only" in text and "W2 Read-only" not in text  # all still listed; the newest read-only
    for row in ("Seats (members and pending invitations) 12 10 Over the limit", "Workspaces 4 3 Over the limit"):
        assert row in _text(owner_client.get(_url(organization)))
        assert row in _text(owner_client.get(f"/{organization.handle}/-/usage/"))

    # Nothing more can be added while over: no workspace, no invitation (402 naming the limit and the tier).
    response = owner_client.post(f"/{organization.handle}/-/workspaces/new", {"name": "Five", "handle": "five"})
    assert response.status_code == 402
    assert "The Starter tier allows 3 workspaces; this organization uses 4. Upgrade to Growth" in _text(response)
    from apps.core.errors import LimitExceeded

    with pytest.raises(LimitExceeded, match="The Starter tier allows 10 members"):
        org_services.invitation_create(organization=organization, email="new@example.com", actor=user)

    # Back under the limit by the owner's own hand: adding works again, and the banner is gone.
    ws_services.workspace_delete(workspace=Workspace.objects.for_organization(organization).get(handle="w3"),
                                 actor=user)
    ws_services.workspace_delete(workspace=Workspace.objects.for_organization(organization).get(handle="w2"),
                                 actor=user)
    assert owner_client.post(f"/{organization.handle}/-/workspaces/new",
                             {"name": "Five", "handle": "five"}).status_code == 302
    text = _text(owner_client.get(f"/{organization.handle}/"))
    assert "Seats (members and pending invitations): 12 in use, 10 allowed" in text and "Workspaces: " not in text


def test_members_do_not_see_the_over_limit_banner(client, organization, user):
    for n in range(3):
        WorkspaceFactory(organization=organization, handle=f"w{n}")
    member = _person(organization, "member")
    client.force_login(member)
    assert "over the limits" not in _text(client.get(f"/{organization.handle}/"))
    admin = _person(organization, "admin")
    client.force_login(admin)
    text = _text(client.get(f"/{organization.handle}/"))
    assert "is over the limits of its Free tier" in text and "or upgrade" not in text


def test_without_stripe_keys_the_page_says_paid_tiers_are_not_set_up(client, organization, user, settings):
    settings.STRIPE_API_KEY = settings.STRIPE_PUBLISHABLE_KEY = ""
    client.force_login(user)
    response = client.get(_url(organization))
    assert response.status_code == 200
    text = _text(response)
    assert "Paid tiers are not set up on this installation yet" in text
    assert "Buy a tier" not in text and "Compare tiers" in text
    assert "<script" not in response.content.decode()
