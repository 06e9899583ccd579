"""In a real browser, against localstripe on loopback: an Owner hits the workspace limit, follows the upgrade
prompt to Billing, enters a card in the Stripe.js card form (localstripe's stand-in), buys Starter, creates
the workspace the new limit allows, then upgrades to Growth. The card goes to Stripe only, never to us."""

from __future__ import annotations

import re

import pytest
import stripe
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from apps.billing.models import Subscription
from apps.organizations.models import Organization
from apps.workspaces.models import Workspace
from tests.billing.conftest import (  # noqa: F401  (fixtures: localstripe on loopback, the catalog synced into it)
    localstripe_url,
    stripe_api,
    stripe_catalog,
    stripe_settings,
)
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("stripe_catalog", "stripe_api")]

PASSWORD = "correct horse battery"
CARD = "4242424242424242"
DECLINED = "4000000000000002"


def _sign_in(ui, email: str) -> None:
    ui.goto("/accounts/login/")
    ui.page.get_by_label("Email").fill(email)
    ui.page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def _fill_card(page, number: str = CARD) -> None:
    # localstripe's stand-in mounts plain inputs named by placeholder; Stripe's real Element is an iframe.
    box = page.locator("[data-card-element]")
    box.get_by_placeholder("number").fill(number)
    box.get_by_placeholder("exp_month").fill("12")
    box.get_by_placeholder("exp_year").fill("30")
    box.get_by_placeholder("cvc").fill("123")
    box.get_by_placeholder("postal_code").fill("75001")


def test_owner_buys_starter_with_a_card_then_upgrades_to_growth(ui):
    owner = UserFactory(email="olga@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme", handle="acme")
    membership(organization, owner, "owner")
    WorkspaceFactory(organization=organization, name="Production", handle="prod")
    page = ui.page
    to_our_server = []
    page.on("request", lambda r: to_our_server.append(r.post_data or "") if r.url.startswith(ui.base_url) else None)

    _sign_in(ui, owner.email)
    ui.goto("/acme/-/workspaces/new")
    page.get_by_label("Name").fill("Staging")
    ui.submit("Create workspace")
    expect(page.get_by_text("The Free tier allows 1 workspace; this organization uses 1. Upgrade to Starter to add "
                            "more.")).to_be_visible()
    ui.click_to_page(page.get_by_role("link", name="Compare tiers and upgrade"))
    assert ui.path == "/acme/-/billing/?tier=starter"

    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    table = page.get_by_role("table", name="What each tier includes")
    expect(table.get_by_role("row", name=re.compile(r"^Workspaces"))).to_have_text(
        re.compile(r"Workspaces\s*1\s*3\s*10\s*Unlimited"))
    expect(page.get_by_label("Starter: 1 seat \N{MULTIPLICATION SIGN} $20.00 = $20.00 per month")).to_be_checked()
    expect(page.get_by_test_id("active-tier")).to_have_text("Free")

    # An empty card is refused by Stripe.js before anything is bought.
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("[data-card-status]")).to_have_text("Enter the card number, expiry date, CVC and postal code.")
    assert Organization.objects.get(pk=organization.pk).tier == "free"

    # A card the bank declines: Stripe says so in the form, and nothing is bought.
    _fill_card(page, DECLINED)
    page.get_by_role("button", name="Buy", exact=True).click()
    expect(page.locator("[data-card-status]")).to_have_text("Your card was declined.")
    assert not Subscription.objects.for_organization(organization).exclude(stripe_subscription_id="").exists()

    _fill_card(page)
    ui.submit("Buy")
    assert ui.path == "/acme/-/billing/"
    expect(page.get_by_text("Welcome to Starter. The new limits apply now.")).to_be_visible()
    expect(page.get_by_test_id("active-tier")).to_have_text("Starter Active")
    expect(page.get_by_test_id("card-on-file")).to_have_text("Visa ending in 4242, expires 12/2030")
    expect(page.get_by_test_id("next-invoice")).to_have_text(re.compile(r"\$20\.00 on \d+ \w+ \d{4}"))
    expect(page.get_by_role("table").filter(has_text="Invoice").last).to_contain_text("$20.00")
    row = Subscription.objects.for_organization(organization).get()
    assert (row.status, row.plan.slug, row.quantity) == ("active", "starter", 1)
    assert stripe.Customer.retrieve(row.stripe_customer_id)["invoice_settings"]["default_payment_method"]

    # The new limit applies at once: the second workspace can be created now.
    ui.goto("/acme/-/workspaces/new")
    page.get_by_label("Name").fill("Staging")
    ui.submit("Create workspace")
    assert ui.path == "/acme/staging/"
    assert Workspace.objects.for_organization(organization).count() == 2

    ui.goto("/acme/-/billing/")
    ui.submit("Upgrade to Growth")
    expect(page.get_by_text("Your organization is now on Growth. The new limits apply now.")).to_be_visible()
    expect(page.get_by_test_id("active-tier")).to_have_text("Growth Active")
    expect(page.get_by_role("row", name=re.compile(r"^Workspaces \d")).first).to_contain_text("10")
    expect(page.get_by_role("button", name="Downgrade to Starter")).to_be_visible()
    row.refresh_from_db()
    assert (row.plan.slug, Organization.objects.get(pk=organization.pk).tier) == ("growth", "growth")
    remote = stripe.Subscription.retrieve(row.stripe_subscription_id)
    assert remote["items"]["data"][0]["plan"]["id"] == "praetor_growth_usd_5000_monthly"

    # Owners and Admins see the API usage against the new tier's rate limits.
    ui.click_to_page(page.get_by_role("link", name="Usage", exact=True))
    expect(page.get_by_role("row", name=re.compile(r"^API requests api"))).to_contain_text("2000")
    expect(page.get_by_role("row", name=re.compile(r"^Log lines and events logs_events"))).to_contain_text("10000")

    # What our server received: never the card number, only Stripe's payment method id.
    assert to_our_server and not any(CARD in body for body in to_our_server)
    assert any(re.search(r"payment_method_id=pm_\w+", body) for body in to_our_server)


@pytest.mark.parametrize("ui", ["phone"], indirect=True)
def test_billing_and_usage_fit_a_phone_screen(ui):
    owner = UserFactory(email="pat@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    membership(OrganizationFactory(name="Pocket", handle="pocket"), owner, "owner")
    _sign_in(ui, owner.email)
    for path in ("/pocket/-/billing/", "/pocket/-/usage/"):
        ui.goto(path)
        # Wide tables scroll inside their own (keyboard-focusable) region, never the page.
        assert ui.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(ui.page.get_by_role("heading", level=1)).to_have_text("Usage")
