"""Over the limit after a downgrade: the workspaces created last and the members who joined last become
read-only (never deleted) until the organization is back under, by deleting or upgrading. Reads, and runs
already under way, keep working; everything else is 402 naming the limit and the tier that lifts it."""

from __future__ import annotations

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.billing.services import organization_limits_apply, organization_tier_set
from apps.engine.models import Deployment, DeploymentSchedule, Flow, FlowRun, StateType, Variable, WorkQueue
from apps.engine.services.deployments import NewRun, flow_runs_insert_scheduled
from apps.engine.services.sweeps import deployments_schedule_due
from apps.identity.services import api_key_create
from apps.organizations import services as org_services
from apps.organizations.models import Membership
from apps.workspaces import services as ws_services
from apps.workspaces.models import Workspace
from tests.billing.test_pages import _text
from tests.factories.identity import UserFactory
from tests.factories.organizations import membership

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def read_only_handles(organization) -> list[str]:
    return list(Workspace.objects.for_organization(organization).filter(read_only=True)
                .order_by("handle").values_list("handle", flat=True))


def read_only_emails(organization) -> list[str]:
    return list(Membership.objects.for_organization(organization).filter(read_only=True)
                .order_by("user__email").values_list("user__email", flat=True))


def client_for(user) -> APIClient:
    _, secret = api_key_create(owner=user, name="t", expires_at=None)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def on_growth(organization, user):
    """An organization on Growth with three workspaces (created a, b, c in that order)."""
    organization_tier_set(organization=organization, tier="growth")
    for handle in ("a", "b", "c"):
        ws_services.workspace_create(organization=organization, name=handle.upper(), handle=handle, actor=user)
    return organization


def limits_events(organization) -> list[dict]:
    return list(AuditEvent.objects.filter(organization_id=organization.pk,
                                          action="praetor.organization.limits_applied")
                .order_by("seq").values_list("details", flat=True))


# --- which ones, and when the flag lifts -------------------------------------------------------------------


def test_downgrade_makes_the_workspaces_created_last_read_only_and_applying_again_changes_nothing(on_growth):
    organization = on_growth
    organization_tier_set(organization=organization, tier="free")  # Free allows 1 workspace
    assert read_only_handles(organization) == ["b", "c"]
    assert Workspace.objects.for_organization(organization).count() == 3  # nothing deleted
    assert limits_events(organization) == [{"tier": "free", "read_only_workspaces": ["b", "c"],
                                            "read_only_members": []}]
    again = organization_limits_apply(organization=organization)
    assert (again.changed, len(again.read_only_workspace_ids)) == (False, 2)
    assert read_only_handles(organization) == ["b", "c"]
    assert len(limits_events(organization)) == 1  # an idempotent run records nothing


def test_deleting_workspaces_or_upgrading_lifts_read_only_at_once(on_growth, user):
    organization = on_growth
    organization_tier_set(organization=organization, tier="free")
    by_handle = {w.handle: w for w in Workspace.objects.for_organization(organization)}
    ws_services.workspace_delete(workspace=by_handle["c"], actor=user)
    assert read_only_handles(organization) == ["b"]  # two left, Free allows one
    ws_services.workspace_delete(workspace=by_handle["a"], actor=user)
    assert read_only_handles(organization) == []  # b is now the only one: writable
    organization_tier_set(organization=organization, tier="free")
    assert read_only_handles(organization) == []


def test_upgrade_makes_every_workspace_writable(on_growth):
    organization = on_growth
    organization_tier_set(organization=organization, tier="free")
    organization_tier_set(organization=organization, tier="starter")  # 3 workspaces
    assert read_only_handles(organization) == []
    assert limits_events(organization)[-1] == {"tier": "starter", "read_only_workspaces": [],
                                               "read_only_members": []}


