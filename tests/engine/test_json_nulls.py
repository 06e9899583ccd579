"""User JSON keeps its nulls, and a NUL character anywhere in a JSON body is a 422 that changes nothing.

Prefect 2.20 stores free-form JSON as sent: `prefect server start` 2.20 answered these same requests with
the nested nulls intact (parameters, context, state data, task inputs, job variables, a deployment's
parameters and the shallow merge of create_flow_run); docs/performance.md "JSON nulls and NUL characters".
Only the schema's own optional fields that are null count as unset. PostgreSQL's jsonb and text refuse
U+0000, so a body carrying one is refused before anything is written, on every database alike.
"""

from __future__ import annotations

import json

import pytest

from apps.engine.models import Deployment, Event, Flow, FlowRun, Log, TaskRun
from tests.engine.runs_helpers import base, create_flow, create_flow_run, create_task_run, set_flow_state, state

pytestmark = pytest.mark.django_db

NULLS = {"a": {"b": None, "c": [None, 1, {"d": None}]}, "n": None, "e": {}}


def test_flow_run_create_keeps_nested_nulls_of_parameters_context_and_state_data(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(
        authed_client,
        workspace,
        flow["id"],
        parameters=NULLS,
        context={"k": None},
        state_=state("PENDING", "Pending", data={"x": None}),
    )
    assert (run["parameters"], run["context"], run["state"]["data"]) == (NULLS, {"k": None}, {"x": None})
    read = authed_client.get(base(workspace) + f"flow_runs/{run['id']}").json()
    assert (read["parameters"], read["context"], read["state"]["data"]) == (NULLS, {"k": None}, {"x": None})
    stored = FlowRun.objects.for_workspace(workspace).get(pk=run["id"])
    assert (stored.parameters, stored.context) == (NULLS, {"k": None})
    # the schema's own nulls are still "unset": a generated name, the policy's defaults, a Pending state
    assert run["name"] and run["empirical_policy"]["retries"] == 0 and run["state"]["message"] is None


def test_flow_run_create_without_the_optional_fields_is_unchanged(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    body = {
        "flow_id": flow["id"],
        "name": None,
        "state": None,
        "empirical_policy": None,
        "deployment_id": None,
        "parameters": {"p": None},
    }
    response = authed_client.post(base(workspace) + "flow_runs/", body, format="json")
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["name"] and run["state"]["type"] == "PENDING" and run["parameters"] == {"p": None}
    assert run["empirical_policy"]["pause_keys"] == [] and run["empirical_policy"]["retry_type"] is None


def test_flow_run_update_and_set_state_keep_nested_nulls(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    patched = authed_client.patch(base(workspace) + f"flow_runs/{run['id']}", {"parameters": NULLS}, format="json")
    assert patched.status_code == 204
    assert set_flow_state(authed_client, workspace, run["id"], "RUNNING", data={"y": [None]}).status_code == 201
    read = authed_client.get(base(workspace) + f"flow_runs/{run['id']}").json()
    assert (read["parameters"], read["state"]["data"]) == (NULLS, {"y": [None]})


def test_task_run_create_keeps_nested_nulls_of_task_inputs_and_state_data(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    inputs = {"x": [{"input_type": "parameter", "name": "x", "extra": None}], "y": []}
    task = create_task_run(
        authed_client, workspace, run["id"], task_inputs=inputs, state=state("PENDING", "Pending", data={"r": None})
    )
    assert (task["task_inputs"], task["state"]["data"]) == (inputs, {"r": None})
    read = authed_client.get(base(workspace) + f"task_runs/{task['id']}").json()
    assert (read["task_inputs"], read["state"]["data"]) == (inputs, {"r": None})
    assert TaskRun.objects.for_workspace(workspace).get(pk=task["id"]).task_inputs == inputs


def test_deployment_and_its_runs_keep_nested_nulls(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    body = {
        "name": "dep",
        "flow_id": flow["id"],
        "work_queue_name": "default",
        "work_pool_name": "default-agent-pool",
        "parameters": NULLS,
        "job_variables": {"j": None, "k": {"m": None}},
    }
    created = authed_client.post(base(workspace) + "deployments/", body, format="json")
    assert created.status_code == 201, created.content
    dep = authed_client.get(base(workspace) + f"deployments/{created.json()['id']}").json()
    assert (dep["parameters"], dep["job_variables"]) == (NULLS, {"j": None, "k": {"m": None}})
    # Prefect 2.20 merges the run's parameters over the deployment's, one level deep, nulls kept
    response = authed_client.post(
        base(workspace) + f"deployments/{dep['id']}/create_flow_run",
        {"parameters": {"z": None, "a": {"b": None}}, "job_variables": {"q": None}},
        format="json",
    )
    assert response.status_code == 201, response.content
    read = authed_client.get(base(workspace) + f"flow_runs/{response.json()['id']}").json()
    assert read["parameters"] == {"a": {"b": None}, "n": None, "e": {}, "z": None}
    assert read["job_variables"]["q"] is None and "q" in read["job_variables"]


# --- NUL ---------------------------------------------------------------------------------------------------
def _post_raw(client, url, text: str):
    return client.post(url, text.encode(), content_type="application/json")


def _assert_nul_refused(response):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["exception_message"] == "Invalid request received."
    assert "U+0000" in body["exception_detail"][0]["msg"] and body["exception_detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("nul_in", ["parameter value", "parameter key", "name", "context"])
def test_a_nul_in_a_flow_run_create_is_a_422_that_writes_nothing(authed_client, workspace, nul_in):
    flow = create_flow(authed_client, workspace)
    body = {"flow_id": flow["id"], "parameters": {"p": "ok"}}
    if nul_in == "parameter value":
        body["parameters"] = {"p": "a\u0000b"}
    elif nul_in == "parameter key":
        body["parameters"] = {"p\u0000": 1}
    elif nul_in == "name":
        body["name"] = "run\u0000"
    else:
        body["context"] = {"deep": [{"x": "\u0000"}]}
    _assert_nul_refused(_post_raw(authed_client, base(workspace) + "flow_runs/", json.dumps(body)))
    assert not FlowRun.objects.for_workspace(workspace).exists()


def test_a_nul_in_a_log_batch_task_run_flow_or_deployment_is_a_422(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    url = base(workspace)
    logs = [
        {
            "name": "l",
            "level": 20,
            "message": "m\u0000",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "flow_run_id": run["id"],
            "task_run_id": None,
        }
    ]
    _assert_nul_refused(_post_raw(authed_client, url + "logs/", json.dumps(logs)))
    task = {"flow_run_id": run["id"], "task_key": "t", "dynamic_key": "0", "name": "t\u0000"}
    _assert_nul_refused(_post_raw(authed_client, url + "task_runs/", json.dumps(task)))
    _assert_nul_refused(_post_raw(authed_client, url + "flows/", json.dumps({"name": "f\u0000"})))
    dep = {"name": "d", "flow_id": flow["id"], "parameters": {"x": "\u0000"}}
    _assert_nul_refused(_post_raw(authed_client, url + "deployments/", json.dumps(dep)))
    state_body = {"state": state("RUNNING", "Running", data={"r": "\u0000"}), "force": False}
    _assert_nul_refused(_post_raw(authed_client, url + f"flow_runs/{run['id']}/set_state", json.dumps(state_body)))
    assert not Log.objects.for_workspace(workspace).exists() and not TaskRun.objects.for_workspace(workspace).exists()
    assert Flow.objects.for_workspace(workspace).count() == 1
    assert not Deployment.objects.for_workspace(workspace).exists()
    assert authed_client.get(url + f"flow_runs/{run['id']}").json()["state"]["type"] == "PENDING"


def test_an_escaped_backslash_before_u0000_is_text_not_a_nul(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    # the JSON text `"\\u0000"` is the six characters \u0000, which every database stores
    text = '{"flow_id": "FLOW", "parameters": {"p": "\\\\u0000", "q": "\\\\\\u0041"}}'.replace("FLOW", flow["id"])
    response = _post_raw(authed_client, base(workspace) + "flow_runs/", text)
    assert response.status_code == 201, response.content
    assert response.json()["parameters"] == {"p": "\\u0000", "q": "\\A"}


@pytest.mark.django_db(transaction=True)
def test_the_events_stream_drops_an_event_holding_a_nul_and_stores_the_rest(workspace, user_key):
    from tests.engine.test_events import make_event, stream

    bad, good = make_event(), make_event(name="prefect.task-run.Running")
    bad["payload"] = {"x": "a\u0000"}
    accepted, _ = stream(workspace, user_key, [json.dumps(bad), json.dumps(good)])
    assert accepted is True
    assert [str(e.event_id) for e in Event.objects.for_workspace(workspace)] == [good["id"]]


def test_post_events_with_a_nul_is_a_422(authed_client, workspace):
    from tests.engine.test_events import make_event

    event = make_event()
    event["resource"]["prefect.resource.name"] = "\u0000"
    _assert_nul_refused(_post_raw(authed_client, base(workspace) + "events", json.dumps([event])))
    assert not Event.objects.for_workspace(workspace).exists()


def test_artifacts_and_block_documents_keep_nested_nulls(authed_client, workspace):
    from apps.engine.services.blocks import workspace_seed_blocks

    url = base(workspace)
    made = authed_client.post(
        url + "artifacts/", {"key": "k", "type": "table", "data": [{"a": None}, None]}, format="json"
    )
    assert made.status_code == 201, made.content
    assert authed_client.get(url + f"artifacts/{made.json()['id']}").json()["data"] == [{"a": None}, None]

    workspace_seed_blocks(workspace=workspace)
    block_type = authed_client.get(url + "block_types/slug/json").json()
    schema = authed_client.post(
        url + "block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}}, format="json"
    ).json()[0]
    document = authed_client.post(
        url + "block_documents/",
        {"name": "cfg", "data": {"value": NULLS}, "block_schema_id": schema["id"], "block_type_id": block_type["id"]},
        format="json",
    )
    assert document.status_code == 201, document.content
    assert authed_client.get(url + f"block_documents/{document.json()['id']}").json()["data"] == {"value": NULLS}
