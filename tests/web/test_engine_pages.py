"""The workspace's orchestration pages with the test client: what each shows, who may open it (the
denial matrix), that no page shows another workspace's data, and that each costs a fixed number of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.access import catalog
from apps.organizations.models import Tier
from tests.factories.access import custom_role, grant
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory
from tests.web.seed import seed_workspace

pytestmark = pytest.mark.django_db

# path template, the permission it needs
PAGES = [
    ("", None),
    ("runs/", "flow_runs:read"),
    ("runs/{completed}/", "flow_runs:read"),
    ("runs/{running}/logs", "logs:read"),
    ("flows/", "flows:read"),
    ("flows/{flow}/", "flows:read"),
    ("deployments/", "deployments:read"),
    ("deployments/{deployment}/", "deployments:read"),
    ("deployments/{deployment}/run", "deployments:run"),
    ("work-pools/", "work_pools:read"),
    ("work-pools/{pool}/", "work_pools:read"),
    ("concurrency/", "concurrency_limits:read"),
    ("blocks/", "blocks:read"),
    ("blocks/{secret}/", "blocks:read"),
    ("blocks/new/", "blocks:write"),
    ("blocks/new/secret", "blocks:write"),
    ("blocks/{secret}/edit", "blocks:write"),
    ("variables/", "variables:read"),
    ("variables/{variable}/edit", "variables:write"),
    ("artifacts/", "artifacts:read"),
    ("artifacts/{artifact}/", "artifacts:read"),
]


@pytest.fixture
def org():
    """Enterprise (custom roles), in place of tests/web/conftest.py's Growth organization; `ws` is its workspace."""
    return OrganizationFactory(tier=Tier.ENTERPRISE)


@pytest.fixture
def seeded(ws):
    return seed_workspace(ws)


@pytest.fixture
def owner(org):
    user = UserFactory()
    membership(org, user, "owner")
    return user


def _ids(s) -> dict:
    from apps.engine.models import Artifact, Variable

    ws = s.flow.workspace
    return {"completed": s.completed.pk, "running": s.running.pk, "flow": s.flow.pk, "deployment": s.deployment.pk,
            "pool": s.pool.pk, "secret": s.secret.pk,
            "variable": Variable.objects.for_workspace(ws).get(name="region").pk,
            "artifact": Artifact.objects.for_workspace(ws).get(key="etl-report").pk}


def _url(ws, template, s) -> str:
    return f"/{ws.organization.handle}/{ws.handle}/" + template.format(**_ids(s))


def _member_with(org, ws, permissions) -> UserFactory:
    user = UserFactory()
    membership(org, user, "member")
    grant(ws, user=user, custom_role=custom_role(org, name=f"r{user.pk}", permissions=permissions))
    return user


@pytest.mark.parametrize(("template", "permission"), PAGES)
def test_denial_matrix(client, org, ws, seeded, template, permission):
    url = _url(ws, template, seeded)
    # Anonymous: sign in first.
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # Another organization's owner: the page does not exist.
    outsider = UserFactory()
    membership(OrganizationFactory(), outsider, "owner")
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    # A member of the organization without any role in the workspace: not found either.
    stranger = UserFactory()
    membership(org, stranger, "member")
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    if permission:
        # In the workspace, but without the permission: 403 naming it.
        client.force_login(_member_with(org, ws, {"workspace:read"}))
        response = client.get(url)
        assert response.status_code == 403
    # Holding exactly what the page needs is enough.
    client.force_login(_member_with(org, ws, {"workspace:read", permission or "workspace:read"}))
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(("template", "permission"), PAGES)
def test_read_only_collaborator_sees_every_page_but_no_form(client, org, ws, seeded, template, permission):
    user = UserFactory()
    membership(org, user, "member")
    grant(ws, user=user, role=catalog.READ_ONLY_COLLABORATOR)
    client.force_login(user)
    expected = 403 if permission and permission.endswith((":write", ":run")) else 200
    assert client.get(_url(ws, template, seeded)).status_code == expected


@pytest.mark.parametrize("template", [t for t, _ in PAGES if "{" in t])
def test_another_workspaces_objects_are_not_found(client, org, ws, owner, template):
    # The owner of both organizations asks for workspace B's objects under workspace A's URL.
    other_ws = WorkspaceFactory(organization=org)
    theirs = seed_workspace(other_ws)
    seed_workspace(ws)
    client.force_login(owner)
    url = f"/{org.handle}/{ws.handle}/" + template.format(**_ids(theirs))
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("template", ["", "runs/", "flows/", "deployments/", "work-pools/", "concurrency/",
                                      "blocks/", "variables/", "artifacts/"])
