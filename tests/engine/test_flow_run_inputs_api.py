"""Flow run inputs at Prefect 2.20's paths (create, read as text, filter by prefix, delete), tenancy and
permissions, and resuming a run paused for typed input (`pause_flow_run(wait_for_input=...)`)."""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from apps.access import catalog
from apps.engine.models import FlowRun, FlowRunInput
from tests.engine.run_input_helpers import KEYSET, SCHEMA, assert_resume_refused, pause_for_input, resume, send, url
from tests.engine.runs_helpers import base, create_flow, create_flow_run, member_client
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_id(authed_client, workspace) -> str:
    return create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"]


def test_create_then_read_back_as_plain_text(authed_client, workspace, run_id):
    created = send(authed_client, workspace, run_id, "greeting-1", '{"name":"ada"}', sender="prefect.flow-run.x")
    assert (created.status_code, created.content) == (201, b"null")
    read = authed_client.get(url(workspace, run_id, "/greeting-1"))
    assert (read.status_code, read["Content-Type"], read.content) == (200, "text/plain; charset=utf-8",
                                                                       b'{"name":"ada"}')
    row = FlowRunInput.objects.for_workspace(workspace).get()
    assert (str(row.flow_run_id), row.key, row.sender) == (run_id, "greeting-1", "prefect.flow-run.x")


def test_a_key_is_written_once_409_keeps_the_first_value(authed_client, workspace, run_id):
    assert send(authed_client, workspace, run_id, "k", "first").status_code == 201
    again = send(authed_client, workspace, run_id, "k", "second")
    assert (again.status_code, again.json()["detail"]) == (409, "A flow run input with this key already exists.")
    assert authed_client.get(url(workspace, run_id, "/k")).content == b"first"
    assert FlowRunInput.objects.for_workspace(workspace).count() == 1


def test_the_same_key_on_two_runs_is_two_inputs(authed_client, workspace, run_id):
    other = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace, "other")["id"])["id"]
    assert send(authed_client, workspace, run_id, "k", "a").status_code == 201
    assert send(authed_client, workspace, other, "k", "b").status_code == 201
    assert authed_client.get(url(workspace, other, "/k")).content == b"b"


