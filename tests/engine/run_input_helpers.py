"""Helpers for the flow run input tests: the input endpoints, a run paused for typed input and resuming it
with input the engine must refuse."""

from __future__ import annotations

from apps.engine.models import FlowRun, FlowRunInput
from tests.engine.runs_helpers import base, set_flow_state

# The keys `pause_flow_run(wait_for_input=Approval)` names in the paused state, and the schema it stores.
KEYSET = {"description": "paused-abc-description", "response": "paused-abc-response", "schema": "paused-abc-schema"}
SCHEMA = {"title": "Approval", "type": "object", "properties": {"approved": {"title": "Approved", "type": "boolean"},
                                                                 "note": {"title": "Note", "type": "string"}},
          "required": ["approved"]}


def url(ws, run_id, suffix="") -> str:
    return base(ws) + f"flow_runs/{run_id}/input{suffix}"


def send(client, ws, run_id, key, value, sender=None):
    return client.post(url(ws, run_id), {"key": key, "value": value, "sender": sender}, format="json")


def resume(client, ws, run_id, run_input):
    return client.post(base(ws) + f"flow_runs/{run_id}/resume", {"run_input": run_input}, format="json")


def pause_for_input(client, ws, run_id) -> str:
    """Run `run_id`, then pause it waiting for input under KEYSET, as the client does; return the id."""
    set_flow_state(client, ws, run_id, "RUNNING")
    answer = set_flow_state(client, ws, run_id, "PAUSED", pause_key="abc", run_input_keyset=KEYSET)
    assert answer.json()["status"] == "ACCEPT", answer.json()
    return run_id


def assert_resume_refused(client, ws, run_id, run_input, reason) -> None:
    """Resuming `run_id` (paused, the workspace's only run) with `run_input` is refused with `reason` (200,
    REJECT, abort details, Paused state) and changes nothing: the run stays Paused, no response is stored."""
    answer = resume(client, ws, run_id, run_input)
    assert answer.status_code == 200
    assert answer.json()["status"] == "REJECT"
    assert answer.json()["details"] == {"type": "abort_details", "reason": reason}
    assert answer.json()["state"]["type"] == "PAUSED"
    assert FlowRun.objects.for_workspace(ws).get().state_type == "PAUSED"
    assert not FlowRunInput.objects.for_workspace(ws).filter(key=KEYSET["response"]).exists()