def test_lists_show_nothing_of_another_workspace(client, org, ws, owner, template):
    from apps.engine.models import BlockDocument, ConcurrencyLimitV2, Flow, FlowRun, WorkPool

    other_ws = WorkspaceFactory(organization=org)
    seed_workspace(other_ws)
    from apps.engine.models import Variable
    from apps.engine.services.artifacts import artifact_create

    for row in Variable.objects.for_workspace(other_ws):
        row.name = f"theirs_{row.name}"
        row.value = f"theirs-{row.value}"
        row.save()
    artifact_create(workspace=other_ws, key="theirs-artifact", type="markdown", data="x")
    for row in BlockDocument.objects.for_workspace(other_ws):
        row.name = f"theirs-{row.name}"
        row.save(update_fields=["name"])
    for model in (FlowRun, Flow, WorkPool, ConcurrencyLimitV2):
        for row in model.objects.for_workspace(other_ws):
            row.name = f"theirs-{row.name}"
            row.save(update_fields=["name"])
    seed_workspace(ws)
    client.force_login(owner)
    html = client.get(f"/{org.handle}/{ws.handle}/{template}").content.decode()
    assert "theirs-" not in html


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


# Fixed query costs: session, user, organization, membership, workspace, effective access (one each),
# then the page's own reads.
EXPECTED_QUERIES = {
    "": 6 + 4, "runs/": 6 + 3, "runs/{completed}/": 6 + 7, "runs/{running}/logs": 6 + 2,
    "flows/": 6 + 1, "flows/{flow}/": 6 + 4, "deployments/": 6 + 2, "deployments/{deployment}/": 6 + 4,
    "deployments/{deployment}/run": 6 + 2,
    "work-pools/": 6 + 2, "work-pools/{pool}/": 6 + 3, "concurrency/": 6 + 2,
    "blocks/": 6 + 2, "blocks/{secret}/": 6 + 2, "blocks/new/": 6 + 2, "blocks/new/secret": 6 + 2,
    "blocks/{secret}/edit": 6 + 2, "variables/": 6 + 1, "variables/{variable}/edit": 6 + 1, "artifacts/": 6 + 1,
    "artifacts/{artifact}/": 6 + 2,
}


@pytest.mark.parametrize(("template", "permission"), PAGES)
def test_each_page_costs_a_fixed_number_of_queries(client, ws, owner, template, permission):
    s = seed_workspace(ws)
    client.force_login(owner)
    url = _url(ws, template, s)
    client.get(url)  # warm the per-process caches (tier entitlements)
    first = _queries(client, url)
    # More of everything (runs, task runs, logs, pools, deployments): the count does not move.
    from tests.web.seed import make_run
    for n in range(5):
        make_run(ws, s.flow, f"more-{n}", deployment=s.deployment, queue=s.queue,
                 history=[("RUNNING", "Running", s.running.start_time, None)])
    assert _queries(client, url) == first == EXPECTED_QUERIES[template]


def test_log_poll_returns_only_new_lines_and_stops_when_the_run_finished(client, ws, owner):
    import datetime

    from django.utils import timezone

    from apps.engine.models import Log

    s = seed_workspace(ws)
    client.force_login(owner)
    base = f"/{ws.organization.handle}/{ws.handle}/runs/{s.running.pk}/"
    html = client.get(base).content.decode()
    assert html.count("quick-heron line") == 3
    last = Log.objects.for_workspace(ws).filter(flow_run_id=s.running.pk).order_by("-created", "-id").first()
    assert f"after_id={last.pk}" in html and 'hx-trigger="every 2s"' in html
    response = client.get(base + "logs", {"after": last.created.isoformat(), "after_id": str(last.pk)})
    assert response.status_code == 200 and "<tr>" not in response.content.decode()
    fresh = Log.objects.for_workspace(ws).create(workspace=ws, name="p", level=30, message="new one",
                                                 timestamp=timezone.now(), flow_run_id=s.running.pk)
    body = client.get(base + "logs", {"after": last.created.isoformat(), "after_id": str(last.pk)}).content.decode()
    assert body.count("<tr>") == 1 and "new one" in body and "WARNING" in body
    assert f"after_id={fresh.pk}" in body and 'hx-swap-oob="true"' in body
    # Once the run is terminal, the next poll answers its last lines and removes the poller.
    s.running.state_type = "COMPLETED"
    s.running.end_time = timezone.now() + datetime.timedelta(seconds=1)
    s.running.save()
    body = client.get(base + "logs", {"after": fresh.created.isoformat(), "after_id": str(fresh.pk)}).content.decode()
    assert "hx-get" not in body and '<div id="log-poller" hx-swap-oob="true"></div>' in body
    assert "hx-get" not in client.get(base).content.decode()


def test_bad_log_cursor_and_bad_filters_are_400(client, ws, owner):
    s = seed_workspace(ws)
    client.force_login(owner)
    base = f"/{ws.organization.handle}/{ws.handle}/runs/"
    assert client.get(f"{base}{s.running.pk}/logs", {"after": "yesterday", "after_id": "x"}).status_code == 400
    assert client.get(base, {"since": "2026-01-02T00:00", "until": "2026-01-01T00:00"}).status_code == 400
    assert client.get(base, {"state": "NOPE"}).status_code == 400
    assert client.get(base, {"flow": "not-a-uuid"}).status_code == 400


