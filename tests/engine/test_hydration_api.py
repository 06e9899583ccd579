"""`__prefect_kind` values through the three endpoints that hydrate them, as Prefect 2.20 does (answers checked
against `prefect server start`): deployments/{id}/create_flow_run, PATCH deployments/{id} and flow_runs/{id}/resume
of a run paused for input. A failure stores nothing."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.engine.models import Deployment, FlowRun, FlowRunInput
from apps.engine.services.variables import variable_create
from tests.engine.run_input_helpers import KEYSET, SCHEMA, assert_resume_refused, pause_for_input, resume, send
from tests.engine.runs_helpers import create_flow, create_flow_run
from tests.engine.test_deployments_api import base, deploy, make_flow
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

VAR = {"__prefect_kind": "workspace_variable", "variable_name": "greeting"}


def json_(text):
    return {"__prefect_kind": "json", "value": text}


@pytest.fixture
def greeting(workspace):
    return variable_create(workspace=workspace, name="greeting", value="hi", tags=[])


@pytest.fixture
def deployment(authed_client, workspace, greeting) -> dict:
    response = deploy(authed_client, workspace, make_flow(workspace), parameters={"who": VAR, "n": 1})
    assert response.status_code == 201
    return response.json()


def run_url(ws, deployment) -> str:
    return base(ws) + f"deployments/{deployment['id']}/create_flow_run"


# --- create_flow_run ---------------------------------------------------------------------------------------

def test_create_flow_run_hydrates_the_deployments_and_the_given_parameters(authed_client, workspace, deployment):
    # the deployment keeps its parameters as sent (2.20 hydrates them only when a run is made, or on PATCH)
    assert deployment["parameters"] == {"who": VAR, "n": 1}
    template = {"__prefect_kind": "jinja", "template": "{{ 2 * 3 }}"}
    body = {"parameters": {"n": json_("[1, 2]"), "cfg": {"deep": [template]}}}
    response = authed_client.post(run_url(workspace, deployment), body, format="json")
    assert response.status_code == 201, response.json()
    expected = {"who": "hi", "n": [1, 2], "cfg": {"deep": ["6"]}}
    assert response.json()["parameters"] == expected
    assert FlowRun.objects.for_workspace(workspace).get().parameters == expected
    assert Deployment.objects.for_workspace(workspace).get().parameters == {"who": VAR, "n": 1}


@pytest.mark.parametrize("parameters, reason", [
    ({"b": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}},
     "Variable 'nope' not found in workspace."),
    ({"b": json_("{bad")}, "Invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ({"b": {"__prefect_kind": "jinja", "template": "{{ x"}},
     "Invalid jinja: unexpected end of template, expected 'end of print statement'."),
    # 2.20 stores the error text as the parameter here; we refuse with 400 (docs/engine.md)
    ({"b": {"__prefect_kind": "jinja", "template": "{% for i in range(1000) %}x{% endfor %}"}},
     "Invalid jinja: Failed to render template due to the following error: OverflowError('Range too big. The "
     "sandbox blocks ranges larger than MAX_TEMPLATE_RANGE=100.')"),
])
def test_create_flow_run_that_fails_to_hydrate_is_400_and_makes_no_run(authed_client, workspace, deployment,
                                                                      parameters, reason):
    response = authed_client.post(run_url(workspace, deployment), {"parameters": parameters}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": f"Error hydrating flow run parameters: {reason}", "code": "hydration_failed"}
    assert FlowRun.objects.for_workspace(workspace).count() == 0


def test_create_flow_run_does_not_see_another_workspaces_variable(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    variable_create(workspace=other, name="theirs", value="secret", tags=[])
    dep = deploy(authed_client, workspace, make_flow(workspace)).json()
    response = authed_client.post(run_url(workspace, dep), {"parameters": {
        "x": {"__prefect_kind": "workspace_variable", "variable_name": "theirs"}}}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == "Error hydrating flow run parameters: Variable 'theirs' not found in workspace."
    assert FlowRun.objects.for_workspace(workspace).count() == 0


def test_an_enforced_schema_checks_the_hydrated_values(authed_client, workspace):
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
    dep = deploy(authed_client, workspace, make_flow(workspace), parameters={}, parameter_openapi_schema=schema,
                 enforce_parameter_schema=True).json()
    ok = authed_client.post(run_url(workspace, dep), {"parameters": {"count": json_("3")}}, format="json")
    assert ok.status_code == 201 and ok.json()["parameters"] == {"count": 3}
    wrong = authed_client.post(run_url(workspace, dep), {"parameters": {"count": json_('"three"')}}, format="json")
    assert wrong.status_code == 422  # stays our 422 (2.20: 409)
    assert wrong.json()["exception_detail"][0]["loc"] == ["body", "parameters", "count"]
    assert FlowRun.objects.for_workspace(workspace).count() == 1


def test_create_flow_run_reads_the_variables_in_one_query(authed_client, workspace, deployment):
    url = run_url(workspace, deployment)
    plain = {"parameters": {"n": 2}}
    with_vars = {"parameters": {f"v{i}": VAR for i in range(10)}}
    with CaptureQueriesContext(connection) as without:
        assert authed_client.post(url, plain, format="json").status_code == 201
    with CaptureQueriesContext(connection) as withv:
        assert authed_client.post(url, with_vars, format="json").status_code == 201
    # the deployment's own `who` variable already costs the one query; ten more names add none
    assert len(withv) == len(without)


# --- PATCH deployments/{id} --------------------------------------------------------------------------------

def test_patch_stores_the_hydrated_parameters(authed_client, workspace, deployment):
    url = base(workspace) + f"deployments/{deployment['id']}"
    response = authed_client.patch(url, {"parameters": {"c": json_("[1]"), "who": VAR}}, format="json")
    assert response.status_code == 204
    assert Deployment.objects.for_workspace(workspace).get().parameters == {"c": [1], "who": "hi"}


@pytest.mark.parametrize("parameters, reason", [
    ({"c": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}},
     "Variable 'nope' not found in workspace."),
    ({"c": json_({"x": 1})}, "Invalid JSON: the JSON object must be str, bytes or bytearray, not dict"),
])
def test_patch_that_fails_to_hydrate_is_400_and_changes_nothing(authed_client, workspace, deployment, parameters,
                                                                reason):
    url = base(workspace) + f"deployments/{deployment['id']}"
    response = authed_client.patch(url, {"parameters": parameters, "description": "new"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == f"Error hydrating deployment parameters: {reason}"
    stored = Deployment.objects.for_workspace(workspace).get()
    assert (stored.parameters, stored.description) == ({"who": VAR, "n": 1}, None)


# --- resume ------------------------------------------------------------------------------------------------

@pytest.fixture
def paused(authed_client, workspace, greeting) -> str:
    run_id = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"]
    pause_for_input(authed_client, workspace, run_id)
    assert send(authed_client, workspace, run_id, KEYSET["schema"], json.dumps(SCHEMA)).status_code == 201
    return run_id


def test_resume_hydrates_the_input_then_checks_and_stores_it(authed_client, workspace, paused):
    answer = resume(authed_client, workspace, paused, {"approved": json_("true"), "note": VAR})
    assert (answer.status_code, answer.json()["status"]) == (201, "ACCEPT"), answer.json()
    stored = FlowRunInput.objects.for_workspace(workspace).get(key=KEYSET["response"])
    assert json.loads(stored.value) == {"approved": True, "note": "hi"}


@pytest.mark.parametrize("run_input, reason", [
    ({"approved": True, "note": {"__prefect_kind": "workspace_variable", "variable_name": "nope"}},
     "Error hydrating run input: Variable 'nope' not found in workspace."),
    ({"approved": json_("yes")}, "Error hydrating run input: Invalid JSON: Expecting value: line 1 column 1 (char 0)"),
    # hydrated fine, but the schema wants a boolean
    ({"approved": json_('"yes"')}, "Reason: Validation failed for field 'approved'. Failure reason: 'yes' is not of "
                                   "type 'boolean'"),
])
def test_resume_whose_input_fails_to_hydrate_is_rejected_and_changes_nothing(authed_client, workspace, paused,
                                                                             run_input, reason):
    assert_resume_refused(authed_client, workspace, paused, run_input, reason)


def test_parameters_that_hydrate_to_something_else_than_an_object_are_400(authed_client, workspace, deployment):
    whole = {"__prefect_kind": "json", "value": "[1, 2]"}
    response = authed_client.post(run_url(workspace, deployment), {"parameters": whole}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"] == ("Error hydrating flow run parameters: the parameters must be an object, "
                                         "not list")
    patched = authed_client.patch(base(workspace) + f"deployments/{deployment['id']}", {"parameters": whole},
                                  format="json")
    assert patched.status_code == 400
    assert FlowRun.objects.for_workspace(workspace).count() == 0
    assert Deployment.objects.for_workspace(workspace).get().parameters == {"who": VAR, "n": 1}
