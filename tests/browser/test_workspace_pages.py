"""In a real browser, on a seeded workspace: the dashboard, flow runs (filters, a run's history, timeline,
logs followed live), flows and deployments, work pools, blocks, variables, artifacts and concurrency limits;
each page screenshotted and checked with axe-core; the same pages at phone width."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone
from playwright.sync_api import expect

from apps.engine.models import Log
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery"


@pytest.fixture
def seeded():
    user = UserFactory(email="ops@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    organization = OrganizationFactory(name="Acme", handle="acme")
    membership(organization, user, "owner")
    workspace = WorkspaceFactory(organization=organization, name="Production", handle="prod")
    return user, workspace, seed_workspace(workspace)


def _sign_in(ui, user):
    ui.goto("/accounts/login/")
    ui.page.get_by_label("Email").fill(user.email)
    ui.page.get_by_label("Password").fill(PASSWORD)
    ui.submit("Sign in")


def test_dashboard_runs_and_a_run_page_with_live_logs(ui, seeded):
    user, workspace, s = seeded
    page = ui.page
    _sign_in(ui, user)
    ui.goto("/acme/prod/")
    expect(page.get_by_role("heading", name="Flow runs in the last day")).to_be_visible()
    # Chart.js drew into the canvas (it sizes it), and the figures are also in a table.
    page.wait_for_function("document.getElementById('run-chart').height > 0")
    attention = page.get_by_role("table", name="Failed and crashed runs first, then late runs")
    expect(attention.get_by_role("row")).to_have_count(3)  # header + failed + late
    expect(attention.get_by_role("row").nth(1)).to_contain_text("angry-lynx")
    expect(attention.get_by_role("row").nth(2)).to_contain_text("sleepy-sloth")
    expect(page.get_by_role("table", name="Work pools and their health")).to_contain_text("1 of 2")
    ui.click_to_page(page.get_by_role("link", name="Week"))
    expect(page.get_by_role("heading", name="Flow runs in the last week")).to_be_visible()

    ui.click_to_page(page.get_by_role("link", name="Flow runs", exact=True))
    runs = page.get_by_role("table", name="Flow runs, newest expected start first, page 1")
    expect(runs.get_by_role("row")).to_have_count(7)  # header + 6 runs
    page.get_by_text("Filter runs").click()
    page.get_by_label("Failed").check()
    page.get_by_label("Tags").fill("prod")
    ui.submit("Apply filters")
    expect(runs.get_by_role("row")).to_have_count(2)
    ui.click_to_page(page.get_by_role("link", name="angry-lynx"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("etl / angry-lynx")
    expect(page.get_by_text("Flow run encountered an exception: ValueError").first).to_be_visible()
    expect(page.get_by_role("rowheader", name="HandleTerminalStates")).to_be_visible()

    # A running run: its logs follow live (htmx polls) — a line written now shows up without a reload.
    ui.goto(f"/acme/prod/runs/{s.running.pk}/")
    expect(page.get_by_role("log")).to_contain_text("quick-heron line 2")
    Log.objects.for_workspace(workspace).create(workspace=workspace, name="prefect", level=20,
                                                message="a fresh line", timestamp=timezone.now(),
                                                flow_run_id=s.running.pk)
    expect(page.get_by_role("log")).to_contain_text("a fresh line", timeout=10_000)
    expect(page.get_by_role("log").get_by_text("a fresh line")).to_have_count(1)

    ui.goto(f"/acme/prod/runs/{s.completed.pk}/")
    timeline = page.get_by_role(
        "list", name="Task runs in start order; each bar spans the task's run time within the flow run")
    expect(timeline.get_by_role("listitem")).to_have_count(3)
    ui.click_to_page(page.get_by_role("link", name="etl / child-subflow"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("child-subflow")


def test_flows_deployments_pools_and_limits(ui, seeded):
    user, workspace, s = seeded
    page = ui.page
    _sign_in(ui, user)
    ui.goto("/acme/prod/")
    ui.click_to_page(page.get_by_role("link", name="Flows", exact=True))
    ui.click_to_page(page.get_by_role("link", name="etl", exact=True))
    ui.click_to_page(page.get_by_role("link", name="etl/nightly"))
    expect(page.get_by_text("cron 0 2 * * * (UTC)")).to_be_visible()
    expect(page.get_by_role("region", name="Upcoming runs")).to_contain_text("future-fox")
    ui.submit("Pause schedules")
    expect(page.get_by_text("Schedules paused: no new runs are scheduled.")).to_be_visible()
    ui.submit("Resume schedules")
    ui.click_to_page(page.get_by_role("link", name="Run…"))
    page.get_by_label("source").fill("s3://bucket/today")
    page.get_by_label("limit").fill("42")
    page.get_by_label("full_refresh").check()
    page.get_by_label("mode").select_option("replace")
    ui.submit("Run")
    expect(page.get_by_role("heading", level=1)).to_contain_text("etl / ")
    expect(page.get_by_role("region", name="Parameters")).to_contain_text('"limit": 42')
    ui.click_to_page(page.get_by_role("link", name="Work pools", exact=True))
    ui.click_to_page(page.get_by_role("link", name="k8s-pool"))
    expect(page.get_by_role("table", name="Workers of k8s-pool, latest heartbeat first")).to_contain_text("Online")
    ui.click_to_page(page.get_by_role("link", name="Concurrency", exact=True))
    expect(page.get_by_role("table", name="Global concurrency and rate limits")).to_contain_text("warehouse")


@pytest.mark.parametrize("ui", ["phone"], indirect=True)
def test_pages_fit_a_phone_screen(ui, seeded):
    user, workspace, s = seeded
    _sign_in(ui, user)
    for path in ["", "runs/", f"runs/{s.completed.pk}/", "flows/", f"deployments/{s.deployment.pk}/",
                 f"deployments/{s.deployment.pk}/run", f"work-pools/{s.pool.pk}/", "concurrency/", "blocks/",
                 f"blocks/{s.secret.pk}/", "blocks/new/secret", "variables/", "artifacts/"]:
        ui.goto(f"/acme/prod/{path}")
        assert ui.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path


def test_blocks_variables_and_artifacts(ui, seeded):
    user, workspace, s = seeded
    page = ui.page
    _sign_in(ui, user)
    ui.goto("/acme/prod/blocks/")
    ui.click_to_page(page.get_by_role("link", name="db-password"))
    expect(page.get_by_text("********")).to_be_visible()
    expect(page.get_by_text("hunter2-s3cret")).to_have_count(0)
    ui.submit("Reveal secret values")
    expect(page.get_by_text("hunter2-s3cret")).to_be_visible()

    # A new block from the form generated from the String block's schema.
    ui.goto("/acme/prod/blocks/")
    ui.click_to_page(page.get_by_role("link", name="Add a block"))
    ui.click_to_page(page.get_by_role("link", name=re.compile(r"^String ")))
    page.get_by_label("Block name").fill("greeting")
    page.get_by_label("Value", exact=True).fill("hello")
    ui.submit("Create block")
    expect(page.get_by_role("heading", level=1)).to_contain_text("greeting")
    expect(page.get_by_text("hello", exact=True)).to_be_visible()

    ui.click_to_page(page.get_by_role("link", name="Variables", exact=True))
    page.get_by_label("Name").fill("batch_size")
    page.get_by_label("Value").fill("500")
    ui.submit("Add variable")
    expect(page.get_by_role("table", name="Variables by name")).to_contain_text("batch_size")
    page.get_by_label("Name").fill("batch_size")
    page.get_by_label("Value").fill("1")
    ui.submit("Add variable")
    expect(page.get_by_text("A variable with the name 'batch_size' already exists.")).to_be_visible()

    ui.click_to_page(page.get_by_role("link", name="Artifacts", exact=True))
    ui.click_to_page(page.get_by_role("link", name="etl-report"))
    content = page.get_by_role("region", name="Content")
    expect(content.get_by_role("table")).to_contain_text("1200")
    expect(content).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    assert page.evaluate("document.querySelectorAll('main script').length") == 0


def test_runs_are_filtered_and_opened_with_the_keyboard_alone(ui, seeded):
    user, workspace, s = seeded
    page = ui.page
    _sign_in(ui, user)
    ui.goto("/acme/prod/runs/")
    # Skip link, then the filter disclosure: Enter opens it, Space ticks a state, Enter in a field submits.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("summary")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Completed")).to_be_focused()
    page.keyboard.press("Space")
    page.get_by_label("Tags").focus()
    page.keyboard.type("etl")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ui.visited()
    runs = page.get_by_role("table", name="Flow runs, newest expected start first, page 1")
    expect(runs.get_by_role("row")).to_have_count(2)
    link = page.get_by_role("link", name="brave-otter")
    link.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ui.visited()
    expect(page.get_by_role("heading", level=1)).to_contain_text("brave-otter")