def test_run_filters_and_pages(client, ws, owner):
    from tests.web.seed import make_run

    s = seed_workspace(ws)
    client.force_login(owner)
    base = f"/{ws.organization.handle}/{ws.handle}/runs/"
    html = client.get(base, {"state": "FAILED"}).content.decode()
    assert "angry-lynx" in html and "brave-otter" not in html
    html = client.get(base, {"tags": "prod etl"}).content.decode()
    assert "brave-otter" in html and "angry-lynx" not in html
    html = client.get(base, {"deployment": str(s.deployment.pk)}).content.decode()
    assert "quick-heron" not in html and "angry-lynx" in html
    for n in range(30):
        make_run(ws, s.flow, f"bulk-{n:02d}", history=[("COMPLETED", "Completed", s.completed.end_time, None)])
    first = client.get(base, {"flow": str(s.flow.pk)}).content.decode()
    assert "Older runs" in first and "Newer runs" not in first and first.count('scope="row"') == 25
    second = client.get(base, {"flow": str(s.flow.pk), "page": 2}).content.decode()
    assert "Newer runs" in second and "Older runs" not in second and second.count('scope="row"') == 36 - 25


def test_dashboard_lists_failing_before_late_and_counts_by_state(client, ws, owner):
    seed_workspace(ws)
    client.force_login(owner)
    response = client.get(f"/{ws.organization.handle}/{ws.handle}/")
    attention = [run.name for run in response.context["attention"]]
    assert attention == ["angry-lynx", "sleepy-sloth"]
    assert response.context["histogram"].totals == {"SCHEDULED": 1, "RUNNING": 1, "COMPLETED": 2, "FAILED": 1}
    assert [(h.pool.name, h.workers_online, h.workers_total, h.status) for h in response.context["pools"]] == [
        ("k8s-pool", 1, 2, "Ready")]


def test_empty_workspace_pages_say_what_to_do(client, ws, owner):
    client.force_login(owner)
    base = f"/{ws.organization.handle}/{ws.handle}/"
    expectations = {"": "No flow runs in the last day", "runs/": "No flow runs yet", "flows/": "No flows yet",
                    "deployments/": "prefect deploy", "work-pools/": "prefect work-pool create",
                    "concurrency/": "prefect gcl create"}
    for path, text in expectations.items():
        assert text in client.get(base + path).content.decode(), path


def test_agent_pools_show_their_queues_poll_health_not_worker_readiness(client, ws, owner):
    """Prefect 2.20 gives agent pools no status of their own (agents never heartbeat); its UI shows their
    queues' health: polled in the last minute and no Late run. The dashboard and the pools page follow."""
    import datetime

    from django.utils import timezone

    from apps.engine.models import WorkPool, WorkQueue
    from tests.web.seed import make_run

    s = seed_workspace(ws)
    now = timezone.now()
    polled = WorkPool.all_workspaces.create(workspace=ws, name="agents-a", type="prefect-agent")
    WorkQueue.all_workspaces.create(workspace=ws, work_pool=polled, name="default",
                                    last_polled=now - datetime.timedelta(seconds=10))
    WorkQueue.all_workspaces.create(workspace=ws, work_pool=polled, name="spare")
    stale = WorkPool.all_workspaces.create(workspace=ws, name="agents-b", type="prefect-agent")
    WorkQueue.all_workspaces.create(workspace=ws, work_pool=stale, name="default",
                                    last_polled=now - datetime.timedelta(minutes=5))
    late = WorkPool.all_workspaces.create(workspace=ws, name="agents-c", type="prefect-agent")
    late_queue = WorkQueue.all_workspaces.create(workspace=ws, work_pool=late, name="default",
                                                 last_polled=now - datetime.timedelta(seconds=5))
    make_run(ws, s.flow, "tardy-tapir", queue=late_queue,
             history=[("SCHEDULED", "Late", now - datetime.timedelta(minutes=3), None)])
    client.force_login(owner)
    base = f"/{ws.organization.handle}/{ws.handle}/"
    for path in ("", "work-pools/"):
        response = client.get(base + path)
        assert [(h.pool.name, h.status, h.summary) for h in response.context["pools"]] == [
            ("agents-a", "Healthy", "Agent polled 1 of 2 queues in the last minute"),
            ("agents-b", "Unhealthy", "No agent polled in the last minute"),
            ("agents-c", "Unhealthy", "Agent polled 1 of 1 queues in the last minute; 1 late run"),
            ("k8s-pool", "Ready", "1 of 2"),
        ], path
        assert "Not ready" not in response.content.decode()
    detail = client.get(base + f"work-pools/{polled.pk}/")
    assert [(q.name, q.status) for q in detail.context["queues"]] == [("default", "Healthy"), ("spare", "Unhealthy")]
    assert "agents do not register as workers" in detail.content.decode()
    # A worker pool's queues: Ready while polled in the last minute, otherwise Not ready; paused first.
    detail = client.get(base + f"work-pools/{s.pool.pk}/")
    assert [(q.name, q.status) for q in detail.context["queues"]] == [("critical", "Paused"), ("default", "Not ready")]
