"""Duplicate proposals answered exactly as Prefect 2.20 answers them.

The expected table was recorded from the real server (`prefect server start`, 2.20.26, on loopback)
by proposing the same sequences through its API: status code, decision, the state the run is in
afterwards (type and name), the reason, and the run counts.
"""

from __future__ import annotations

import uuid

import pytest

from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    set_task_state,
)

pytestmark = pytest.mark.django_db

FLOW_SEQUENCE = [
    # (proposal, http status, decision, resulting state type, resulting name, reason or None)
    ("RUNNING", 201, "ACCEPT", "RUNNING", "Running", None),
    ("RUNNING", 201, "ACCEPT", "RUNNING", "Running", None),  # a second Running is accepted (run_count 2)
    ("PENDING", 200, "ABORT", "RUNNING", "Running",
     "This run is in a RUNNING state and cannot transition to a PENDING state."),
]


def _answer(response):
    body = response.json()
    return (response.status_code, body["status"], body["state"]["type"], body["state"]["name"],
            body["details"].get("reason"))


def test_flow_run_duplicates_match_prefect(authed_client, workspace):
    c, ws = authed_client, workspace
    run_id = create_flow_run(c, ws, create_flow(c, ws)["id"])["id"]
    for proposal, *expected in FLOW_SEQUENCE:
        assert _answer(set_flow_state(c, ws, run_id, proposal)) == tuple(expected), proposal
    assert c.get(base(ws) + f"flow_runs/{run_id}").json()["run_count"] == 2


def test_a_retried_request_with_the_same_transition_id_is_rejected_a_new_one_accepted(authed_client, workspace):
    c, ws = authed_client, workspace
    run_id = create_flow_run(c, ws, create_flow(c, ws)["id"])["id"]
    set_flow_state(c, ws, run_id, "RUNNING")
    transition = str(uuid.uuid4())
    assert _answer(set_flow_state(c, ws, run_id, "COMPLETED", transition_id=transition)) == (
        201, "ACCEPT", "COMPLETED", "Completed", None)
    assert _answer(set_flow_state(c, ws, run_id, "COMPLETED", transition_id=transition)) == (
        200, "REJECT", "COMPLETED", "Completed", "This run has already made this state transition.")
    assert _answer(set_flow_state(c, ws, run_id, "COMPLETED", transition_id=str(uuid.uuid4()))) == (
        201, "ACCEPT", "COMPLETED", "Completed", None)


def test_scheduled_runs_are_submitted_once(authed_client, workspace):
    c, ws = authed_client, workspace
    run_id = create_flow_run(c, ws, create_flow(c, ws)["id"], state_={"type": "SCHEDULED", "state_details": {}})["id"]
    assert _answer(set_flow_state(c, ws, run_id, "SCHEDULED")) == (201, "ACCEPT", "SCHEDULED", "Scheduled", None)
    assert _answer(set_flow_state(c, ws, run_id, "PENDING")) == (201, "ACCEPT", "PENDING", "Pending", None)
    assert _answer(set_flow_state(c, ws, run_id, "PENDING")) == (
        200, "ABORT", "PENDING", "Pending", "This run is in a PENDING state and cannot transition to a PENDING state.")


def test_cancelling_twice_is_rejected_cancelled_twice_accepted(authed_client, workspace):
    c, ws = authed_client, workspace
    run_id = create_flow_run(c, ws, create_flow(c, ws)["id"])["id"]
    set_flow_state(c, ws, run_id, "RUNNING")
    assert _answer(set_flow_state(c, ws, run_id, "CANCELLING"))[:2] == (201, "ACCEPT")
    assert _answer(set_flow_state(c, ws, run_id, "CANCELLING")) == (
        200, "REJECT", "CANCELLING", "Cancelling",
        "Cannot transition flows that are cancelling to a state other than Cancelled.")
    assert _answer(set_flow_state(c, ws, run_id, "CANCELLED"))[:2] == (201, "ACCEPT")
    assert _answer(set_flow_state(c, ws, run_id, "CANCELLED")) == (201, "ACCEPT", "CANCELLED", "Cancelled", None)


def test_paused_twice_is_rejected(authed_client, workspace):
    c, ws = authed_client, workspace
    run_id = create_flow_run(c, ws, create_flow(c, ws)["id"])["id"]
    set_flow_state(c, ws, run_id, "RUNNING")
    assert _answer(set_flow_state(c, ws, run_id, "PAUSED"))[:2] == (201, "ACCEPT")
    assert _answer(set_flow_state(c, ws, run_id, "PAUSED")) == (
        200, "REJECT", "PAUSED", "Paused", "Cannot pause flows that are not currently running.")


def test_task_run_duplicates_match_prefect(authed_client, workspace):
    c, ws = authed_client, workspace
    flow_run_id = create_flow_run(c, ws, create_flow(c, ws)["id"])["id"]
    set_flow_state(c, ws, flow_run_id, "RUNNING")
    task_id = create_task_run(c, ws, flow_run_id)["id"]
    assert _answer(set_task_state(c, ws, task_id, "RUNNING")) == (201, "ACCEPT", "RUNNING", "Running", None)
    # a task proposed Running again reruns: accepted and named Rerunning, counted
    assert _answer(set_task_state(c, ws, task_id, "RUNNING")) == (201, "ACCEPT", "RUNNING", "Rerunning", None)
    assert c.get(base(ws) + f"task_runs/{task_id}").json()["run_count"] == 2
    assert _answer(set_task_state(c, ws, task_id, "PENDING")) == (201, "ACCEPT", "PENDING", "Pending", None)
    assert _answer(set_task_state(c, ws, task_id, "COMPLETED")) == (201, "ACCEPT", "COMPLETED", "Completed", None)
    assert _answer(set_task_state(c, ws, task_id, "COMPLETED")) == (201, "ACCEPT", "COMPLETED", "Completed", None)
    # leaving a terminal state is a fresh run: the count restarts, so it is plain Running again
    assert _answer(set_task_state(c, ws, task_id, "RUNNING")) == (201, "ACCEPT", "RUNNING", "Running", None)
