"""Flows, flow runs and their states through the API: the shapes the prefect 2.20 client reads (checked
against the recorded trace), upserts and idempotency, updates, filters and counts, deletes, bad input."""

from __future__ import annotations

import uuid

import pytest

from apps.engine.models import Flow, FlowRun, FlowRunState, OrchestrationDecision
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    set_task_state,
    shape_of,
    state,
    trace,
)

pytestmark = pytest.mark.django_db


def _first(records, method, pattern):
    import re

    for record in records:
        if record["method"] == method and re.fullmatch(pattern, record["path"]):
            return record
    raise AssertionError(f"no {method} {pattern} in trace")


def _same_keys(ours, theirs, where="$"):
    """Every key Prefect's server answered is in ours, recursively (ours may not drop any)."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        missing = set(theirs) - set(ours)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key in theirs:
            if theirs[key] is not None and ours[key] is not None:
                _same_keys(ours[key], theirs[key], f"{where}.{key}")


def test_responses_have_the_shapes_the_client_recorded(authed_client, workspace):
    records = trace("a_flows.jsonl")
    c, ws = authed_client, workspace
    flow = c.post(base(ws) + "flows/", _first(records, "POST", r"/api/flows/")["req"], format="json")
    assert flow.status_code == 201
    _same_keys(flow.json(), _first(records, "POST", r"/api/flows/")["resp"])

    rec = _first(records, "POST", r"/api/flow_runs/")
    run = c.post(base(ws) + "flow_runs/", {**rec["req"], "flow_id": flow.json()["id"]}, format="json")
    assert run.status_code == 201
    _same_keys(run.json(), rec["resp"])
    assert shape_of(run.json()["state"]) == shape_of(rec["resp"]["state"])
    run_id = run.json()["id"]

    rec = _first(records, "POST", r"/api/flow_runs/[^/]+/set_state")
    body = rec["req"]
    body["state"]["state_details"]["flow_run_id"] = run_id
    answer = c.post(base(ws) + f"flow_runs/{run_id}/set_state", body, format="json")
    assert answer.status_code == 201
    _same_keys(answer.json(), rec["resp"])
    assert answer.json()["status"] == "ACCEPT" and answer.json()["details"] == {"type": "accept_details"}

    rec = _first(records, "GET", r"/api/flow_runs/[^/]+")
    read = c.get(base(ws) + f"flow_runs/{run_id}")
    _same_keys(read.json(), rec["resp"])
    assert (read.json()["state_type"], read.json()["run_count"]) == ("RUNNING", 1)

    rec = _first(records, "POST", r"/api/task_runs/")
    task = c.post(base(ws) + "task_runs/", {**rec["req"], "flow_run_id": run_id}, format="json")
    assert task.status_code == 201
    _same_keys(task.json(), rec["resp"])
    assert shape_of(task.json()["state"]["state_details"]) == shape_of(rec["resp"]["state"]["state_details"])

    rec = _first(records, "GET", r"/api/task_runs/[^/]+")
    _same_keys(c.get(base(ws) + f"task_runs/{task.json()['id']}").json(), rec["resp"])


def test_flow_create_is_an_upsert_by_name(authed_client, workspace):
    first = authed_client.post(base(workspace) + "flows/", {"name": "etl", "tags": ["a"]}, format="json")
    again = authed_client.post(base(workspace) + "flows/", {"name": "etl", "tags": ["b"]}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["tags"] == ["a"]
    assert Flow.objects.for_workspace(workspace).count() == 1
    assert authed_client.get(base(workspace) + "flows/name/etl").json()["id"] == first.json()["id"]
    assert authed_client.patch(base(workspace) + f"flows/{first.json()['id']}", {"tags": ["x"]},
                               format="json").status_code == 204
    assert authed_client.get(base(workspace) + f"flows/{first.json()['id']}").json()["tags"] == ["x"]


def test_flow_filter_sort_count_and_delete(authed_client, workspace):
    c, ws = authed_client, workspace
    ids = {name: create_flow(c, ws, name)["id"] for name in ("b-flow", "a-flow", "c-flow")}
    names = [f["name"] for f in c.post(base(ws) + "flows/filter", {}, format="json").json()]
    assert names == ["a-flow", "b-flow", "c-flow"]
    desc = c.post(base(ws) + "flows/filter", {"sort": "NAME_DESC", "limit": 2, "offset": 1}, format="json").json()
    assert [f["name"] for f in desc] == ["b-flow", "a-flow"]
    assert c.post(base(ws) + "flows/count", {"flows": {"name": {"like_": "a-"}}}, format="json").json() == 1
    run = create_flow_run(c, ws, ids["c-flow"])
    with_runs = c.post(base(ws) + "flows/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}}, format="json")
    assert [f["name"] for f in with_runs.json()] == ["c-flow"]
    assert c.delete(base(ws) + f"flows/{ids['c-flow']}").status_code == 204
    assert not FlowRun.objects.for_workspace(ws).exists()
    assert c.get(base(ws) + f"flows/{ids['c-flow']}").status_code == 404


def test_flow_run_idempotency_key_returns_the_existing_run(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    first = authed_client.post(base(workspace) + "flow_runs/", {"flow_id": flow["id"], "idempotency_key": "k1"},
                               format="json")
    again = authed_client.post(base(workspace) + "flow_runs/",
                               {"flow_id": flow["id"], "idempotency_key": "k1", "name": "other"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == first.json()["name"]
    assert first.json()["state"]["type"] == "PENDING"
    assert FlowRun.objects.for_workspace(workspace).count() == 1
    assert FlowRunState.objects.for_workspace(workspace).count() == 1


def test_flow_run_created_scheduled_gets_its_scheduled_time(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    when = "2030-01-01T00:00:00+00:00"
    run = create_flow_run(authed_client, workspace, flow["id"], state_=state("SCHEDULED", scheduled_time=when))
    assert run["state"]["name"] == "Scheduled"
    assert run["expected_start_time"] == when
    assert run["next_scheduled_start_time"] == when


def test_flow_run_patch_updates_infrastructure_pid_and_name(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    url = base(workspace) + f"flow_runs/{run['id']}"
    assert authed_client.patch(url, {"infrastructure_pid": "host:1234", "name": "renamed"},
                               format="json").status_code == 204
    read = authed_client.get(url).json()
    assert (read["infrastructure_pid"], read["name"]) == ("host:1234", "renamed")
    # job variables only change while Scheduled
    bad = authed_client.patch(url, {"job_variables": {"image": "x"}}, format="json")
    assert bad.status_code == 422
    assert authed_client.get(url).json()["job_variables"] == {}


def test_flow_run_filter_by_state_flow_tags_sorted_and_counted(authed_client, workspace):
    c, ws = authed_client, workspace
    etl, other = create_flow(c, ws, "etl")["id"], create_flow(c, ws, "other")["id"]
    a = create_flow_run(c, ws, etl, name="alpha", tags=["prod"])
    b = create_flow_run(c, ws, etl, name="bravo")
    z = create_flow_run(c, ws, other, name="zulu", tags=["prod", "eu"])
    set_flow_state(c, ws, b["id"], "RUNNING")
    url = base(ws) + "flow_runs/filter"
    running = c.post(url, {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}}, format="json").json()
    assert [r["name"] for r in running] == ["bravo"]
    by_flow = c.post(url, {"flows": {"name": {"any_": ["etl"]}}, "sort": "NAME_DESC"}, format="json").json()
    assert [r["name"] for r in by_flow] == ["bravo", "alpha"]
    tagged = c.post(url, {"flow_runs": {"tags": {"all_": ["prod"]}}, "sort": "NAME_ASC"}, format="json").json()
    assert [r["name"] for r in tagged] == ["alpha", "zulu"]
    either = c.post(url, {"flow_runs": {"operator": "or_", "name": {"any_": ["alpha"]},
                                        "tags": {"all_": ["eu"]}}, "sort": "NAME_ASC"}, format="json").json()
    assert [r["id"] for r in either] == [a["id"], z["id"]]
    page = c.post(url, {"sort": "NAME_ASC", "limit": 1, "offset": 1}, format="json").json()
    assert [r["name"] for r in page] == ["bravo"]
    not_pending = c.post(base(ws) + "flow_runs/count",
                         {"flow_runs": {"state": {"type": {"any_": ["PENDING"]}}, "id": {"not_any_": [a["id"]]}}},
                         format="json")
    assert not_pending.json() == 1
    # the agent's check for cancelling runs of its queue
    assert c.post(url, {"flow_runs": {"state": {"type": {"any_": ["CANCELLING"]}}},
                        "work_pool_queues": {"name": {"any_": ["default"]}}}, format="json").json() == []


def test_flow_run_filter_by_task_runs_and_parent(authed_client, workspace):
    c, ws = authed_client, workspace
    flow = create_flow(c, ws)["id"]
    parent = create_flow_run(c, ws, flow, name="parent")
    set_flow_state(c, ws, parent["id"], "RUNNING")
    tracker = create_task_run(c, ws, parent["id"], key="child-1", dynamic_key="0")
    child = create_flow_run(c, ws, flow, name="child", parent_task_run_id=tracker["id"])
    url = base(ws) + "flow_runs/filter"
    subflows = c.post(url, {"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}, format="json").json()
    assert [r["id"] for r in subflows] == [child["id"]]
    top = c.post(url, {"flow_runs": {"parent_task_run_id": {"is_null_": True}}}, format="json").json()
    assert [r["id"] for r in top] == [parent["id"]]
    with_tasks = c.post(url, {"task_runs": {"id": {"any_": [tracker["id"]]}}}, format="json").json()
    assert [r["id"] for r in with_tasks] == [parent["id"]]


def test_flow_run_states_read_and_list(authed_client, workspace):
    c, ws = authed_client, workspace
    run = create_flow_run(c, ws, create_flow(c, ws)["id"])
    set_flow_state(c, ws, run["id"], "RUNNING")
    set_flow_state(c, ws, run["id"], "COMPLETED")
    states = c.get(base(ws) + "flow_run_states/", {"flow_run_id": run["id"]}).json()
    assert [s["type"] for s in states] == ["PENDING", "RUNNING", "COMPLETED"]
    one = c.get(base(ws) + f"flow_run_states/{states[1]['id']}").json()
    assert one == states[1]
    assert c.get(base(ws) + "flow_run_states/").status_code == 422


def test_flow_run_delete_removes_states_task_runs_and_decisions(authed_client, workspace):
    c, ws = authed_client, workspace
    run = create_flow_run(c, ws, create_flow(c, ws)["id"])
    set_flow_state(c, ws, run["id"], "RUNNING")
    task = create_task_run(c, ws, run["id"])
    set_task_state(c, ws, task["id"], "RUNNING")
    assert c.delete(base(ws) + f"flow_runs/{run['id']}").status_code == 204
    assert not FlowRunState.objects.for_workspace(ws).exists()
    assert not OrchestrationDecision.objects.for_workspace(ws).exists()
    assert c.get(base(ws) + f"task_runs/{task['id']}").status_code == 404
    assert c.delete(base(ws) + f"flow_runs/{run['id']}").status_code == 404


@pytest.mark.parametrize(("path", "body"), [
    ("flow_runs/", {"flow_id": "not-a-uuid"}),
    ("flow_runs/", {"flow_id": None}),
    ("flow_runs/", {"flow_id": "{flow}", "colour": "red"}),
    ("flow_runs/", {"flow_id": "{flow}", "state": {"type": "EXPLODED"}}),
    ("flow_runs/", {"flow_id": "{flow}", "name": "a/b"}),
    ("flow_runs/", {"flow_id": "{flow}", "empirical_policy": {"retries": -1}}),
    ("flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["NOPE"]}}}}),
    ("flow_runs/filter", {"sort": "SIDEWAYS"}),
    ("flow_runs/filter", {"limit": 201}),
    ("flow_runs/filter", {"flow_runs": {"nickname": {"any_": ["x"]}}}),
    ("flows/", {"name": "bad/name"}),
    ("flows/", {}),
])
def test_bad_input_is_422_in_prefects_shape_and_nothing_changes(authed_client, workspace, path, body):
    flow = create_flow(authed_client, workspace)
    body = {k: (flow["id"] if v == "{flow}" else v) for k, v in body.items()}
    response = authed_client.post(base(workspace) + path, body, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["exception_message"] == "Invalid request received."
    assert all({"loc", "msg", "type"} <= set(e) for e in response.json()["exception_detail"])
    assert FlowRun.objects.for_workspace(workspace).count() == 0
    assert Flow.objects.for_workspace(workspace).count() == 1


def test_malformed_ids_are_422_and_unknown_ids_404(authed_client, workspace):
    c, ws = authed_client, workspace
    assert c.get(base(ws) + "flow_runs/not-a-uuid").status_code == 422
    assert c.get(base(ws) + f"flow_runs/{uuid.uuid4()}").json() == {"detail": "Flow run not found.",
                                                                     "code": "not_found"}
    assert c.post(base(ws) + "flow_runs/", {"flow_id": str(uuid.uuid4())}, format="json").status_code == 404
    assert set_flow_state(c, ws, uuid.uuid4(), "RUNNING").status_code == 404


def test_filter_bodies_are_read_as_prefects_server_reads_them(authed_client, workspace):
    """Top-level nulls mean the default and unknown top-level keys are ignored (what `prefect flow-run ls`
    sends to flows/filter); the filters inside stay strict."""
    create_flow(authed_client, workspace, "b")
    create_flow(authed_client, workspace, "a")
    body = {"flows": None, "flow_runs": None, "task_runs": None, "deployments": None, "work_pools": None,
            "work_queues": None, "sort": None, "limit": None, "offset": None}
    response = authed_client.post(base(workspace) + "flows/filter", body, format="json")
    assert response.status_code == 200
    assert [f["name"] for f in response.json()] == ["a", "b"]
    strict = authed_client.post(base(workspace) + "flows/filter", {"flows": {"colour": "red"}}, format="json")
    assert strict.status_code == 422


def test_flow_run_history_counts_runs_per_interval_and_state(authed_client, workspace):
    c, ws = authed_client, workspace
    flow = create_flow(c, ws)["id"]
    early = create_flow_run(c, ws, flow, state_=state("SCHEDULED", scheduled_time="2030-01-01T00:10:00+00:00"))
    create_flow_run(c, ws, flow, state_=state("SCHEDULED", scheduled_time="2030-01-01T00:20:00+00:00"))
    create_flow_run(c, ws, flow, state_=state("SCHEDULED", scheduled_time="2030-01-01T01:30:00+00:00"))
    set_flow_state(c, ws, early["id"], "CANCELLING")
    body = {"history_start": "2030-01-01T00:00:00+00:00", "history_end": "2030-01-01T02:00:00+00:00",
            "history_interval_seconds": 3600}
    history = c.post(base(ws) + "flow_runs/history", body, format="json").json()
    assert [(h["interval_start"], [(s["state_type"], s["state_name"], s["count_runs"]) for s in h["states"]])
            for h in history] == [
        ("2030-01-01T00:00:00+00:00", [("CANCELLED", "Cancelled", 1), ("SCHEDULED", "Scheduled", 1)]),
        ("2030-01-01T01:00:00+00:00", [("SCHEDULED", "Scheduled", 1)]),
    ]
    too_many = c.post(base(ws) + "flow_runs/history", {**body, "history_interval_seconds": 1}, format="json")
    assert too_many.status_code == 422


def test_a_task_run_create_retried_with_its_id_returns_the_run_and_writes_no_second_state(authed_client,
                                                                                           workspace):
    from apps.engine.models import TaskRun, TaskRunState

    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    task_run_id = str(uuid.uuid4())
    first = create_task_run(authed_client, workspace, run["id"], id=task_run_id, expect=(201,))
    again = create_task_run(authed_client, workspace, run["id"], id=task_run_id, expect=(200,))
    assert first["id"] == again["id"] == task_run_id
    assert TaskRunState.objects.for_workspace(workspace).filter(task_run_id=task_run_id).count() == 1
    assert TaskRun.objects.for_workspace(workspace).count() == 1


def test_a_task_run_create_reusing_another_runs_id_is_409_and_changes_nothing(authed_client, workspace):
    from apps.engine.models import TaskRun, TaskRunState

    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    taken = create_task_run(authed_client, workspace, run["id"], key="a-1", expect=(201,))["id"]
    for flow_run_id in (run["id"], None):  # in a flow run, and on its own (no unique keys to lean on)
        response = authed_client.post(base(workspace) + "task_runs/", {
            "id": taken, "flow_run_id": flow_run_id, "task_key": "b-2", "dynamic_key": "0",
            "state": state("PENDING", "Pending")}, format="json")
        assert (response.status_code, response.json()["detail"]) == (409, "A task run with this id already exists.")
    assert TaskRun.objects.for_workspace(workspace).count() == 1
    assert TaskRunState.objects.for_workspace(workspace).count() == 1