def test_members_who_joined_last_are_read_only_owners_never(organization, user):
    organization_tier_set(organization=organization, tier="growth")
    people = [UserFactory(email=f"p{n}@example.com") for n in range(4)]
    for person in people:
        membership(organization, person, "member")
    late_owner = UserFactory(email="late-owner@example.com")
    membership(organization, late_owner, "owner")
    organization_tier_set(organization=organization, tier="free")  # 3 seats; 6 members, 2 of them Owners
    # Owners keep their seats first (user, late-owner), then by join order: p0 keeps the third seat.
    assert read_only_emails(organization) == ["p1@example.com", "p2@example.com", "p3@example.com"]
    # Demoting the late Owner gives p0.. the seats by join order again: the late Owner joined last.
    org_services.membership_update_role(
        membership=Membership.objects.for_organization(organization).get(user=late_owner), role="member", actor=user)
    assert read_only_emails(organization) == ["late-owner@example.com", "p2@example.com", "p3@example.com"]
    # Removing a member who keeps a seat gives it to the next one in join order, at once.
    org_services.membership_remove(
        membership=Membership.objects.for_organization(organization).get(user=people[0]), actor=user)
    assert read_only_emails(organization) == ["late-owner@example.com", "p3@example.com"]
    organization_tier_set(organization=organization, tier="starter")
    assert read_only_emails(organization) == []


def test_while_seats_are_over_no_one_can_be_invited_but_members_can_be_removed(organization, user):
    organization_tier_set(organization=organization, tier="growth")
    extra = [UserFactory() for _ in range(3)]
    for person in extra:
        membership(organization, person)
    organization_tier_set(organization=organization, tier="free")
    from apps.core.errors import LimitExceeded

    with pytest.raises(LimitExceeded) as caught:
        org_services.invitation_create(organization=organization, email="new@example.com", actor=user)
    assert caught.value.code == "max_members_exceeded"
    org_services.membership_remove(membership=Membership.objects.for_organization(organization).get(user=extra[2]),
                                   actor=user)
    assert read_only_emails(organization) == []
    assert Membership.objects.for_organization(organization).count() == 3


# --- the API of a read-only workspace ------------------------------------------------------------------------


@pytest.fixture
def read_only_ws(on_growth, user):
    """Workspace "c" of an organization downgraded to Free, with a flow, a running flow run and a pool whose
    default queue has a run due; plus the Owner's API client."""
    organization = on_growth
    workspace = Workspace.objects.for_organization(organization).get(handle="c")
    client = client_for(user)
    assert client.post(base(workspace) + "work_pools/", {"name": "pool", "type": "process"},
                       format="json").status_code == 201
    flow_id = client.post(base(workspace) + "flows/", {"name": "etl"}, format="json").json()["id"]
    running = client.post(base(workspace) + "flow_runs/", {"flow_id": flow_id, "state": {"type": "RUNNING"}},
                          format="json").json()["id"]
    queue = WorkQueue.objects.for_workspace(workspace).get(work_pool__name="pool", name="default")
    deployment = Deployment.objects.for_workspace(workspace).create(
        workspace=workspace, flow_id=flow_id, name="nightly", work_queue=queue, work_queue_name="default")
    due = flow_runs_insert_scheduled(workspace=workspace, deployment=deployment, runs=[
        NewRun(scheduled_time=timezone.now() - datetime.timedelta(minutes=1), idempotency_key=None, parameters={},
               tags=[], auto_scheduled=False, work_queue_id=queue.pk, work_queue_name="default")])
    organization_tier_set(organization=organization, tier="free")
    workspace.refresh_from_db()
    assert workspace.read_only
    return {"workspace": workspace, "client": client, "flow_id": flow_id, "running": running,
            "due": [str(i) for i in due], "deployment": deployment}


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "flow_runs/", {"flow_id": "{flow_id}"}),
    ("post", "variables/", {"name": "region", "value": "eu"}),
    ("post", "work_pools/", {"name": "pool2", "type": "process"}),
    ("delete", "flow_runs/{running}", None),
    ("post", "deployments/{deployment}/create_flow_run", {}),
    ("post", "block_documents/", {"name": "x", "block_type_id": "{flow_id}", "block_schema_id": "{flow_id}",
                                  "data": {}}),
])
def test_writes_to_a_read_only_workspace_are_402_naming_the_limit_and_the_tier(read_only_ws, method, path, body):
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    values = {"flow_id": read_only_ws["flow_id"], "running": read_only_ws["running"],
              "deployment": read_only_ws["deployment"].pk}
    path = path.format(**values)
    if body:
        body = {k: (v.format(**values) if isinstance(v, str) else v) for k, v in body.items()}
    before = (Flow.objects.for_workspace(ws).count(), FlowRun.objects.for_workspace(ws).count(),
              Variable.objects.for_workspace(ws).count())
    response = getattr(client, method)(base(ws) + path, body, format="json")
    assert response.status_code == 402, response.content
    assert response.json() == {
        "detail": "The workspace C is read-only: the Free tier allows 1 workspace and this organization has 3. "
                  "An Owner or Admin can delete workspaces or upgrade to Starter to make it writable again.",
        "code": "workspace_read_only", "limit": "max_workspaces", "tier": "free", "allowed": 1, "used": 3,
        "upgrade_tier": "starter",
    }
    assert (Flow.objects.for_workspace(ws).count(), FlowRun.objects.for_workspace(ws).count(),
            Variable.objects.for_workspace(ws).count()) == before


