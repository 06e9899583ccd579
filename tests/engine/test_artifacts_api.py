"""Artifacts: markdown, table and link artifacts, latest per key, filters and counts."""

from __future__ import annotations

import uuid

import pytest

from apps.engine.models import Artifact, ArtifactCollection
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def create(client, ws, **fields):
    response = client.post(base(ws) + "artifacts/", fields, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_latest_per_key_follows_creates_and_deletes(authed_client, workspace):
    run = str(uuid.uuid4())
    first = create(authed_client, workspace, key="report", type="markdown", data="# v1", flow_run_id=run)
    second = create(authed_client, workspace, key="report", type="markdown", data="# v2", description="second",
                    metadata_={"rows": 3})
    create(authed_client, workspace, type="link", data="[docs](https://example.com)")
    latest = authed_client.get(base(workspace) + "artifacts/report/latest").json()
    assert latest["latest_id"] == second["id"]
    assert (latest["key"], latest["data"], latest["description"], latest["metadata_"]) == (
        "report", "# v2", "second", {"rows": "3"})
    collections = authed_client.post(base(workspace) + "artifacts/latest/filter", {}, format="json").json()
    assert [c["latest_id"] for c in collections] == [second["id"]]
    assert authed_client.post(base(workspace) + "artifacts/count", {}, format="json").json() == 3
    assert authed_client.delete(base(workspace) + f"artifacts/{second['id']}").status_code == 204
    assert authed_client.get(base(workspace) + "artifacts/report/latest").json()["latest_id"] == first["id"]
    assert authed_client.delete(base(workspace) + f"artifacts/{first['id']}").status_code == 204
    assert authed_client.get(base(workspace) + "artifacts/report/latest").status_code == 404
    assert ArtifactCollection.objects.for_workspace(workspace).count() == 0


def test_table_artifact_round_trips_and_filters_by_run(authed_client, workspace):
    run = str(uuid.uuid4())
    table = [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    made = create(authed_client, workspace, key="scores", type="table", data=table, flow_run_id=run)
    create(authed_client, workspace, type="markdown", data="other run", flow_run_id=str(uuid.uuid4()))
    assert authed_client.get(base(workspace) + f"artifacts/{made['id']}").json()["data"] == table
    # the client sends every FlowRunFilter criterion, unset ones as null
    by_run = authed_client.post(base(workspace) + "artifacts/filter", {
        "artifacts": None, "flow_runs": {"operator": "and_", "id": {"any_": [run]}, "name": None},
        "task_runs": None, "sort": "ID_DESC", "limit": None, "offset": 0}, format="json")
    assert by_run.status_code == 200, by_run.json()
    assert [a["id"] for a in by_run.json()] == [made["id"]]
    by_type = authed_client.post(base(workspace) + "artifacts/filter",
                                 {"artifacts": {"type": {"any_": ["markdown"]}}}, format="json").json()
    assert [a["data"] for a in by_type] == ["other run"]
    unsupported = authed_client.post(base(workspace) + "artifacts/filter",
                                     {"flow_runs": {"name": {"any_": ["x"]}}}, format="json")
    assert unsupported.status_code == 422


def test_update_moves_the_collection_and_bad_keys_are_422(authed_client, workspace):
    made = create(authed_client, workspace, key="status", type="markdown", data="old")
    assert authed_client.patch(base(workspace) + f"artifacts/{made['id']}", {"data": "new"},
                               format="json").status_code == 204
    assert authed_client.get(base(workspace) + "artifacts/status/latest").json()["data"] == "new"
    bad = authed_client.post(base(workspace) + "artifacts/", {"key": "Not OK", "data": "x"}, format="json")
    assert bad.status_code == 422
    assert Artifact.objects.for_workspace(workspace).count() == 1


def test_other_workspace_artifacts_are_invisible(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    made = create(authed_client, other, key="k", data="x")
    assert authed_client.get(base(workspace) + f"artifacts/{made['id']}").status_code == 404
    assert authed_client.get(base(workspace) + "artifacts/k/latest").status_code == 404
    assert authed_client.delete(base(workspace) + f"artifacts/{made['id']}").status_code == 404
    assert Artifact.objects.for_workspace(other).count() == 1
