"""In a real browser: an Owner invites someone by email; the invitee opens the link, creates an account with
that address, confirms it and accepts; the Owner puts them on a team, makes them Admin, creates a service
account (its key shown once, and it works) and revokes a pending invitation. Each page is checked with axe."""

import re

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect
from rest_framework.test import APIClient

from apps.organizations.models import Invitation, Membership, ServiceAccount, Team, TeamMembership
from apps.organizations.services import organization_create
from apps.workspaces.services import workspace_create
from tests.factories.identity import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _sign_in(ui, email):
    page = ui.page
    ui.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def test_invite_accept_team_role_and_service_account(ui, new_ui, mailoutbox):
    owner = UserFactory(email="owner@example.com")
    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    org = organization_create(name="Acme", handle="acme", owner=owner)
    workspace_create(organization=org, name="Production", handle="prod", actor=owner)

    # The Owner invites grace@example.com from the Members page; the link is shown once and emailed.
    page = ui.page
    _sign_in(ui, "owner@example.com")
    ui.goto("/acme/")
    ui.click_to_page(page.get_by_role("navigation", name="Organization Acme").get_by_role("link", name="Members"))
    assert ui.path == "/acme/-/members/"
    page.get_by_label("Email address").fill("grace@example.com")
    page.get_by_label("Organization role").select_option("member")
    ui.submit("Send invitation")
    expect(page.get_by_role("heading", name="grace@example.com is invited")).to_be_visible()
    link = page.get_by_label("Invitation link").input_value()
    assert link.startswith(ui.base_url + "/invitations/")
    assert [m.to for m in mailoutbox] == [["grace@example.com"]] and link in mailoutbox[0].body

    # The invitee opens the link signed out, creates an account with that address and confirms it.
    guest = new_ui()
    gp = guest.page
    guest.goto(link)
    expect(gp.get_by_role("heading", level=1)).to_have_text("Join Acme")
    guest.click_to_page(gp.get_by_role("link", name="Create an account"))
    gp.get_by_label("Email").fill("grace@example.com")
    gp.get_by_label("Password", exact=True).fill("a-long-passphrase-1")
    gp.get_by_label("Password (again)").fill("a-long-passphrase-1")
    guest.submit("Sign up")
    confirm = re.search(r"(http://\S+)", mailoutbox[-1].body).group(1)
    guest.goto(confirm)
    guest.submit("Confirm my email address")
    # Signed in and back on the invitation (the sign-up kept the link as where to go next).
    assert guest.path == link.removeprefix(ui.base_url)
    # The home page offers the waiting invitation too, instead of sending her to create an organization.
    guest.goto("/")
    expect(gp.get_by_role("heading", name="Invitations for you")).to_be_visible()
    guest.goto(link)
    guest.submit("Accept and join Acme")
    assert guest.path == "/acme/"
    expect(gp.get_by_text("Welcome to Acme: you joined as Member.")).to_be_visible()
    grace = Membership.objects.for_organization(org).get(user__email="grace@example.com")
    assert grace.role == "member"

    # The Owner creates a team and puts Grace on it.
    ui.goto("/acme/-/teams/")
    page.get_by_label("Name").fill("Data")
    page.get_by_label("Description").fill("Pipelines and warehouse")
    ui.submit("Create team")
    expect(page.get_by_role("heading", level=1)).to_have_text("Team Data")
    page.get_by_label("Add a member").select_option(label="grace@example.com")
    ui.submit("Add to team")
    expect(page.get_by_role("row", name=re.compile("grace@example.com"))).to_be_visible()
    team = Team.objects.for_organization(org).get()
    assert list(TeamMembership.objects.filter(team=team).values_list("user__email", flat=True)) == [
        "grace@example.com"]

    # … makes her Admin, using only the keyboard on the role control.
    ui.goto("/acme/-/members/")
    role = page.get_by_label("Role of grace@example.com", exact=True)
    role.focus()
    role.select_option("admin")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ui.visited()
    expect(page.get_by_text("grace@example.com is now Admin.")).to_be_visible()
    grace.refresh_from_db()
    assert grace.role == "admin"

    # … creates a service account: its key is shown once and authenticates the API.
    ui.goto("/acme/-/service-accounts/")
    page.get_by_label("Name").fill("ci")
    ui.submit("Create service account")
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("pnb_")
    bot = ServiceAccount.objects.for_organization(org).get()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/me/").json()["id"] == str(bot.pk)
    ui.goto(f"/acme/-/service-accounts/{bot.pk}/")
    assert secret not in page.content()

    # … and revokes an invitation nobody answered.
    ui.goto("/acme/-/members/")
    page.get_by_label("Email address").fill("nobody@example.com")
    ui.submit("Send invitation")
    ui.goto("/acme/-/members/")
    ui.click_to_page(page.get_by_role("button", name="Revoke the invitation to nobody@example.com"))
    expect(page.get_by_text("The invitation to nobody@example.com is revoked")).to_be_visible()
    assert Invitation.objects.for_organization(org).get(email="nobody@example.com").status == "revoked"
