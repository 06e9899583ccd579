"""Variables: create, read by id and name, update, delete, filter, count; names unique per workspace."""

from __future__ import annotations

import pytest

from apps.engine.models import Variable
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def create(client, ws, name="region", value="eu-west", tags=()):
    return client.post(base(ws) + "variables/", {"name": name, "value": value, "tags": list(tags)}, format="json")


def test_create_read_update_delete_by_name_and_id(authed_client, workspace):
    created = create(authed_client, workspace, tags=["infra"])
    assert created.status_code == 201
    body = created.json()
    assert (body["name"], body["value"], body["tags"]) == ("region", "eu-west", ["infra"])
    assert authed_client.get(base(workspace) + "variables/name/region").json()["id"] == body["id"]
    assert authed_client.patch(base(workspace) + "variables/name/region", {"value": "us-east"},
                               format="json").status_code == 204
    assert authed_client.get(base(workspace) + f"variables/{body['id']}").json()["value"] == "us-east"
    assert authed_client.patch(base(workspace) + f"variables/{body['id']}", {"tags": ["a", "b"]},
                               format="json").status_code == 204
    assert Variable.objects.for_workspace(workspace).get().tags == ["a", "b"]
    assert authed_client.delete(base(workspace) + "variables/name/region").status_code == 204
    assert authed_client.get(base(workspace) + "variables/name/region").status_code == 404
    assert authed_client.delete(base(workspace) + f"variables/{body['id']}").json() == {
        "detail": "Variable not found.", "code": "not_found"}


@pytest.mark.parametrize("body", [
    {"name": "Bad-Name", "value": "x"},
    {"name": "ok", "value": "x" * 5001},
    {"name": "ok"},
    {"name": "ok", "value": "x", "colour": "red"},
])
def test_bad_input_is_422_and_nothing_stored(authed_client, workspace, body):
    response = authed_client.post(base(workspace) + "variables/", body, format="json")
    assert response.status_code == 422
    assert response.json()["exception_message"] == "Invalid request received."
    assert Variable.objects.for_workspace(workspace).count() == 0


def test_duplicate_name_is_409(authed_client, workspace):
    create(authed_client, workspace)
    response = create(authed_client, workspace, value="other")
    assert response.status_code == 409
    assert Variable.objects.for_workspace(workspace).get().value == "eu-west"


def test_filter_sort_and_count(authed_client, workspace):
    for name, tags in (("b_var", ["x"]), ("a_var", ["x", "y"]), ("c_var", [])):
        create(authed_client, workspace, name=name, tags=tags)
    names = [v["name"] for v in authed_client.post(base(workspace) + "variables/filter", {}, format="json").json()]
    assert names == ["a_var", "b_var", "c_var"]
    desc = authed_client.post(base(workspace) + "variables/filter", {"sort": "NAME_DESC", "limit": 2}, format="json")
    assert [v["name"] for v in desc.json()] == ["c_var", "b_var"]
    tagged = authed_client.post(base(workspace) + "variables/filter",
                                {"variables": {"tags": {"all_": ["x"]}}}, format="json").json()
    assert [v["name"] for v in tagged] == ["a_var", "b_var"]
    like = authed_client.post(base(workspace) + "variables/count", {"variables": {"name": {"like_": "c_"}}},
                              format="json")
    assert like.json() == 1
    # what prefect.variables.Variable / client.read_variables sends
    assert len(authed_client.post(base(workspace) + "variables/filter", {"limit": None}, format="json").json()) == 3


def test_other_workspace_variables_are_invisible(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    create(authed_client, other)
    assert authed_client.get(base(workspace) + "variables/name/region").status_code == 404
    assert authed_client.delete(base(workspace) + "variables/name/region").status_code == 404
    assert Variable.objects.for_workspace(other).count() == 1
    assert create(authed_client, workspace).status_code == 201  # same name, another workspace
