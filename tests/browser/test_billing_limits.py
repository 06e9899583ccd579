"""In a real browser, over a tier's limits: inviting past the seat limit shows the upgrade prompt (the limit and
the tier that lifts it, a link to Billing for Owners); after a downgrade, the workspace created last says it is
read-only on every page, offers no forms, and a form posted anyway answers 402 with the prompt; deleting the
other workspace (in the browser, typing its handle) lifts it. Each page is screenshotted and checked with axe."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from apps.billing.services import organization_tier_set
from apps.engine.models import Variable
from apps.organizations.services import organization_create
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _sign_in(ui, email):
    page = ui.page
    ui.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def test_seat_limit_prompt_and_read_only_workspace(ui):
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    org = organization_create(name="Acme", handle="acme", owner=owner)
    organization_tier_set(organization=org, tier="growth")
    workspace_create(organization=org, name="Production", handle="prod", actor=owner)
    workspace_create(organization=org, name="Staging", handle="staging", actor=owner)
    for n in range(2):
        membership(org, UserFactory(email=f"member{n}@example.com"))
    organization_tier_set(organization=org, tier="free")  # 3 seats (all taken), 1 workspace (2 kept)
    page = ui.page
    _sign_in(ui, "owner@example.com")

    # Inviting a fourth person: the upgrade prompt, not just a form error.
    ui.goto("/acme/-/members/")
    page.get_by_label("Email address").fill("fourth@example.com")
    ui.submit("Send invitation")
    prompt = page.locator(".upgrade-prompt")
    expect(prompt).to_contain_text("The Free tier allows 3 members (seats); this organization uses 3. "
                                   "Upgrade to Starter to add more.")
    expect(prompt.get_by_role("link", name="Compare tiers and upgrade")).to_have_attribute(
        "href", "/acme/-/billing/?tier=starter")

    # Staging, created last, is read-only: every page says so and offers no forms.
    ui.goto("/acme/staging/variables/")
    banner = page.get_by_role("region", name="This workspace is read-only")
    expect(banner).to_contain_text("The workspace Staging is read-only: the Free tier allows 1 workspace and this "
                                   "organization has 2.")
    expect(banner.get_by_role("link", name="Compare tiers and upgrade")).to_have_attribute(
        "href", "/acme/-/billing/?tier=starter")
    # The form is not offered: its button is shown disabled with the reason.
    expect(page.get_by_label("Value")).to_have_count(0)
    expect(page.get_by_role("button", name="Add variable")).to_be_disabled()
    ui.goto("/acme/prod/variables/")  # the older workspace is writable
    expect(page.get_by_role("button", name="Add variable")).to_be_enabled()
    expect(page.get_by_role("region", name="This workspace is read-only")).to_have_count(0)

    # A form posted to Staging anyway (say, from a tab opened before the downgrade): 402 with the prompt.
    ui.goto("/acme/prod/variables/")
    page.locator("form[aria-labelledby=new-variable]").evaluate(
        "form => form.setAttribute('action', '/acme/staging/variables/')")
    page.get_by_label("Name").fill("region")
    page.get_by_label("Value").fill('"eu"')
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Add variable").click()
    ui.visited()
    assert navigation.value.status == 402
    expect(page.get_by_role("heading", level=1)).to_have_text("Staging is read-only")
    staging = Workspace.objects.for_organization(org).get(handle="staging")
    assert Variable.objects.for_workspace(staging).count() == 0

    # From the banner, the Owner deletes Production (typing its handle): Staging is writable at once.
    ui.goto("/acme/staging/")
    ui.click_to_page(page.get_by_role("region", name="This workspace is read-only")
                     .get_by_role("link", name="delete a workspace"))
    assert ui.path == "/acme/"
    expect(page.get_by_text("Read-only", exact=True)).to_have_count(1)
    ui.click_to_page(page.get_by_role("link", name="Delete the workspace Production"))
    page.get_by_label("Type prod to confirm").fill("prod")
    ui.submit("Delete workspace")
    assert ui.path == "/acme/"
    expect(page.get_by_role("status")).to_contain_text("The workspace Production and everything in it was deleted.")
    expect(page.get_by_text("Read-only", exact=True)).to_have_count(0)
    ui.goto("/acme/staging/variables/")
    expect(page.get_by_role("region", name="This workspace is read-only")).to_have_count(0)
    expect(page.get_by_role("button", name="Add variable")).to_be_enabled()
