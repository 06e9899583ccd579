"""Issue 8, walked in a real browser on a workspace the real prefect 2.20 client filled (not database rows).

A module fixture starts the server (uvicorn serving config.asgi, static files included, as in tests/compat),
bootstraps an organization, a workspace and a key, and runs the client once (tests/browser/client_seed.py):
flows that complete (a retried task, a cached task, a subflow, logs, artifacts), fail, and fail once then
succeed on a flow retry; a deployment with a typed parameter schema in a process pool on a cron schedule and
one in an agent queue; JSON, Secret and a custom block with a nested object; a variable; tag and global
concurrency limits. One test per numbered item of the issue then walks its pages, each page screenshotted
under test-artifacts/screenshots/<test>/ and checked with axe-core (no serious or critical violation).

The seeded workspace outlives single tests, so this module does not use pytest-django's live server (which
makes each test transactional and empties the database after it): the fixture empties it once at the end.
Items already walked on the database-seeded workspace (test_workspace_pages.py: logs following live while a
run runs, the runs filter with the keyboard) are not repeated here.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.browser.client_seed import seed_with_client, start_live_flow
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, UI, VIEWPORTS

# `django_db` (not transactional): it makes pytest-django create the test database, and each test's own
# transaction is rolled back; what the server and the client write is committed, and stays for the module.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PASSWORD = "correct horse battery"  # tests.compat.conftest._bootstrap's
# The walk must stay cheap: the client's one process, then about ten pages a test.
SEED_BUDGET_SECONDS = 180


@dataclass
class Walk:
    praetor: object
    ids: dict
    base: str  # "/compat/prod/"
    empty_base: str  # a second workspace with nothing in it: empty states
    seconds: float


def _static_uvicorn(port: int):
    """tests/compat's uvicorn thread, serving static files too (the browser needs CSS, htmx, Chart.js)."""
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from config.asgi import application
    from tests.compat.conftest import _UvicornThread

    thread = _UvicornThread(port)
    thread.server = uvicorn.Server(uvicorn.Config(
        ASGIStaticFilesHandler(application), host="127.0.0.1", port=port, lifespan="off", log_level="warning",
        ws="wsproto", access_log=False, timeout_graceful_shutdown=1))
    return thread


@pytest.fixture(scope="module")
def walk(django_db_setup, django_db_blocker, tmp_path_factory):
    from allauth.account.models import EmailAddress
    from django.core.management import call_command

    from apps.billing.catalog import tier_catalog_restore
    from apps.engine.services.deployments import SchedulingWindow
    from apps.engine.services.sweeps import deployments_schedule_due, flow_runs_mark_late
    from apps.workspaces.services import workspace_create
    from tests.compat.conftest import Praetor, _bootstrap, _free_port

    started = time.monotonic()
    server = live = None
    # The server's threads use the database all module long (pytest-django blocks it outside a test's own
    # set-up); the fixture empties it once, at the end.
    with django_db_blocker.unblock():
        try:
            user, organization, workspace, secret = _bootstrap("growth", None)
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
            workspace_create(organization=organization, name="Sandbox", handle="sandbox", actor=user)
            server = _static_uvicorn(_free_port())
            server.start_and_wait()
            home = tmp_path_factory.mktemp("prefect-home")
            praetor = Praetor(port=server.server.config.port, home=home, user=user, organization=organization,
                              workspace=workspace, api_key=secret)
            ids = seed_with_client(praetor, timeout=SEED_BUDGET_SECONDS)
            # What beat does on the server: schedule the cron deployment's next runs, mark overdue runs Late.
            deployments_schedule_due(window=SchedulingWindow(min_runs=3, min_time=datetime.timedelta(0)))
            flow_runs_mark_late()
            seconds = time.monotonic() - started
            # A flow that is still running (and logging) while the first tests open their pages.
            live = start_live_flow(praetor)
            assert seconds < SEED_BUDGET_SECONDS, f"seeding took {seconds:.0f}s"
            yield Walk(praetor=praetor, ids=ids, base=f"/{praetor.slug}/",
                       empty_base=f"/{organization.handle}/sandbox/", seconds=seconds)
        finally:
            if live is not None and live.poll() is None:
                os.killpg(live.pid, signal.SIGTERM)
                live.wait(15)
            if server is not None:
                server.stop()
            call_command("flush", interactive=False, verbosity=0)
            tier_catalog_restore()


