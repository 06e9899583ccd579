"""Deployments: upsert (201 new, 200 existing), reads, filter/count, update, delete, pause/resume, schedules,
create_flow_run (parameters merged and validated, Scheduled state, queue resolution, idempotency keys)."""

from __future__ import annotations

import uuid

import pytest

from apps.engine.models import (
    Deployment,
    DeploymentSchedule,
    Flow,
    FlowRun,
    FlowRunState,
    TaskRun,
    WorkPool,
    WorkQueue,
)
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

SCHEMA = {"title": "Parameters", "type": "object",
          "properties": {"name": {"default": "world", "position": 0, "title": "name", "type": "string"},
                         "count": {"position": 1, "title": "count", "type": "integer"}},
          "required": ["count"]}


def base(ws) -> str:
    return f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/"


def make_flow(ws, name="hello") -> Flow:
    return Flow.objects.for_workspace(ws).create(workspace=ws, name=name)


def deploy(client, ws, flow, **fields):
    body = {"name": "dep", "flow_id": str(flow.pk), "work_queue_name": "default",
            "work_pool_name": "default-agent-pool", "parameters": {"name": "agent"}, **fields}
    return client.post(base(ws) + "deployments/", body, format="json")


def test_upsert_is_201_then_200_with_the_same_id(authed_client, workspace):
    flow = make_flow(workspace)
    first = deploy(authed_client, workspace, flow)
    assert first.status_code == 201
    body = first.json()
    assert (body["name"], body["work_queue_name"], body["work_pool_name"], body["status"]) == (
        "dep", "default", "default-agent-pool", "NOT_READY")
    assert body["is_schedule_active"] is True and body["paused"] is False and body["schedule"] is None
    again = deploy(authed_client, workspace, flow, parameters={"name": "second"}, description="d")
    assert again.status_code == 200
    assert again.json()["id"] == body["id"]
    deployment = Deployment.objects.for_workspace(workspace).get()
    assert (deployment.parameters, deployment.description) == ({"name": "second"}, "d")
    # the default agent pool and its default queue were made on demand, once
    pool = WorkPool.objects.for_workspace(workspace).get()
    assert pool.name == "default-agent-pool" and pool.default_queue.name == "default"
    assert WorkQueue.objects.for_workspace(workspace).count() == 1


def test_client_shaped_create_body_is_accepted(authed_client, workspace):
    """The exact body `Deployment.build_from_flow(...).apply()` sends (from the f_agent trace)."""
    flow = make_flow(workspace)
    body = {"infra_overrides": {}, "name": "dep", "flow_id": str(flow.pk), "schedules": [],
            "parameter_openapi_schema": SCHEMA, "parameters": {"name": "agent"}, "tags": [], "manifest_path": None,
            "work_queue_name": "default", "work_pool_name": "default-agent-pool", "storage_document_id": None,
            "infrastructure_document_id": None, "schedule": None, "description": None,
            "path": "/home/user/project/flowsrc", "version": "ee6b8e", "entrypoint": "hello.py:hello"}
    response = authed_client.post(base(workspace) + "deployments/", body, format="json")
    assert response.status_code == 201, response.json()
    got = authed_client.get(base(workspace) + "deployments/name/hello/dep").json()
    assert got["entrypoint"] == "hello.py:hello" and got["parameter_openapi_schema"] == SCHEMA


@pytest.mark.parametrize("fields, loc", [
    ({"schedule": {"cron": "not a cron"}}, "schedule"),
    ({"schedule": {"cron": "0 9 * * *", "timezone": "Mars/Olympus"}}, "schedule"),
    ({"schedule": {"interval": 0}}, "schedule"),
    ({"schedules": [{"schedule": {"rrule": "FREQ=SOMETIMES"}}]}, "schedules"),
    ({"colour": "red"}, "colour"),
])
def test_bad_deployment_is_422_and_nothing_stored(authed_client, workspace, fields, loc):
    flow = make_flow(workspace)
    response = deploy(authed_client, workspace, flow, **fields)
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["loc"][:2] == ["body", loc]
    assert Deployment.objects.for_workspace(workspace).count() == 0
    assert WorkPool.objects.for_workspace(workspace).count() == 0


