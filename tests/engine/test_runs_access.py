"""Tenancy and permissions of flows, flow runs and task runs: another workspace's ids are 404 and change
nothing; each endpoint needs its declared permission."""

from __future__ import annotations

import pytest

from apps.access import catalog
from apps.engine.models import FlowRun, TaskRun
from apps.identity.services import api_key_create
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    member_client,
    set_flow_state,
    state,
)
from tests.factories.identity import UserFactory
from tests.factories.organizations import OrganizationFactory, membership
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def foreign(authed_client, workspace, organization):
    """A flow, flow run (Running) and task run in another workspace of the same organization."""
    other = WorkspaceFactory(organization=organization)
    flow = create_flow(authed_client, other)
    run = create_flow_run(authed_client, other, flow["id"])
    set_flow_state(authed_client, other, run["id"], "RUNNING")
    task = create_task_run(authed_client, other, run["id"])
    return {"ws": other, "flow": flow, "run": run, "task": task}


def test_ids_of_another_workspace_are_404_and_nothing_changes(authed_client, workspace, foreign):
    c, ws = authed_client, workspace
    run_id, task_id, flow_id = foreign["run"]["id"], foreign["task"]["id"], foreign["flow"]["id"]
    state_id = foreign["run"]["state"]["id"]
    for method, path, body in [
        ("get", f"flows/{flow_id}", None),
        ("patch", f"flows/{flow_id}", {"tags": ["x"]}),
        ("delete", f"flows/{flow_id}", None),
        ("get", f"flow_runs/{run_id}", None),
        ("patch", f"flow_runs/{run_id}", {"name": "stolen"}),
        ("delete", f"flow_runs/{run_id}", None),
        ("post", f"flow_runs/{run_id}/set_state", {"state": state("CANCELLED"), "force": True}),
        ("post", f"flow_runs/{run_id}/resume", {}),
        ("get", f"flow_runs/{run_id}/decisions", None),
        ("get", f"flow_run_states/{state_id}", None),
        ("get", f"task_runs/{task_id}", None),
        ("patch", f"task_runs/{task_id}", {"name": "stolen"}),
        ("delete", f"task_runs/{task_id}", None),
        ("post", f"task_runs/{task_id}/set_state", {"state": state("RUNNING")}),
        ("get", f"task_runs/{task_id}/decisions", None),
        ("post", "flow_runs/", {"flow_id": flow_id}),
        ("post", "task_runs/", {"flow_run_id": run_id, "task_key": "t", "dynamic_key": "1"}),
        ("post", "flow_runs/", {"flow_id": create_flow(c, ws)["id"], "parent_task_run_id": task_id}),
    ]:
        response = getattr(c, method)(base(ws) + path, body, format="json")
        assert response.status_code == 404, (method, path, response.content)
    assert c.get(base(ws) + "flow_run_states/", {"flow_run_id": run_id}).json() == []
    assert c.post(base(ws) + "flow_runs/filter", {}, format="json").json() == []
    assert c.post(base(ws) + "task_runs/count", {}, format="json").json() == 0
    run = FlowRun.objects.for_workspace(foreign["ws"]).get()
    assert (run.name, run.state_type) == (foreign["run"]["name"], "RUNNING")
    assert TaskRun.objects.for_workspace(foreign["ws"]).get().name == foreign["task"]["name"]
    assert FlowRun.objects.for_workspace(ws).count() == 0


def test_key_of_another_organization_sees_nothing(api_client, workspace, authed_client):
    flow = create_flow(authed_client, workspace)
    outsider = UserFactory()
    membership(OrganizationFactory(), outsider, "owner")
    _, secret = api_key_create(owner=outsider, name="k", expires_at=None)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api_client.get(base(workspace) + f"flows/{flow['id']}").status_code == 404
    assert api_client.post(base(workspace) + "flows/", {"name": "x"}, format="json").status_code == 404


def test_anonymous_is_401(api_client, workspace):
    assert api_client.post(base(workspace) + "flow_runs/filter", {}, format="json").status_code == 401


@pytest.fixture
def reader(workspace, organization):
    return member_client(organization, workspace, catalog.READ_ONLY_COLLABORATOR)[0]


def test_runner_may_cancel_but_not_run(workspace, organization, authed_client):
    runner = member_client(organization, workspace, catalog.RUNNER)[0]
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    url = base(workspace) + f"flow_runs/{run['id']}/set_state"
    assert runner.post(url, {"state": state("COMPLETED")}, format="json").status_code == 403
    cancelling = runner.post(url, {"state": state("CANCELLING")}, format="json")
    assert cancelling.status_code == 201
    assert cancelling.json()["status"] == "ACCEPT"
    assert FlowRun.objects.for_workspace(workspace).get().state_type == "CANCELLING"


def test_read_only_collaborator_reads_but_cannot_write(reader, authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    assert reader.get(base(workspace) + f"flow_runs/{run['id']}").status_code == 200
    assert reader.post(base(workspace) + "flow_runs/filter", {}, format="json").status_code == 200
    assert reader.get(base(workspace) + f"flow_runs/{run['id']}/decisions").status_code == 200
    denied = [
        reader.post(base(workspace) + "flows/", {"name": "new"}, format="json"),
        reader.post(base(workspace) + "flow_runs/", {"flow_id": flow["id"]}, format="json"),
        reader.post(base(workspace) + f"flow_runs/{run['id']}/set_state", {"state": state("RUNNING")}, format="json"),
        reader.post(base(workspace) + f"flow_runs/{run['id']}/set_state", {"state": state("CANCELLING")},
                    format="json"),
        reader.patch(base(workspace) + f"flow_runs/{run['id']}", {"name": "x"}, format="json"),
        reader.post(base(workspace) + "task_runs/", {"flow_run_id": run["id"], "task_key": "t", "dynamic_key": "0"},
                    format="json"),
    ]
    assert [r.status_code for r in denied] == [403] * len(denied)
    assert denied[2].json()["permission"] == "flow_runs:write"
    assert denied[3].json()["permission"] == "flow_runs:cancel"
    assert FlowRun.objects.for_workspace(workspace).get().state_type == "PENDING"
    assert not TaskRun.objects.for_workspace(workspace).exists()