@pytest.fixture(scope="module")
def browser(walk):
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def signed_in(browser, walk) -> dict:
    """Cookies of a signed-in session (the workspace's owner), shared by every test's tab."""
    context = browser.new_context(base_url=walk.praetor.base_url)
    page = context.new_page()
    page.goto(walk.praetor.base_url + "/accounts/login/")
    page.get_by_label("Email").fill(walk.praetor.user.email)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    state = context.storage_state()
    context.close()
    return state


def _tab(request, browser, walk, signed_in, viewport):
    context = browser.new_context(viewport=VIEWPORTS[viewport], base_url=walk.praetor.base_url,
                                  storage_state=signed_in)
    context.set_default_timeout(15_000)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    return context, UI(context.new_page(), walk.praetor.base_url, name)


@pytest.fixture
def ui(request, browser, walk, signed_in):
    context, tab = _tab(request, browser, walk, signed_in, getattr(request, "param", "desktop"))
    yield tab
    context.close()
    assert tab.violations == [], "accessibility violations:\n" + "\n".join(tab.violations)


def test_seeding_by_the_client_is_bounded_and_complete(walk):
    assert walk.seconds < SEED_BUDGET_SECONDS
    assert set(walk.ids) >= {"etl", "failing", "flaky", "late", "upcoming", "deployment", "deployment_failed",
                             "agent_queue"}
    print(f"seeded by the client in {walk.seconds:.1f}s (client process {walk.ids['client_seconds']:.1f}s)")


def _pollers_check_in(walk) -> None:
    """What a running agent and worker keep doing, over the API: the agent polls its queue (health is
    "polled in the last minute") and the worker heartbeats (online for three 30 s intervals); on a loaded
    machine the walk may reach the pools pages later than that after the seeding."""
    status, _ = walk.praetor.api("POST", f"work_queues/{walk.ids['agent_queue']}/get_runs", {})
    assert status == 200
    status, _ = walk.praetor.api("POST", "work_pools/proc-pool/workers/heartbeat",
                                 {"name": "walk-worker", "heartbeat_interval_seconds": 30})
    assert status == 204


def test_1_dashboard_chart_failing_and_late_first_and_pool_health(ui, walk):
    page = ui.page
    _pollers_check_in(walk)
    ui.goto(walk.base)
    expect(page.get_by_role("heading", name="Flow runs in the last day")).to_be_visible()
    page.wait_for_function("document.getElementById('run-chart').height > 0")
    attention = page.get_by_role("table", name="Failed and crashed runs first, then late runs")
    rows = attention.get_by_role("row")
    expect(rows).to_have_count(4)  # header, the two failed runs (newest first), then the late run
    expect(rows.nth(1)).to_contain_text("walk-report")  # the deployment run the client ran as a worker would
    expect(rows.nth(1)).to_contain_text("Failed")
    expect(rows.nth(2)).to_contain_text("walk-failing")
    expect(rows.nth(2)).to_contain_text("Failed")
    expect(rows.nth(3)).to_contain_text("walk-report")
    expect(rows.nth(3)).to_contain_text("Late")
    pools = page.get_by_role("table", name="Work pools and their health")
    expect(pools.get_by_role("row", name=re.compile("default-agent-pool"))).to_contain_text("Healthy")
    expect(pools.get_by_role("row", name=re.compile("default-agent-pool"))).to_contain_text(
        "Agent polled 1 of")
    expect(pools.get_by_role("row", name=re.compile("proc-pool"))).to_contain_text("Ready")
    expect(pools.get_by_role("row", name=re.compile("proc-pool"))).to_contain_text("1 of 1")
    expect(pools).not_to_contain_text("Not ready")
    ui.click_to_page(page.get_by_role("link", name="Week"))
    expect(page.get_by_role("heading", name="Flow runs in the last week")).to_be_visible()


