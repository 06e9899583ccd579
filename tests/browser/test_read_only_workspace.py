"""In a real browser: a read-only workspace shows what cannot be done as disabled buttons with the reason, and
no page leads to a 402; a deployment's run form (generated from its parameter schema) lets an optional nested
object be left empty, and once one of its fields is filled in, requires its required fields before posting
(static/js/schema_forms.js), the server checking the same. Screenshots and axe on every page."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from apps.billing.services import organization_limits_apply
from apps.engine.models import FlowRun
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace
from tests.web.test_schema_forms import SCHEMA

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


def _owner(organization):
    user = UserFactory(email="ops@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    membership(organization, user, "owner")
    return user


def _sign_in(ui, user):
    ui.goto("/accounts/login/")
    ui.page.get_by_label("Email").fill(user.email)
    ui.page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def test_a_read_only_workspace_shows_its_calls_to_action_disabled_with_the_reason(ui):
    organization = OrganizationFactory(name="Acme", handle="acme")  # Free: one workspace
    WorkspaceFactory(organization=organization, name="Production", handle="prod")
    staging = WorkspaceFactory(organization=organization, name="Staging", handle="staging")
    s = seed_workspace(staging)
    user = _owner(organization)
    organization_limits_apply(organization=organization)
    page = ui.page
    _sign_in(ui, user)

    ui.goto("/acme/staging/deployments/")
    expect(page.get_by_role("region", name="This workspace is read-only")).to_be_visible()
    ui.click_to_page(page.get_by_role("link", name="etl/nightly"))
    run = page.get_by_role("button", name="Run…")
    expect(run).to_be_disabled()
    expect(run).to_have_accessible_description("Not available: this workspace is read-only (over the workspace "
                                               "limit).")
    expect(page.get_by_role("link", name="Run…")).to_have_count(0)

    ui.click_to_page(page.get_by_role("link", name="Blocks", exact=True))
    expect(page.get_by_role("button", name="Add a block")).to_be_disabled()
    ui.click_to_page(page.get_by_role("link", name="db-password"))
    expect(page.get_by_role("button", name="Edit")).to_be_disabled()
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    # Reading stays: revealing a secret is a read.
    expect(page.get_by_role("button", name="Reveal secret values")).to_be_enabled()

    ui.click_to_page(page.get_by_role("link", name="Variables", exact=True))
    expect(page.get_by_role("button", name="Add variable")).to_be_disabled()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)

    # Cancelling a run stops work and stays offered; following every link of the run page answers no 402.
    ui.goto(f"/acme/staging/runs/{s.running.pk}/")
    expect(page.get_by_role("button", name="Cancel run")).to_be_enabled()
    hrefs = page.eval_on_selector_all("a[href^='/acme/staging/']", "links => links.map(a => a.getAttribute('href'))")
    for href in sorted(set(hrefs)):
        assert page.request.get(ui.url(href)).status != 402, href


def test_an_optional_nested_parameter_may_be_left_empty_but_once_filled_needs_its_required_fields(ui):
    organization = OrganizationFactory(name="Acme", handle="acme", tier="growth")
    workspace = WorkspaceFactory(organization=organization, name="Production", handle="prod")
    s = seed_workspace(workspace)
    deployment = s.deployment
    deployment.parameter_openapi_schema, deployment.parameters = SCHEMA, {}
    deployment.enforce_parameter_schema = False
    deployment.save()
    user = _owner(organization)
    page = ui.page
    _sign_in(ui, user)
    ui.goto(f"/acme/prod/deployments/{deployment.pk}/run")
    table = page.get_by_label("Table")
    expect(table).not_to_have_attribute("required", "")
    expect(page.get_by_label("Batch Size")).to_have_attribute("placeholder", "500")

    # Filling one field of the optional "sink" makes its Table required, in the browser, before posting.
    page.get_by_label("source").fill("s3://raw")
    page.get_by_label("Batch Size").fill("200")
    expect(table).to_have_attribute("aria-required", "true")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(table).to_have_attribute("aria-invalid", "true")
    expect(table).to_have_accessible_description("This field is required.")
    expect(table).to_be_focused()
    assert ui.path == f"/acme/prod/deployments/{deployment.pk}/run"
    ui.visited()
    assert FlowRun.objects.for_workspace(workspace).filter(created_by__isnull=False).count() == 0

    # Emptying it again leaves the whole object out: the run is created without it.
    page.get_by_label("Batch Size").fill("")
    expect(table).to_have_attribute("aria-required", "false")
    expect(table).not_to_have_attribute("aria-invalid", "true")
    ui.submit("Run")
    run = FlowRun.objects.for_workspace(workspace).get(created_by__isnull=False)
    assert run.parameters == {"source": "s3://raw", "limit": 100}

    # A value the schema refuses (the deployment does not enforce it; the form checks anyway): 422 on the field.
    ui.goto(f"/acme/prod/deployments/{deployment.pk}/run")
    page.get_by_label("source").fill("s3://raw")
    page.get_by_label("Table").fill("ab")
    ui.submit("Run")
    table = page.get_by_label("Table")
    expect(table).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-invalid")).to_contain_text("'ab' is too short")
    assert FlowRun.objects.for_workspace(workspace).filter(created_by__isnull=False).count() == 1
    page.get_by_label("Table").fill("daily")
    ui.submit("Run")
    assert FlowRun.objects.for_workspace(workspace).filter(created_by__isnull=False).count() == 2