def test_unknown_flow_pool_or_block_changes_nothing(authed_client, workspace):
    flow = make_flow(workspace)
    assert deploy(authed_client, workspace, Flow(pk=uuid.uuid4())).status_code == 404
    missing_pool = deploy(authed_client, workspace, flow, work_pool_name="nope")
    assert (missing_pool.status_code, missing_pool.json()["detail"]) == (404, 'Work pool "nope" not found.')
    assert deploy(authed_client, workspace, flow, infrastructure_document_id=str(uuid.uuid4())).status_code == 409
    assert Deployment.objects.for_workspace(workspace).count() == 0


def test_schedules_from_legacy_field_and_list(authed_client, workspace):
    flow = make_flow(workspace)
    created = deploy(authed_client, workspace, flow, schedule={"cron": "0 9 * * *", "timezone": "Europe/Paris"})
    body = created.json()
    assert body["schedule"] == {"cron": "0 9 * * *", "timezone": "Europe/Paris", "day_or": True}
    assert len(body["schedules"]) == 1
    url = base(workspace) + f"deployments/{body['id']}/schedules"
    added = authed_client.post(url, [{"schedule": {"interval": 3600}}, {"schedule": {"rrule": "FREQ=DAILY"},
                                                                        "active": False}], format="json")
    assert added.status_code == 201
    assert [s["active"] for s in added.json()] == [True, False]
    listed = authed_client.get(url).json()
    assert len(listed) == 3
    sid = listed[2]["id"]
    assert authed_client.patch(f"{url}/{sid}", {"active": True}, format="json").status_code == 204
    assert DeploymentSchedule.objects.for_workspace(workspace).get(pk=sid).active is True
    assert authed_client.delete(f"{url}/{sid}").status_code == 204
    assert authed_client.delete(f"{url}/{sid}").status_code == 404
    # with two schedules the legacy single-schedule update is refused
    patch = authed_client.patch(base(workspace) + f"deployments/{body['id']}", {"schedule": {"interval": 60}},
                                format="json")
    assert patch.status_code == 422


def test_pause_and_resume_follow_a_single_schedule(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow, schedule={"interval": 60}).json()
    for path, paused in (("pause_deployment", True), ("resume_deployment", False),
                         ("set_schedule_inactive", True), ("set_schedule_active", False)):
        assert authed_client.post(base(workspace) + f"deployments/{dep['id']}/{path}").status_code == 200
        got = authed_client.get(base(workspace) + f"deployments/{dep['id']}").json()
        assert (got["paused"], got["is_schedule_active"], got["schedules"][0]["active"]) == (
            paused, not paused, not paused)


def test_filter_sort_count(authed_client, workspace):
    a, b = make_flow(workspace, "a-flow"), make_flow(workspace, "b-flow")
    deploy(authed_client, workspace, a, name="x", tags=["prod"])
    deploy(authed_client, workspace, b, name="y", tags=["dev"])
    deploy(authed_client, workspace, b, name="z", work_queue_name="other", paused=True)
    url = base(workspace) + "deployments/"
    assert [d["name"] for d in authed_client.post(url + "filter", {}, format="json").json()] == ["x", "y", "z"]
    assert [d["name"] for d in authed_client.post(url + "filter", {"sort": "NAME_DESC", "limit": 2},
                                                  format="json").json()] == ["z", "y"]
    assert authed_client.post(url + "count", {"flows": {"name": {"any_": ["b-flow"]}}}, format="json").json() == 2
    assert authed_client.post(url + "count", {"deployments": {"tags": {"all_": ["prod"]}}},
                              format="json").json() == 1
    assert authed_client.post(url + "count", {"deployments": {"paused": {"eq_": True}}}, format="json").json() == 1
    assert authed_client.post(url + "count", {"work_pool_queues": {"name": {"any_": ["other"]}}},
                              format="json").json() == 1
    assert authed_client.post(url + "count", {"deployments": {"name": {"like_": "y"}}}, format="json").json() == 1