@pytest.mark.parametrize(("path", "body"), [
    ("flows/filter", {}), ("flows/count", {}), ("flow_runs/filter", {}), ("flow_runs/count", {}),
    ("flow_runs/history", {"history_start": "2026-01-01T00:00:00Z", "history_end": "2026-01-02T00:00:00Z",
                           "history_interval_seconds": 3600}),
    ("deployments/count", {}), ("artifacts/latest/filter", {}), ("task_runs/count", {}), ("logs/filter", {}),
    ("work_pools/filter", {}),
    ("variables/filter", {}), ("block_types/filter", {}),
])
def test_reads_of_a_read_only_workspace_keep_working_including_read_only_posts(read_only_ws, path, body):
    response = read_only_ws["client"].post(base(read_only_ws["workspace"]) + path, body, format="json")
    assert response.status_code == 200, (path, response.content)


def test_runs_under_way_finish_and_nothing_new_starts(read_only_ws):
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    url = base(ws)
    running = read_only_ws["running"]
    # The flow run already running reports its task runs, logs and final state.
    task = client.post(url + "task_runs/", {"flow_run_id": running, "task_key": "t", "dynamic_key": "0",
                                            "state": {"type": "RUNNING"}}, format="json")
    assert task.status_code == 201, task.content
    # It starts a subflow of a flow it ran before: the flow "create" returns the existing one (200), and
    # the subflow run (parent: a task run of the running run) is created, then runs and completes.
    assert client.post(url + "flows/", {"name": "etl"}, format="json").status_code == 200
    subflow = client.post(url + "flow_runs/", {"flow_id": read_only_ws["flow_id"], "state": {"type": "PENDING"},
                                               "parent_task_run_id": task.json()["id"]}, format="json")
    assert subflow.status_code == 201, subflow.content
    for state in ("RUNNING", "COMPLETED"):
        assert client.post(url + f"flow_runs/{subflow.json()['id']}/set_state", {"state": {"type": state}},
                           format="json").json()["status"] == "ACCEPT"
    assert client.post(url + f"task_runs/{task.json()['id']}/set_state", {"state": {"type": "COMPLETED"}},
                       format="json").json()["status"] == "ACCEPT"
    assert client.post(url + "logs/", [{"name": "l", "level": 20, "message": "hello", "flow_run_id": running,
                                        "timestamp": timezone.now().isoformat()}], format="json").status_code == 201
    done = client.post(url + f"flow_runs/{running}/set_state", {"state": {"type": "COMPLETED"}}, format="json")
    assert done.json()["status"] == "ACCEPT"
    # Once the parent has finished, a "subflow" of it is new work: refused.
    late_subflow = client.post(url + "flow_runs/", {"flow_id": read_only_ws["flow_id"],
                                                    "parent_task_run_id": task.json()["id"]}, format="json")
    assert late_subflow.status_code == 402
    # With nothing Running any more, a new flow name is new work too (an ad-hoc `python flow.py`).
    assert client.post(url + "flows/", {"name": "another"}, format="json").status_code == 402
    # Workers keep polling and heartbeating (a 4xx would stop them), but are handed nothing new.
    assert client.post(url + "work_pools/pool/workers/heartbeat", {"name": "w1"}, format="json").status_code == 204
    assert client.post(url + "work_pools/pool/get_scheduled_flow_runs", {}, format="json").json() == []
    queue = WorkQueue.objects.for_workspace(ws).get(work_pool__name="pool", name="default")
    assert client.post(url + f"work_queues/{queue.pk}/get_runs", {}, format="json").json() == []
    assert client.post(url + "deployments/get_scheduled_flow_runs",
                       {"deployment_ids": [str(read_only_ws["deployment"].pk)]}, format="json").json() == []
    assert FlowRun.objects.for_workspace(ws).get(pk=read_only_ws["due"][0]).state_type == StateType.SCHEDULED
    # Back under the limit (an upgrade): the same poll hands the waiting run out, and writes work again.
    organization_tier_set(organization=ws.organization, tier="starter")
    polled = client.post(url + "work_pools/pool/get_scheduled_flow_runs", {}, format="json").json()
    assert [r["flow_run"]["id"] for r in polled] == read_only_ws["due"]
    assert client.post(url + "flows/", {"name": "another"}, format="json").status_code == 201


