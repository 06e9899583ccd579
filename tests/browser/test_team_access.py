"""In a real browser (issue 3): an admin creates a team, adds a member and grants the team Read-Only
Collaborator on a workspace; the member sees the workspace but cannot create a block; the admin switches
the grant to Collaborator and the member can, on her next page, without signing out. Each page passes axe."""

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from apps.engine.models import BlockDocument
from apps.organizations.services import organization_create
from apps.workspaces.services import workspace_create
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _person(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def _sign_in(ui, email):
    ui.goto("/accounts/login/")
    ui.page.get_by_label("Email").fill(email)
    ui.page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def test_team_grant_gives_and_changes_a_members_permissions(ui, new_ui):
    owner = _person("owner@example.com")
    org = organization_create(name="Acme", handle="acme", owner=owner)
    org.tier = "growth"  # the first tier with workspace roles
    org.save(update_fields=["tier"])
    workspace = workspace_create(organization=org, name="Production", handle="prod", actor=owner)
    grace = _person("grace@example.com")
    membership(org, grace, "member")

    # The admin creates the team, adds Grace, and grants the team Read-Only Collaborator on prod.
    page = ui.page
    _sign_in(ui, "owner@example.com")
    ui.goto("/acme/-/teams/")
    page.get_by_label("Name").fill("Data")
    page.get_by_label("Description").fill("Pipelines")
    ui.submit("Create team")
    page.get_by_label("Add a member").select_option(label="grace@example.com")
    ui.submit("Add to team")
    ui.goto("/acme/prod/access/")
    page.get_by_label("Team, member or service account").select_option(label="Data")
    page.get_by_label("Role", exact=True).select_option(label="Read-Only Collaborator")
    ui.submit("Grant role")
    expect(page.get_by_role("row", name="Data")).to_contain_text("Read-Only Collaborator")

    # Grace sees the workspace and its blocks, but is offered no way to add one and is refused if she tries.
    member = new_ui()
    mp = member.page
    _sign_in(member, "grace@example.com")
    assert member.goto("/acme/prod/").status == 200
    member.goto("/acme/prod/blocks/")
    expect(mp.get_by_role("link", name="Add a block")).to_have_count(0)
    assert member.goto("/acme/prod/blocks/new/string").status == 403

    # The admin switches the team's grant to Collaborator.
    ui.goto("/acme/prod/access/")
    page.get_by_label("New role for Data").select_option(label="Collaborator")
    ui.submit("Change role of Data")
    expect(page.get_by_role("row", name="Data")).to_contain_text("Collaborator")

    # On her next page Grace can add a block.
    member.goto("/acme/prod/blocks/")
    member.click_to_page(mp.get_by_role("link", name="Add a block").first)
    member.goto("/acme/prod/blocks/new/string")
    mp.get_by_label("Block name").fill("greeting")
    mp.get_by_label("Value", exact=True).fill("hello")
    member.submit("Create block")
    expect(mp.get_by_role("heading", level=1)).to_contain_text("greeting")
    assert BlockDocument.objects.for_workspace(workspace).filter(name="greeting").exists()