def test_2_a_running_runs_logs_follow_live(ui, walk):
    """The client's flow is running and logging a line a second: its page shows the lines so far, then new
    ones appear without a reload (htmx polls the logs view), each once."""
    from apps.engine.models import FlowRun, StateType

    page = ui.page
    workspace = walk.praetor.workspace
    deadline = time.monotonic() + 90
    run = None
    while run is None and time.monotonic() < deadline:
        running = FlowRun.objects.for_workspace(workspace).filter(state_type=StateType.RUNNING)
        run = running.filter(flow__name="walk-live").first()
        time.sleep(0.5)
    assert run is not None, "the client's live flow did not start running"
    ui.goto(walk.base + f"runs/{run.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Running")
    logs = page.get_by_role("log")
    expect(logs).to_contain_text("tick ")
    seen = [int(n) for n in re.findall(r"tick (\d+)", logs.inner_text())]
    later = max(seen) + 3
    expect(logs).to_contain_text(f"tick {later}", timeout=20_000)  # arrived while the page stayed open
    expect(logs.get_by_text(f"tick {later}", exact=True)).to_have_count(1)
    assert page.url.endswith(f"runs/{run.pk}/")


def test_2_runs_filters_history_decisions_timeline_logs_cancel_and_retry(ui, walk):
    page, ids = ui.page, walk.ids
    ui.goto(walk.base + "runs/")
    runs = page.get_by_role("table", name="Flow runs, newest expected start first, page 1")
    expect(runs).to_contain_text("walk-etl")
    page.get_by_text("Filter runs").click()
    page.get_by_label("Failed").check()
    ui.submit("Apply filters")
    expect(runs.get_by_role("row")).to_have_count(3)
    expect(runs).to_contain_text("walk-failing")
    expect(runs).not_to_contain_text("walk-etl")
    ui.goto(walk.base + "runs/")
    page.get_by_text("Filter runs").click()
    page.get_by_label("Tags").fill("walk")
    ui.submit("Apply filters")
    for row in runs.get_by_role("row").all()[1:]:
        expect(row).to_contain_text("daily")  # only the tagged deployment's runs
    # By flow; then by deployment and a time range (from half an hour ahead: its scheduled runs only).
    ui.goto(walk.base + "runs/")
    page.get_by_text("Filter runs").click()
    page.get_by_label(re.compile(r"^Flow\b")).select_option(label="walk-etl")
    ui.submit("Apply filters")
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs).to_contain_text("walk-etl")
    ui.goto(walk.base + "runs/")
    page.get_by_text("Filter runs").click()
    page.get_by_label(re.compile(r"^Deployment\b")).select_option(label="walk-report/daily")
    # From half an hour ahead, the late and executed runs fall before it; but never past the schedule's next cron
    # run (0 2 * * *), which half an hour ahead left out from 01:30 to 02:00 UTC
    now = datetime.datetime.now(datetime.UTC)
    next_cron = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if next_cron <= now:
        next_cron += datetime.timedelta(days=1)
    since = min(now + datetime.timedelta(minutes=30), next_cron)
    page.get_by_label("Expected start from (UTC)").fill(since.strftime("%Y-%m-%dT%H:%M"))
    ui.submit("Apply filters")
    rows = runs.get_by_role("row")
    assert rows.count() >= 1 + 4, "the upcoming run and the scheduler's three cron runs"
    for row in rows.all()[1:]:
        expect(row).to_contain_text("Scheduled")

    # The completed run: every transition with the rules that decided it, task runs on a timeline
    # (the retried task, the cached one), the subflow, parameters, result metadata and the client's logs.
    ui.goto(walk.base + f"runs/{ids['etl']}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("walk-etl")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")
    history = page.get_by_role("region", name="State history")
    expect(history.get_by_role("table", name="Orchestration decisions for this transition").first).to_be_visible()
    expect(history).to_contain_text("Running")
    timeline = page.get_by_role(
        "list", name="Task runs in start order; each bar spans the task's run time within the flow run")
    expect(timeline).to_contain_text("extract")
    expect(timeline).to_contain_text("Cached")
    expect(timeline).to_contain_text("publish")
    expect(page.get_by_role("region", name="Parameters")).to_contain_text('"n": 3')
    expect(page.get_by_role("region", name="Result")).to_contain_text("storage_key")
    logs = page.get_by_role("log")
    expect(logs).to_contain_text("etl starts with n=3")
    expect(logs).to_contain_text("computing the cube of 2")
    expect(page.get_by_role("region", name="Artifacts")).to_contain_text("nightly-summary")
    ui.click_to_page(page.get_by_role("region", name="Subflow runs").get_by_role("link"))
    expect(page.get_by_role("log")).to_contain_text("child saw 16")

    # A flow retry: the failed attempt, the AwaitingRetry the rule decided, then success.
    ui.goto(walk.base + f"runs/{ids['flaky']}/")
    history = page.get_by_role("region", name="State history")
    expect(history).to_contain_text("AwaitingRetry")
    expect(history.get_by_role("rowheader", name="RetryFailedFlows")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Completed")

    ui.goto(walk.base + f"runs/{ids['failing']}/")
    expect(page.get_by_text("the warehouse is unreachable").first).to_be_visible()
    expect(page.get_by_role("log")).to_contain_text("cannot reach the warehouse")

    # Cancel a scheduled deployment run from its page: with no infrastructure it goes straight to Cancelled
    # (the rule says so in its history), and a Cancelled run is not offered a retry the engine would refuse.
    ui.goto(walk.base + f"runs/{ids['upcoming']}/")
    ui.submit("Cancel run")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cancelled")
    expect(page.get_by_role("rowheader", name="BypassCancellingFlowRunsWithNoInfra")).to_be_visible()
    expect(page.get_by_role("button", name="Retry run")).to_have_count(0)
    # The deployment run the client executed as a process worker would, which failed: retry it.
    ui.goto(walk.base + f"runs/{ids['deployment_failed']}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Failed")
    expect(page.get_by_role("log")).to_contain_text("no data for region nowhere")
    ui.submit("Retry run")
    expect(page.get_by_role("heading", level=1)).to_contain_text("AwaitingRetry")
    expect(page.get_by_text("The run is scheduled again (AwaitingRetry)")).to_be_visible()


def test_3_flows_deployments_run_form_schedule_and_upcoming_runs(ui, walk):
    page = ui.page
    ui.goto(walk.base)
    ui.click_to_page(page.get_by_role("link", name="Flows", exact=True))
    ui.click_to_page(page.get_by_role("link", name="walk-report", exact=True))
    ui.click_to_page(page.get_by_role("link", name="walk-report/daily"))
    expect(page.get_by_text("cron 0 2 * * *")).to_be_visible()
    upcoming = page.get_by_role("region", name="Upcoming runs")
    expect(upcoming).to_contain_text("Scheduled")
    assert upcoming.get_by_role("row").count() >= 1 + 3, "the scheduler's three cron runs"
    ui.submit("Pause schedules")
    expect(page.get_by_text("Schedules paused: no new runs are scheduled.")).to_be_visible()
    ui.submit("Resume schedules")
    expect(page.get_by_role("button", name="Pause schedules")).to_be_visible()
    ui.click_to_page(page.get_by_role("link", name="Run…"))
    # The form generated from the client's parameter schema: its defaults filled in, the nested model's
    # fields as their own inputs.
    expect(page.get_by_label("region")).to_have_value("eu")
    expect(page.get_by_label("limit")).to_have_value("10")
    page.get_by_label("region").fill("apac")
    page.get_by_label("limit").fill("42")
    page.get_by_label("dry_run").check()
    page.get_by_label("mode").select_option("replace")
    page.get_by_role("group", name="target").get_by_label("table").fill("weekly")
    ui.submit("Run")
    expect(page.get_by_role("heading", level=1)).to_contain_text("walk-report / ")
    parameters = page.get_by_role("region", name="Parameters")
    expect(parameters).to_contain_text('"region": "apac"')
    expect(parameters).to_contain_text('"limit": 42')
    expect(parameters).to_contain_text('"table": "weekly"')
    expect(parameters).to_contain_text('"batch_size": 500')
    ui.goto(walk.base + "deployments/")
    expect(page.get_by_role("main")).to_contain_text("agent-etl")


def test_4_pools_blocks_variables_artifacts_and_limits(ui, walk):
    page = ui.page
    _pollers_check_in(walk)
    ui.goto(walk.base + "work-pools/")
    ui.click_to_page(page.get_by_role("link", name="default-agent-pool"))
    queues = page.get_by_role("table", name="Queues of default-agent-pool by priority")
    expect(queues.get_by_role("row", name=re.compile("agent-queue"))).to_contain_text("Healthy")
    ui.goto(walk.base + "work-pools/")
    ui.click_to_page(page.get_by_role("link", name="proc-pool"))
    expect(page.get_by_role("table", name="Workers of proc-pool, latest heartbeat first")).to_contain_text("Online")

    # Blocks saved by the client: a secret masked until revealed; the custom block's nested object edited.
    ui.click_to_page(page.get_by_role("link", name="Blocks", exact=True))
    ui.click_to_page(page.get_by_role("link", name="api-token", exact=True))
    expect(page.get_by_text("tok-s3cr3t-123")).to_have_count(0)
    ui.submit("Reveal secret values")
    expect(page.get_by_text("tok-s3cr3t-123")).to_be_visible()
    ui.goto(walk.base + "blocks/")
    ui.click_to_page(page.get_by_role("link", name="main-warehouse"))
    expect(page.get_by_role("main")).to_contain_text("db.internal")
    expect(page.get_by_role("main")).not_to_contain_text("hunter2-pw")
    ui.click_to_page(page.get_by_role("link", name="Edit", exact=True))
    endpoint = page.get_by_role("group", name="endpoint")
    expect(endpoint.get_by_label("host")).to_have_value("db.internal")
    expect(endpoint.get_by_label("port")).to_have_value("5432")
    endpoint.get_by_label("host").fill("db2.internal")
    endpoint.get_by_label("port").fill("0")  # the model says ge=1: the schema check fails, on that field
    ui.submit("Save")
    expect(endpoint.get_by_label("port")).to_have_attribute("aria-invalid", "true")
    expect(endpoint).to_contain_text("0 is less than the minimum of 1")
    endpoint.get_by_label("port").fill("6432")
    # The field holding another block is a choice of the saved Secret blocks, the current one selected.
    token = page.get_by_label("Api Token")
    expect(token.locator("option:checked")).to_have_text("Secret / api-token")
    token.select_option(label="Secret / api-token-next")
    ui.submit("Save")
    expect(page.get_by_role("link", name="api-token-next")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("db2.internal")
    expect(page.get_by_role("main")).to_contain_text("6432")
    ui.submit("Reveal secret values")
    expect(page.get_by_text("hunter2-pw")).to_be_visible()  # the password left empty kept its value

    # A new block of the client's type: its nested object and the block it holds, from the form.
    ui.goto(walk.base + "blocks/new/")
    ui.click_to_page(page.get_by_role("link", name=re.compile(r"^Warehouse")))
    page.get_by_label("Block name").fill("replica")
    page.get_by_role("group", name="endpoint").get_by_label("host").fill("replica.internal")
    page.get_by_label("Password").fill("replica-pw")
    page.get_by_label("Api Token").select_option(label="Secret / api-token")
    ui.submit("Create block")
    expect(page.get_by_role("heading", level=1)).to_contain_text("replica")
    expect(page.get_by_role("main")).to_contain_text("replica.internal")
    expect(page.get_by_role("link", name="api-token", exact=True)).to_be_visible()

    ui.click_to_page(page.get_by_role("link", name="Variables", exact=True))
    table = page.get_by_role("table", name="Variables by name")
    expect(table.get_by_role("row", name=re.compile("batch_size"))).to_contain_text("500")
    ui.click_to_page(page.get_by_role("link", name="Edit batch_size"))
    page.get_by_label("Value").fill("750")
    ui.submit("Save")
    expect(table.get_by_role("row", name=re.compile("batch_size"))).to_contain_text("750")

    ui.click_to_page(page.get_by_role("link", name="Artifacts", exact=True))
    ui.click_to_page(page.get_by_role("link", name="nightly-summary"))
    content = page.get_by_role("region", name="Content")
    expect(content.get_by_role("heading", name="Nightly load")).to_be_visible()
    expect(content).to_contain_text("<script>alert(1)</script>")  # shown as text, never run
    assert page.evaluate("document.querySelectorAll('main script').length") == 0
    ui.goto(walk.base + "artifacts/")
    ui.click_to_page(page.get_by_role("link", name="rows-by-region"))
    expect(page.get_by_role("region", name="Content").get_by_role("table")).to_contain_text("1200")
    ui.goto(walk.base + "artifacts/")
    ui.click_to_page(page.get_by_role("link", name="load-dashboard"))
    expect(page.get_by_role("region", name="Content").get_by_role("link", name="Load dashboard")).to_have_attribute(
        "href", "https://example.com/dashboards/load")

    ui.goto(walk.base + "concurrency/")
    expect(page.get_by_role("table", name="Global concurrency and rate limits")).to_contain_text("api-calls")
    expect(page.get_by_role("main")).to_contain_text("warehouse")


def test_5_organization_pages(ui, walk):
    page = ui.page
    org = walk.praetor.organization.handle
    pages = [(f"/{org}/", walk.praetor.organization.name), (f"/{org}/-/members/", "Members of"),
             (f"/{org}/-/teams/", "Teams of"), (f"/{org}/-/service-accounts/", "Service accounts of"),
             ("/settings/api-keys/", "Your API keys"), (f"{walk.base}access/", "Access to"),
             (f"/{org}/-/billing/", "Billing"), (f"/{org}/-/usage/", "Usage"), (f"/{org}/-/audit/", "Audit trail")]
    for path, heading in pages:
        response = ui.goto(path)
        assert response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    # The key the client used is listed (never its secret), and the audit trail has the client's writes.
    ui.goto("/settings/api-keys/")
    expect(page.get_by_role("main")).to_contain_text("compat")
    expect(page.get_by_role("main")).not_to_contain_text(walk.praetor.api_key)


@pytest.mark.parametrize("ui", ["phone"], indirect=True)
def test_6_phone_width_keyboard_and_empty_states(ui, walk):
    page, ids = ui.page, walk.ids
    # Pages whose content the client shaped (test_workspace_pages.py walks the rest at this width too).
    for path in ["", f"runs/{ids['etl']}/", f"deployments/{ids['deployment']}/run", "work-pools/", "blocks/new/",
                 "blocks/new/warehouse", "artifacts/"]:
        ui.goto(walk.base + path)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    # The keyboard alone: skip link, then to a run from the runs list.
    ui.goto(walk.base + "runs/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to main content")).to_be_focused()
    page.get_by_role("table", name="Flow runs, newest expected start first, page 1").get_by_role("link").first.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    ui.visited()
    expect(page.get_by_role("heading", level=2, name="State history")).to_be_visible()
    # A workspace with nothing in it says what to do next on every page.
    expectations = {"": "No flow runs in the last day", "runs/": "No flow runs yet", "flows/": "No flows yet",
                    "deployments/": "prefect deploy", "work-pools/": "prefect work-pool create",
                    "concurrency/": "prefect gcl create", "variables/": "No variables yet",
                    "artifacts/": "create_markdown_artifact"}
    for path, text in expectations.items():
        ui.goto(walk.empty_base + path)
        expect(page.get_by_role("main")).to_contain_text(text)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
