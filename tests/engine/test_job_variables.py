"""Job variables checked against the work pool's base job template (`variables` JSON Schema) on deployment
create and update, on create_flow_run and on a run's PATCH, with the answers Prefect 2.20 gives (the
messages below were recorded from `prefect server start` 2.20.26 with the same template); bad variables
store nothing."""

from __future__ import annotations

import pytest

from apps.engine.models import Deployment, FlowRun, WorkPool, WorkQueue
from apps.engine.services.work_pools import work_pool_create
from tests.engine.runs_helpers import base

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "job_configuration": {"image": "{{ image }}", "cpu": "{{ cpu }}"},
    "variables": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string"}, "cpu": {"type": "integer", "default": 1},
        "env": {"type": "object", "additionalProperties": {"type": "string"}}}},
}


@pytest.fixture
def pool(authed_client, workspace):
    response = authed_client.post(base(workspace) + "work_pools/",
                                  {"name": "docker", "type": "docker", "base_job_template": TEMPLATE}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def flow_id(authed_client, workspace):
    return authed_client.post(base(workspace) + "flows/", {"name": "f"}, format="json").json()["id"]


def deploy(client, ws, flow_id, job_variables, name="d", **extra):
    return client.post(base(ws) + "deployments/", {"name": name, "flow_id": flow_id, "work_pool_name": "docker",
                                                    "job_variables": job_variables, **extra}, format="json")


@pytest.mark.parametrize("job_variables, detail", [
    ({"cpu": "lots"}, "Error creating deployment: Validation failed for field 'cpu'. Failure reason: 'lots' is not "
                      "valid under any of the given schemas"),
    ({"env": {"A": 1}}, "Error creating deployment: Validation failed for field 'env.A'. Failure reason: 1 is not of "
                        "type 'string'"),
])
def test_deployment_create_with_bad_variables_is_422_and_stores_nothing(authed_client, workspace, pool, flow_id,
                                                                        job_variables, detail):
    queues = WorkQueue.objects.for_workspace(workspace).count()
    response = deploy(authed_client, workspace, flow_id, job_variables, work_queue_name="new-queue")
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert not Deployment.objects.for_workspace(workspace).exists()
    assert WorkQueue.objects.for_workspace(workspace).count() == queues  # the queue it named was not made


def test_deployment_may_leave_required_variables_to_its_runs_and_send_null_for_optional(authed_client, workspace,
                                                                                        pool, flow_id):
    assert deploy(authed_client, workspace, flow_id, {"cpu": 2}).status_code == 201
    assert deploy(authed_client, workspace, flow_id, {"cpu": None}, name="d2").status_code == 201


def test_deployment_update_with_bad_variables_is_422_and_keeps_the_old_ones(authed_client, workspace, pool, flow_id):
    dep_id = deploy(authed_client, workspace, flow_id, {"cpu": 2}).json()["id"]
    # Prefect 2.20 stores these unless the body names the pool (then 409 with a Python repr); we always check
    response = authed_client.patch(base(workspace) + f"deployments/{dep_id}", {"job_variables": {"cpu": "x"}},
                                   format="json")
    assert response.status_code == 422
    assert response.json()["detail"] == ("Error updating deployment: Validation failed for field 'cpu'. Failure "
                                         "reason: 'x' is not valid under any of the given schemas")
    assert Deployment.objects.for_workspace(workspace).get().job_variables == {"cpu": 2}
    ok = authed_client.patch(base(workspace) + f"deployments/{dep_id}", {"job_variables": {"cpu": 3}}, format="json")
    assert ok.status_code == 204
    assert Deployment.objects.for_workspace(workspace).get().job_variables == {"cpu": 3}


@pytest.mark.parametrize("job_variables, detail", [
    ({}, "Error creating flow run: Validation failed. Failure reason: 'image' is a required property"),
    ({"image": 3}, "Error creating flow run: Validation failed for field 'image'. Failure reason: 3 is not of type "
                   "'string'"),
])
def test_create_flow_run_checks_every_layer_and_required_variables(authed_client, workspace, pool, flow_id,
                                                                   job_variables, detail):
    dep_id = deploy(authed_client, workspace, flow_id, {"cpu": 2}).json()["id"]
    response = authed_client.post(base(workspace) + f"deployments/{dep_id}/create_flow_run",
                                  {"job_variables": job_variables}, format="json")
    assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert not FlowRun.objects.for_workspace(workspace).exists()
    ok = authed_client.post(base(workspace) + f"deployments/{dep_id}/create_flow_run",
                            {"job_variables": {"image": "python:3.11"}}, format="json")
    assert ok.status_code == 201, ok.content


def test_a_runs_variables_patched_while_scheduled_are_checked(authed_client, workspace, pool, flow_id):
    dep_id = deploy(authed_client, workspace, flow_id, {"cpu": 2}).json()["id"]
    run_id = authed_client.post(base(workspace) + f"deployments/{dep_id}/create_flow_run",
                                {"job_variables": {"image": "py"}}, format="json").json()["id"]
    for variables, detail in (
        ({"image": 5}, "Error updating flow run: Validation failed for field 'image'. Failure reason: 5 is not of "
                       "type 'string'"),
        ({"cpu": 4}, "Error updating flow run: Validation failed. Failure reason: 'image' is a required property"),
    ):
        response = authed_client.patch(base(workspace) + f"flow_runs/{run_id}", {"job_variables": variables},
                                       format="json")
        assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert FlowRun.objects.for_workspace(workspace).get().job_variables == {"image": "py"}
    assert authed_client.patch(base(workspace) + f"flow_runs/{run_id}", {"job_variables": {"image": "py2"}},
                               format="json").status_code == 204


def test_defaults_count_and_a_template_default_failing_its_schema_lifts_required(authed_client, workspace, flow_id):
    template = {"job_configuration": {"a": "b"}, "variables": {
        "type": "object", "required": ["image", "cpu"],
        "properties": {"image": {"type": "string", "default": "python"}, "cpu": {"type": "integer", "default": "x"}}}}
    # such a pool can no longer be made through the API (below), but may exist from before
    pool = work_pool_create(workspace=workspace, name="docker", type="docker")
    WorkPool.objects.for_workspace(workspace).filter(pk=pool.pk).update(base_job_template=template)
    dep_id = deploy(authed_client, workspace, flow_id, {}).json()["id"]
    # image comes from its default; cpu's default is invalid, so it is dropped and "required" no longer applies
    response = authed_client.post(base(workspace) + f"deployments/{dep_id}/create_flow_run", {}, format="json")
    assert response.status_code == 201, response.content


def test_a_pool_whose_defaults_fail_its_schema_is_refused(authed_client, workspace, pool):
    template = {"job_configuration": {"a": "b"}, "variables": {
        "type": "object", "required": ["image", "cpu"],
        "properties": {"image": {"type": "string", "default": "python"}, "cpu": {"type": "integer", "default": "x"}}}}
    created = authed_client.post(base(workspace) + "work_pools/", {"name": "bad", "type": "docker",
                                                                    "base_job_template": template}, format="json")
    assert (created.status_code, created.json()["detail"]) == (
        422, "Validation failed for work pool's job variable defaults: Validation failed for field 'cpu'. Failure "
             "reason: 'x' is not of type 'integer'")
    assert not WorkPool.objects.for_workspace(workspace).filter(name="bad").exists()
    # Prefect 2.20 lets an update store such a template; we refuse it the same way
    updated = authed_client.patch(base(workspace) + "work_pools/docker", {"base_job_template": template},
                                  format="json")
    assert updated.status_code == 422
    assert WorkPool.objects.for_workspace(workspace).get(name="docker").base_job_template == TEMPLATE
    bad_schema = {"job_configuration": {"a": "b"}, "variables": {"type": "nope"}}
    refused = authed_client.post(base(workspace) + "work_pools/", {"name": "bad", "type": "docker",
                                                                    "base_job_template": bad_schema}, format="json")
    assert (refused.status_code, refused.json()["detail"]) == (
        422, "Invalid schema: 'nope' is not valid under any of the given schemas")


def test_pools_without_a_variables_schema_take_anything(authed_client, workspace, flow_id):
    authed_client.post(base(workspace) + "work_pools/", {"name": "docker", "type": "docker"}, format="json")
    assert deploy(authed_client, workspace, flow_id, {"anything": object.__name__}).status_code == 201


def test_a_template_reference_that_leads_nowhere_is_422_not_500(authed_client, workspace, flow_id):
    template = {"job_configuration": {"image": "{{ image }}"},
                "variables": {"type": "object", "properties": {"image": {"$ref": "#/definitions/Image"}}}}
    created = authed_client.post(base(workspace) + "work_pools/",
                                 {"name": "docker", "type": "docker", "base_job_template": template}, format="json")
    assert created.status_code == 201, created.content
    response = deploy(authed_client, workspace, flow_id, {"image": "python:3.11"})
    assert (response.status_code, response.json()["detail"]) == (
        422, "Error creating deployment: Invalid schema: the reference '/definitions/Image' cannot be resolved.")
    assert not Deployment.objects.for_workspace(workspace).exists()