def test_a_run_under_way_may_start_a_subflow_of_a_flow_never_seen_but_nothing_running_may_not(read_only_ws):
    """The client "creates" a subflow's flow by name (POST flows/) before the subflow run: while some flow
    run of the workspace is Running, a new name is allowed (201) so a run under way can finish; the subflow
    run is allowed under a task run of the Running run. With no run Running, a new flow is 402."""
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    url, running = base(ws), read_only_ws["running"]
    task = client.post(url + "task_runs/", {"flow_run_id": running, "task_key": "inner", "dynamic_key": "0",
                                            "state": {"type": "PENDING"}}, format="json")
    assert task.status_code == 201, task.content
    created = client.post(url + "flows/", {"name": "never-seen"}, format="json")
    assert created.status_code == 201, created.content
    assert client.post(url + "flows/", {"name": "never-seen"}, format="json").status_code == 200
    subflow = client.post(url + "flow_runs/", {"flow_id": created.json()["id"], "state": {"type": "PENDING"},
                                               "parent_task_run_id": task.json()["id"]}, format="json")
    assert subflow.status_code == 201, subflow.content
    # A top-level run of that new flow (no parent) is new work: 402, even while something else runs.
    top_level = client.post(url + "flow_runs/", {"flow_id": created.json()["id"]}, format="json")
    assert (top_level.status_code, top_level.json()["code"]) == (402, "workspace_read_only")
    for run_id in (subflow.json()["id"], running):
        for state in (("RUNNING", "COMPLETED") if run_id != running else ("COMPLETED",)):
            assert client.post(url + f"flow_runs/{run_id}/set_state", {"state": {"type": state}},
                               format="json").json()["status"] == "ACCEPT"
    assert not FlowRun.objects.for_workspace(ws).filter(state_type=StateType.RUNNING).exists()
    refused = client.post(url + "flows/", {"name": "brand-new"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (402, "workspace_read_only")
    assert not Flow.objects.for_workspace(ws).filter(name="brand-new").exists()
    assert client.post(url + "flows/", {"name": "never-seen"}, format="json").status_code == 200  # existing: fine


def test_runs_under_way_may_save_anonymous_result_storage_but_nobody_may_add_a_block(read_only_ws):
    """A run under way that persists a result saves its storage as an anonymous block document (create,
    then update when it exists): allowed. Creating a named block is configuration: 402."""
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    url = base(ws)
    block_type = client.get(url + "block_types/slug/local-file-system").json()
    schema = client.post(url + "block_schemas/filter", {"block_schemas": {"block_type_id": {
        "any_": [block_type["id"]]}}}, format="json").json()[0]
    body = {"block_type_id": block_type["id"], "block_schema_id": schema["id"], "data": {"basepath": "/tmp/r"}}
    anonymous = client.post(url + "block_documents/", {**body, "name": None, "is_anonymous": True}, format="json")
    assert anonymous.status_code == 201, anonymous.content
    assert client.patch(url + f"block_documents/{anonymous.json()['id']}", {"data": {"basepath": "/tmp/r"}},
                        format="json").status_code == 204
    named = client.post(url + "block_documents/", {**body, "name": "results"}, format="json")
    assert named.status_code == 402 and named.json()["code"] == "workspace_read_only"


def test_a_run_under_way_may_pause_for_input_and_receive_it_but_nobody_may_send_to_a_finished_run(read_only_ws):
    """`pause_flow_run(wait_for_input=...)` proposes Paused, then saves its input schema (a flow run input),
    and `send_input` writes to a run under way: both are part of runs under way. A finished run takes none."""
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    url, running = base(ws), read_only_ws["running"]
    keyset = {"description": "paused-1-description", "response": "paused-1-response", "schema": "paused-1-schema"}
    paused = client.post(url + f"flow_runs/{running}/set_state", {"state": {
        "type": "PAUSED", "state_details": {"pause_key": "1", "run_input_keyset": keyset}}}, format="json")
    assert paused.json()["status"] == "ACCEPT", paused.content
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    saved = client.post(url + f"flow_runs/{running}/input", {"key": keyset["schema"], "value": json.dumps(schema)},
                        format="json")
    assert saved.status_code == 201, saved.content
    resumed = client.post(url + f"flow_runs/{running}/resume", {"run_input": {"ok": True}}, format="json")
    assert resumed.json()["status"] == "ACCEPT", resumed.content
    sent = client.post(url + f"flow_runs/{running}/input", {"key": "from-a-sibling", "value": "1"}, format="json")
    assert sent.status_code == 201, sent.content
    assert client.post(url + f"flow_runs/{running}/set_state", {"state": {"type": "COMPLETED"}},
                       format="json").json()["status"] == "ACCEPT"
    late = client.post(url + f"flow_runs/{running}/input", {"key": "too-late", "value": "1"}, format="json")
    assert (late.status_code, late.json()["code"]) == (402, "workspace_read_only")
    assert client.delete(url + f"flow_runs/{running}/input/from-a-sibling").status_code == 402


def test_the_scheduler_makes_no_runs_in_a_read_only_workspace(read_only_ws):
    ws, deployment = read_only_ws["workspace"], read_only_ws["deployment"]
    hourly = {"interval": 3600.0, "anchor_date": "2026-01-01T00:00:00+00:00", "timezone": "UTC"}
    DeploymentSchedule.objects.for_workspace(ws).create(workspace=ws, deployment=deployment, active=True,
                                                        schedule=hourly)
    before = FlowRun.objects.for_workspace(ws).count()
    deployments_schedule_due()
    assert FlowRun.objects.for_workspace(ws).count() == before
    organization_tier_set(organization=ws.organization, tier="starter")
    deployments_schedule_due()
    assert FlowRun.objects.for_workspace(ws).filter(deployment=deployment, auto_scheduled=True).count() > 0


def test_a_read_only_workspace_can_be_deleted_which_lifts_the_next_one(read_only_ws, user):
    ws, client = read_only_ws["workspace"], read_only_ws["client"]
    organization = ws.organization
    b = Workspace.objects.for_organization(organization).get(handle="b")
    assert client.delete(f"/api/accounts/{organization.pk}/workspaces/{b.pk}").status_code == 204
    a = Workspace.objects.for_organization(organization).get(handle="a")
    assert client.delete(f"/api/accounts/{organization.pk}/workspaces/{a.pk}").status_code == 204
    ws.refresh_from_db()
    assert not ws.read_only
    assert client.post(base(ws) + "flows/", {"name": "another"}, format="json").status_code == 201


def test_the_read_only_check_costs_no_query(read_only_ws, on_growth, user):
    """Same queries for a read on a writable and on a read-only workspace: the flag comes with the workspace."""
    client = read_only_ws["client"]
    writable = Workspace.objects.for_organization(on_growth).get(handle="a")
    counts = []
    for ws in (writable, read_only_ws["workspace"]):
        client.post(base(ws) + "flows/filter", {}, format="json")  # warm caches (entitlements, key)
        with CaptureQueriesContext(connection) as queries:
            assert client.post(base(ws) + "flows/filter", {}, format="json").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


# --- read-only members -----------------------------------------------------------------------------------------


def test_a_member_beyond_the_seat_limit_can_read_but_not_write(organization, user):
    organization_tier_set(organization=organization, tier="growth")
    workspace = ws_services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    early, late1, late2 = UserFactory(), UserFactory(), UserFactory()
    for person in (early, late1, late2):
        membership(organization, person)
    organization_tier_set(organization=organization, tier="free")  # 3 seats: user (Owner), early, late1
    late = client_for(late2)
    assert late.post(base(workspace) + "flows/filter", {}, format="json").status_code == 200
    refused = late.post(base(workspace) + "variables/", {"name": "region", "value": "eu"}, format="json")
    assert refused.status_code == 402
    assert refused.json()["code"] == "member_read_only"
    assert refused.json()["detail"] == (
        "Your membership of this organization is read-only: the Free tier allows 3 members (seats) and this "
        "organization has 4. An Owner can remove members or upgrade to Starter to make it writable again.")
    assert Variable.objects.for_workspace(workspace).count() == 0
    assert client_for(early).post(base(workspace) + "variables/", {"name": "region", "value": "eu"},
                                  format="json").status_code == 201
    # Executing runs is not editing the workspace: a worker under a read-only member's key keeps polling.
    assert client_for(early).post(base(workspace) + "work_pools/", {"name": "pool", "type": "process"},
                                  format="json").status_code == 201
    assert late.post(base(workspace) + "work_pools/pool/get_scheduled_flow_runs", {}, format="json").status_code == 200
    assert late.post(base(workspace) + "work_pools/", {"name": "p2", "type": "process"},
                     format="json").status_code == 402
    org_services.membership_remove(membership=Membership.objects.for_organization(organization).get(user=late1),
                                   actor=user)
    assert late.post(base(workspace) + "variables/", {"name": "zone", "value": "a"}, format="json").status_code == 201


# --- the browser pages ------------------------------------------------------------------------------------------


def test_pages_of_a_read_only_workspace_say_so_and_their_forms_are_402(client, on_growth, user):
    organization = on_growth
    organization_tier_set(organization=organization, tier="free")
    client.force_login(user)
    page = client.get(f"/{organization.handle}/c/")
    assert page.status_code == 200
    text = _text(page)
    assert "This workspace is read-only Nothing was deleted" in text
    assert ("The workspace C is read-only: the Free tier allows 1 workspace and this organization has 3. An Owner "
            "or Admin can delete workspaces or upgrade to Starter to make it writable again.") in text
    assert f'href="/{organization.handle}/-/billing/?tier=starter"' in page.content.decode()
    assert "read-only" not in _text(client.get(f"/{organization.handle}/a/"))  # the oldest stays writable

    workspace = Workspace.objects.for_organization(organization).get(handle="c")
    refused = client.post(f"/{organization.handle}/c/variables/", {"name": "region", "value": "eu"})
    assert refused.status_code == 402
    assert "C is read-only" in _text(refused) and "Compare tiers and upgrade" in _text(refused)
    assert Variable.objects.for_workspace(workspace).count() == 0
    listing = client.get(f"/{organization.handle}/c/variables/")
    assert listing.status_code == 200  # reading stays; the form that would be refused is not offered
    assert 'name="value"' not in listing.content.decode()
    assert "Add variable Not available: this workspace is read-only (over the workspace limit)." in _text(listing)
    assert "Add variable" in _text(client.get(f"/{organization.handle}/a/variables/"))


def test_a_read_only_member_is_told_why_and_asked_to_see_an_owner(client, organization, user):
    organization_tier_set(organization=organization, tier="growth")
    ws_services.workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    people = [UserFactory() for _ in range(3)]
    for person in people:
        membership(organization, person)
    organization_tier_set(organization=organization, tier="free")
    client.force_login(people[-1])
    text = _text(client.get(f"/{organization.handle}/prod/"))
    assert "You can only read in this workspace" in text
    assert f"Ask an Owner of {organization.name} to upgrade on the Billing page." in text
    members = _text(client.get(f"/{organization.handle}/-/members/"))
    assert members.count("read-only: over the seat limit") == 1


def test_inviting_past_the_seat_limit_shows_the_upgrade_prompt(client, organization, user):
    for _ in range(2):
        membership(organization, UserFactory())
    client.force_login(user)
    response = client.post(f"/{organization.handle}/-/members/", {"email": "fourth@example.com", "role": "member"})
    assert response.status_code == 402
    text = _text(response)
    assert ("Invite someone The Free tier allows 3 members (seats); this organization uses 3. Upgrade to Starter "
            "to add more. Compare tiers and upgrade") in text
    assert f'href="/{organization.handle}/-/billing/?tier=starter"' in response.content.decode()
    from apps.organizations.models import Invitation

    assert Invitation.objects.for_organization(organization).count() == 0


def test_the_command_applies_limits_left_unapplied_and_is_idempotent(organization, user):
    """Organizations already over their limits before the flags existed (made here with factories, which
    bypass the services) get them from `billing_apply_limits`; a second run changes nothing."""
    from io import StringIO

    from django.core.management import call_command

    from tests.factories.workspaces import WorkspaceFactory

    for handle in ("old", "new"):
        WorkspaceFactory(organization=organization, handle=handle)
    assert read_only_handles(organization) == []
    out = StringIO()
    call_command("billing_apply_limits", organization.handle, stdout=out)
    assert read_only_handles(organization) == ["new"]
    assert f"{organization.handle}: 1 read-only workspace(s), 0 read-only member(s)" in out.getvalue()
    out = StringIO()
    call_command("billing_apply_limits", organization.handle, stdout=out)
    assert out.getvalue() == "Applied the limits of 1 organization(s); 0 changed.\n"


def test_a_catalog_edit_applies_the_new_limit_to_every_organization_on_that_tier(on_growth):
    from apps.billing.models import Plan
    from apps.billing.services import plan_changed

    plan = Plan.objects.get(slug="growth")
    plan.max_workspaces = 2
    plan.save()
    plan_changed(plan=plan)
    assert read_only_handles(on_growth) == ["c"]
    plan.max_workspaces = 10
    plan.save()
    plan_changed(plan=plan)
    assert read_only_handles(on_growth) == []


def test_owners_delete_a_workspace_in_the_browser_after_typing_its_handle_which_lifts_read_only(client, on_growth,
                                                                                                user):
    organization = on_growth
    organization_tier_set(organization=organization, tier="free")
    client.force_login(user)
    banner = _text(client.get(f"/{organization.handle}/c/"))
    assert f"Or delete a workspace of {organization.name} you no longer need." in banner
    assert client.get(f"/{organization.handle}/-/workspaces/b/delete").status_code == 200
    wrong = client.post(f"/{organization.handle}/-/workspaces/b/delete", {"confirm": "c"})
    assert wrong.status_code == 400 and "Type b to confirm: nothing was deleted." in _text(wrong)
    assert read_only_handles(organization) == ["b", "c"]
    done = client.post(f"/{organization.handle}/-/workspaces/b/delete", {"confirm": "b"})
    assert done.status_code == 302
    assert sorted(Workspace.objects.for_organization(organization).values_list("handle", flat=True)) == ["a", "c"]
    assert read_only_handles(organization) == ["c"]
    assert client.post(f"/{organization.handle}/-/workspaces/nope/delete", {"confirm": "nope"}).status_code == 404


def test_members_cannot_delete_workspaces_in_the_browser(client, on_growth):
    member = UserFactory()
    membership(on_growth, member)
    client.force_login(member)
    assert client.post(f"/{on_growth.handle}/-/workspaces/a/delete", {"confirm": "a"}).status_code == 403
    assert Workspace.objects.for_organization(on_growth).filter(handle="a").exists()


def test_access_to_a_read_only_workspace_can_still_be_revoked(organization, user):
    """Revoking a grant only takes access away (as cancelling only stops work): a workspace being over the
    limit must never keep someone in it. Granting stays refused."""
    from apps.access import catalog
    from apps.access.models import WorkspaceGrant
    from apps.billing.services import enterprise_set
    from tests.factories.access import grant

    enterprise_set(organization=organization)
    ws_services.workspace_create(organization=organization, name="A", handle="a", actor=user)
    kept = ws_services.workspace_create(organization=organization, name="B", handle="b", actor=user)
    enterprise_set(organization=organization, overrides={"max_workspaces": 1})
    kept.refresh_from_db()
    assert kept.read_only
    leaver, other = UserFactory(), UserFactory()
    membership(organization, leaver, "member")
    membership(organization, other, "member")
    row = grant(kept, user=leaver)
    assert client_for(leaver).post(base(kept) + "flows/filter", {}, format="json").status_code == 200
    owner = client_for(user)
    refused = owner.post(base(kept) + "user_access/", [{"user_id": str(other.pk),
                                                        "workspace_role_id": str(catalog.COLLABORATOR.id)}],
                         format="json")
    assert (refused.status_code, refused.json()["code"]) == (402, "workspace_read_only")
    assert owner.delete(base(kept) + f"user_access/{row.pk}").status_code == 204
    assert not WorkspaceGrant.all_workspaces.filter(workspace=kept).exists()
    assert client_for(leaver).post(base(kept) + "flows/filter", {}, format="json").status_code == 404


def test_access_to_a_read_only_workspace_can_still_be_revoked_in_the_browser(client, organization, user):
    """The Access page of a read-only workspace offers Remove (and it works) but no role change or grant."""
    from apps.access.models import WorkspaceGrant
    from apps.billing.services import enterprise_set
    from tests.factories.access import grant

    enterprise_set(organization=organization)
    ws_services.workspace_create(organization=organization, name="A", handle="a", actor=user)
    kept = ws_services.workspace_create(organization=organization, name="B", handle="b", actor=user)
    enterprise_set(organization=organization, overrides={"max_workspaces": 1})
    leaver = UserFactory()
    membership(organization, leaver, "member")
    row = grant(kept, user=leaver)
    client.force_login(user)
    page = client.get(f"/{organization.handle}/b/access/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Remove access of {leaver.email}" in html
    assert "Change role" not in html and 'name="principal"' not in html

    changed = client.post(f"/{organization.handle}/b/access/{row.pk}/role", {"role": "viewer"})
    assert changed.status_code == 402
    removed = client.post(f"/{organization.handle}/b/access/{row.pk}/remove")
    assert removed.status_code == 302
    assert not WorkspaceGrant.all_workspaces.filter(workspace=kept).exists()