@pytest.mark.parametrize("body, loc", [
    ({"key": "Not_Valid", "value": "x"}, ["body", "key"]),
    ({"key": "", "value": "x"}, ["body", "key"]),
    ({"value": "x"}, ["body", "key"]),
    ({"key": "k"}, ["body", "value"]),
    ({"key": "k", "value": {"not": "a string"}}, ["body", "value"]),
])
def test_bad_input_is_422_and_stores_nothing(authed_client, workspace, run_id, body, loc):
    response = authed_client.post(url(workspace, run_id), body, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["exception_detail"][0]["loc"] == loc
    assert not FlowRunInput.objects.for_workspace(workspace).exists()


def test_filter_by_prefix_oldest_first_with_limit_and_exclusions(authed_client, workspace, run_id):
    for key in ("msg-a", "msg-b", "other-c", "msg-d"):
        assert send(authed_client, workspace, run_id, key, key.upper()).status_code == 201
    flt = url(workspace, run_id, "/filter")
    first = authed_client.post(flt, {"prefix": "msg-"}, format="json")
    assert first.status_code == 200
    assert [(i["key"], i["value"]) for i in first.json()] == [("msg-a", "MSG-A")]  # Prefect's default limit: 1
    assert set(first.json()[0]) == {"id", "created", "updated", "flow_run_id", "key", "value", "sender"}
    assert first.json()[0]["flow_run_id"] == run_id
    rest = authed_client.post(flt, {"prefix": "msg-", "limit": 10, "exclude_keys": ["msg-a"]}, format="json")
    assert [i["key"] for i in rest.json()] == ["msg-b", "msg-d"]
    # a prefix is literal: "_" and "%" are not wildcards
    assert authed_client.post(flt, {"prefix": "msg_", "limit": 10}, format="json").json() == []
    assert authed_client.post(flt, {"prefix": "msg-", "limit": 201}, format="json").status_code == 422
    assert authed_client.post(flt, {}, format="json").status_code == 422


def test_get_of_the_key_filter_reads_that_key(authed_client, workspace, run_id):
    assert send(authed_client, workspace, run_id, "filter", "v").status_code == 201
    assert authed_client.get(url(workspace, run_id, "/filter")).content == b"v"
    assert authed_client.delete(url(workspace, run_id, "/filter")).status_code == 204
    assert not FlowRunInput.objects.for_workspace(workspace).exists()
    assert authed_client.post(url(workspace, run_id, "/other"), {"prefix": ""}, format="json").status_code == 405


def test_delete_then_404(authed_client, workspace, run_id):
    send(authed_client, workspace, run_id, "k", "v")
    assert authed_client.delete(url(workspace, run_id, "/k")).status_code == 204
    missing = authed_client.get(url(workspace, run_id, "/k"))
    assert (missing.status_code, missing.json()["detail"]) == (404, "Flow run input not found")
    assert authed_client.delete(url(workspace, run_id, "/k")).status_code == 404


def test_inputs_go_with_their_run(authed_client, workspace, run_id):
    send(authed_client, workspace, run_id, "k", "v")
    assert authed_client.delete(base(workspace) + f"flow_runs/{run_id}").status_code == 204
    assert not FlowRunInput.objects.for_workspace(workspace).exists()


def test_a_missing_run_is_404(authed_client, workspace):
    missing = str(uuid.uuid4())
    response = send(authed_client, workspace, missing, "k", "v")
    assert (response.status_code, response.json()["detail"]) == (404, "Flow run not found")
    assert authed_client.post(url(workspace, missing, "/filter"), {"prefix": ""}, format="json").status_code == 404
    assert authed_client.post(url(workspace, "not-a-uuid", "/filter"), {"prefix": ""},
                              format="json").status_code == 422


def test_another_workspaces_run_and_inputs_are_404_and_unchanged(authed_client, workspace, organization):
    other = WorkspaceFactory(organization=organization)
    theirs = create_flow_run(authed_client, other, create_flow(authed_client, other)["id"])["id"]
    assert send(authed_client, other, theirs, "secret", "s3cr3t").status_code == 201
    c, ws = authed_client, workspace
    for response in (
        send(c, ws, theirs, "k", "v"),
        c.get(url(ws, theirs, "/secret")),
        c.delete(url(ws, theirs, "/secret")),
        c.post(url(ws, theirs, "/filter"), {"prefix": ""}, format="json"),
    ):
        assert response.status_code == 404, response.content
        assert b"s3cr3t" not in response.content
    assert list(FlowRunInput.objects.for_workspace(other).values_list("key", "value")) == [("secret", "s3cr3t")]
    assert not FlowRunInput.objects.for_workspace(ws).exists()


def test_permissions_reader_reads_and_filters_but_cannot_send_or_delete(authed_client, workspace, organization,
                                                                         run_id):
    send(authed_client, workspace, run_id, "k", "v")
    reader = member_client(organization, workspace, catalog.READ_ONLY_COLLABORATOR)[0]
    assert reader.get(url(workspace, run_id, "/k")).status_code == 200
    assert reader.post(url(workspace, run_id, "/filter"), {"prefix": "k"}, format="json").status_code == 200
    denied = [send(reader, workspace, run_id, "k2", "v"), reader.delete(url(workspace, run_id, "/k"))]
    assert [(r.status_code, r.json()["permission"]) for r in denied] == [(403, "flow_runs:write")] * 2
    assert list(FlowRunInput.objects.for_workspace(workspace).values_list("key", flat=True)) == ["k"]


def test_anonymous_is_401(workspace, run_id):
    assert APIClient().post(url(workspace, run_id), {"key": "k", "value": "v"}, format="json").status_code == 401


# --- resuming a run paused for input ----------------------------------------------------------------------

@pytest.fixture
def paused(authed_client, workspace, run_id):
    return pause_for_input(authed_client, workspace, run_id)


def test_resume_with_valid_input_runs_and_stores_the_response(authed_client, workspace, paused):
    assert send(authed_client, workspace, paused, KEYSET["schema"], json.dumps(SCHEMA)).status_code == 201
    answer = resume(authed_client, workspace, paused, {"approved": True, "note": "ok"})
    assert (answer.status_code, answer.json()["status"], answer.json()["state"]["type"]) == (201, "ACCEPT", "RUNNING")
    stored = authed_client.get(url(workspace, paused, "/" + KEYSET["response"]))
    assert json.loads(stored.content) == {"approved": True, "note": "ok"}


@pytest.mark.parametrize("run_input, reason", [
    ({"approved": "yes"}, "Reason: Validation failed for field 'approved'. Failure reason: 'yes' is not of type "
                          "'boolean'"),
    ({}, "Reason: Validation failed. Failure reason: 'approved' is a required property"),
    (None, "Reason: Validation failed. Failure reason: 'approved' is a required property"),
])
def test_resume_with_input_failing_the_schema_is_rejected_and_changes_nothing(authed_client, workspace, paused,
                                                                               run_input, reason):
    send(authed_client, workspace, paused, KEYSET["schema"], json.dumps(SCHEMA))
    assert_resume_refused(authed_client, workspace, paused, run_input, reason)


@pytest.mark.parametrize("schema_value, reason", [
    (None, "Run input schema not found."),
    ("{not json", "Run input schema is not valid JSON."),
])
def test_resume_without_a_usable_schema_is_rejected(authed_client, workspace, paused, schema_value, reason):
    if schema_value is not None:
        send(authed_client, workspace, paused, KEYSET["schema"], schema_value)
    answer = resume(authed_client, workspace, paused, {"approved": True}).json()
    assert (answer["status"], answer["details"]["reason"]) == ("REJECT", reason)
    assert FlowRun.objects.for_workspace(workspace).get().state_type == "PAUSED"


def test_resume_with_a_schema_reference_that_leads_nowhere_is_rejected_not_500(authed_client, workspace, paused):
    schema = {"type": "object", "properties": {"approved": {"$ref": "#/definitions/Gone"}}}
    send(authed_client, workspace, paused, KEYSET["schema"], json.dumps(schema))
    answer = resume(authed_client, workspace, paused, {"approved": True})
    assert (answer.status_code, answer.json()["status"], answer.json()["details"]["reason"]) == (
        200, "REJECT", "Invalid schema: the reference '/definitions/Gone' cannot be resolved.")
    assert FlowRun.objects.for_workspace(workspace).get().state_type == "PAUSED"


def test_resume_whose_response_key_exists_is_409_and_stays_paused(authed_client, workspace, paused):
    send(authed_client, workspace, paused, KEYSET["schema"], json.dumps(SCHEMA))
    send(authed_client, workspace, paused, KEYSET["response"], "{}")
    answer = resume(authed_client, workspace, paused, {"approved": True})
    assert answer.status_code == 409
    assert FlowRun.objects.for_workspace(workspace).get().state_type == "PAUSED"
    assert authed_client.get(url(workspace, paused, "/" + KEYSET["response"])).content == b"{}"