def test_filter_by_runs_flows_and_queue_prefix_with_the_shared_filters(authed_client, workspace):
    """deployments/filter takes Prefect's shared filter bodies: a deployment matches flow run and task run
    filters when one of its runs does (the same run for both); queue prefixes ignore case, as Prefect's
    ILIKE; names may be blank strings; unknown fields inside a filter are 422."""
    flow = make_flow(workspace, "f")
    x = deploy(authed_client, workspace, flow, name="x").json()
    deploy(authed_client, workspace, flow, name="y", work_queue_name="Nightly-EU")
    run = authed_client.post(base(workspace) + f"deployments/{x['id']}/create_flow_run", {}, format="json").json()
    url = base(workspace) + "deployments/"

    def names(body):
        response = authed_client.post(url + "filter", body, format="json")
        assert response.status_code == 200, response.content
        return [d["name"] for d in response.json()]

    assert names({"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}) == ["x"]
    assert names({"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}) == []
    assert names({"flow_runs": {"id": {"any_": [run["id"]]}}, "task_runs": {"name": {"any_": ["t"]}}}) == []
    flow_run = FlowRun.objects.for_workspace(workspace).get()
    TaskRun.objects.for_workspace(workspace).create(workspace=workspace, flow_run=flow_run, name="t", task_key="k",
                                                    dynamic_key="0")
    assert names({"flow_runs": {"id": {"any_": [run["id"]]}}, "task_runs": {"name": {"any_": ["t"]}}}) == ["x"]
    assert authed_client.post(url + "count", {"task_runs": {"name": {"any_": ["t"]}}}, format="json").json() == 1
    assert names({"work_pool_queues": {"name": {"startswith_": ["nightly"]}}}) == ["y"]
    assert names({"flows": {"deployment": {"is_null_": False}, "tags": {"all_": []}}}) == ["x", "y"]
    assert names({"deployments": {"name": {"any_": [""]}}}) == []
    bad = authed_client.post(url + "filter", {"deployments": {"name": {"nope_": ["x"]}}}, format="json")
    assert bad.status_code == 422


def test_update_and_delete(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow).json()
    url = base(workspace) + f"deployments/{dep['id']}"
    assert authed_client.patch(url, {"description": "new", "tags": ["t"]}, format="json").status_code == 204
    got = authed_client.get(url).json()
    assert (got["description"], got["tags"], got["parameters"]) == ("new", ["t"], {"name": "agent"})
    assert authed_client.delete(url).status_code == 204
    assert authed_client.get(url).status_code == 404
    assert authed_client.delete(url).json() == {"detail": "Deployment not found.", "code": "not_found"}


def test_create_flow_run_merges_parameters_and_starts_scheduled(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow, tags=["dep-tag"]).json()
    body = {"state": {"type": "SCHEDULED", "name": "Scheduled", "message": None,
                      "state_details": {"scheduled_time": "2030-01-01T00:00:00+00:00"}, "data": None},
            "name": None, "parameters": {"extra": 1}, "context": {}, "tags": ["run-tag"], "idempotency_key": None,
            "parent_task_run_id": None, "job_variables": {}}
    response = authed_client.post(base(workspace) + f"deployments/{dep['id']}/create_flow_run", body, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["parameters"] == {"name": "agent", "extra": 1}
    assert run["tags"] == ["dep-tag", "run-tag"]
    assert (run["state_type"], run["state"]["type"], run["state"]["name"]) == ("SCHEDULED", "SCHEDULED", "Scheduled")
    assert run["next_scheduled_start_time"] == "2030-01-01T00:00:00+00:00"
    assert run["state"]["state_details"]["scheduled_time"] == "2030-01-01T00:00:00+00:00"
    assert (run["work_queue_name"], run["work_pool_name"], run["deployment_id"]) == (
        "default", "default-agent-pool", dep["id"])
    stored = FlowRun.objects.for_workspace(workspace).get()
    assert stored.state.flow_run_id == stored.pk and stored.auto_scheduled is False
    assert run["name"] and run["id"] == str(stored.pk)


def test_create_flow_run_idempotency_key_returns_the_same_run(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow).json()
    url = base(workspace) + f"deployments/{dep['id']}/create_flow_run"
    first = authed_client.post(url, {"idempotency_key": "k1"}, format="json")
    second = authed_client.post(url, {"idempotency_key": "k1"}, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert FlowRun.objects.for_workspace(workspace).count() == 1
    assert FlowRunState.objects.for_workspace(workspace).count() == 1


def test_create_flow_run_into_another_queue_of_the_pool(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow).json()
    run = authed_client.post(base(workspace) + f"deployments/{dep['id']}/create_flow_run",
                             {"work_queue_name": "urgent"}, format="json").json()
    assert (run["work_queue_name"], run["work_pool_name"]) == ("urgent", "default-agent-pool")


def test_enforced_parameter_schema_is_a_422_listing_each_failure(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow, parameter_openapi_schema=SCHEMA,
                 enforce_parameter_schema=True).json()
    url = base(workspace) + f"deployments/{dep['id']}/create_flow_run"
    missing = authed_client.post(url, {}, format="json")
    assert missing.status_code == 422
    assert "'count' is a required property" in missing.json()["exception_detail"][0]["msg"]
    wrong = authed_client.post(url, {"parameters": {"count": "three", "name": 5}}, format="json")
    assert wrong.status_code == 422
    assert [e["loc"] for e in wrong.json()["exception_detail"]] == [["body", "parameters", "count"],
                                                                   ["body", "parameters", "name"]]
    assert FlowRun.objects.for_workspace(workspace).count() == 0
    ok = authed_client.post(url, {"parameters": {"count": 3}}, format="json")
    assert ok.status_code == 201
    # a run may opt out, as Prefect's client does with enforce_parameter_schema=False
    assert authed_client.post(url, {"enforce_parameter_schema": False}, format="json").status_code == 201


def test_an_enforced_schema_whose_reference_leads_nowhere_is_422_not_500(authed_client, workspace):
    flow = make_flow(workspace)
    schema = {"type": "object", "properties": {"count": {"$ref": "#/definitions/Count"}}}
    dep = deploy(authed_client, workspace, flow, parameter_openapi_schema=schema,
                 enforce_parameter_schema=True).json()
    response = authed_client.post(base(workspace) + f"deployments/{dep['id']}/create_flow_run",
                                  {"parameters": {"count": 3}}, format="json")
    assert response.status_code == 422
    assert response.json()["exception_detail"][0]["msg"] == (
        "Invalid parameter schema: the reference '/definitions/Count' cannot be resolved.")
    assert FlowRun.objects.for_workspace(workspace).count() == 0


def test_updating_parameters_checks_the_schema_when_enforced(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow, parameter_openapi_schema=SCHEMA,
                 enforce_parameter_schema=True).json()
    url = base(workspace) + f"deployments/{dep['id']}"
    assert authed_client.patch(url, {"parameters": {"count": "x"}}, format="json").status_code == 422
    assert Deployment.objects.for_workspace(workspace).get().parameters == {"name": "agent"}
    assert authed_client.patch(url, {"parameters": {"name": "ok"}}, format="json").status_code == 204


def test_another_workspaces_deployment_is_404_and_unchanged(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    flow = make_flow(other)
    dep = deploy(authed_client, other, flow).json()
    for method, suffix, body in (("get", "", None), ("patch", "", {"description": "x"}), ("delete", "", None),
                                 ("post", "/create_flow_run", {}), ("get", "/schedules", None),
                                 ("post", "/pause_deployment", None)):
        response = getattr(authed_client, method)(base(workspace) + f"deployments/{dep['id']}{suffix}", body,
                                                  format="json")
        assert response.status_code == 404, (method, suffix)
    # a flow of another workspace cannot be deployed here either
    assert deploy(authed_client, workspace, flow).status_code == 404
    assert Deployment.objects.for_workspace(other).get().description is None
    assert FlowRun.objects.for_workspace(other).count() == 0


def test_schedule_endpoint_backfills_and_runners_poll_their_deployments(authed_client, workspace):
    flow = make_flow(workspace)
    dep = deploy(authed_client, workspace, flow, schedule={"interval": 3600,
                                                           "anchor_date": "2024-01-01T00:00:00+00:00"}).json()
    url = base(workspace) + f"deployments/{dep['id']}/schedule"
    body = {"start_time": "2024-01-01T00:00:00+00:00", "end_time": "2024-01-01T05:30:00+00:00", "max_runs": 10}
    assert authed_client.post(url, body, format="json").status_code == 200
    assert authed_client.post(url, body, format="json").status_code == 200  # idempotent
    runs = list(FlowRun.objects.for_workspace(workspace).order_by("expected_start_time"))
    assert [r.expected_start_time.hour for r in runs] == [0, 1, 2]  # min_runs 3, then an hour past start
    polled = authed_client.post(base(workspace) + "deployments/get_scheduled_flow_runs",
                                {"deployment_ids": [dep["id"]], "scheduled_before": "2024-01-01T01:30:00+00:00"},
                                format="json").json()
    assert [r["id"] for r in polled] == [str(r.pk) for r in runs[:2]]
    assert Deployment.objects.for_workspace(workspace).get().last_polled is not None
    assert authed_client.get(base(workspace) + f"deployments/{dep['id']}").json()["status"] == "READY"
    check = authed_client.get(base(workspace) + f"deployments/{dep['id']}/work_queue_check").json()
    assert [(q["name"], q["work_pool_name"]) for q in check] == [("default", "default-agent-pool")]
