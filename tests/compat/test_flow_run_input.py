"""The real client waits for typed input: `pause_flow_run(wait_for_input=...)` resumed through the API with
input (refused first when it fails the schema the flow stored), then `send_input`/`receive_input`."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.slow

GATE = """
    from prefect import flow, pause_flow_run
    from prefect.context import get_run_context
    from prefect.input import RunInput
    from prefect.input.run_input import receive_input, send_input

    class Approval(RunInput):
        approved: bool
        note: str = ""

    @flow
    def gate():
        answer = pause_flow_run(wait_for_input=Approval, timeout=240, poll_interval=1)
        print(f"APPROVED={answer.approved} NOTE={answer.note}", flush=True)
        me = get_run_context().flow_run.id
        send_input("hello", flow_run_id=me)
        for message in receive_input(str, timeout=60, poll_interval=1, flow_run_id=me):
            print(f"RECEIVED={message}", flush=True)
            break
        return "done"

    gate()
"""


def _paused_run(praetor, client: threading.Thread, outcome: dict, within: float = 240.0) -> dict:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not client.is_alive():
            pytest.fail(f"the client ended before pausing: {outcome}")
        status, runs = praetor.api("POST", "flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}})
        assert status == 200, runs
        if runs:
            return runs[0]
        time.sleep(1)
    pytest.fail(f"no run was paused within {within}s")


def test_paused_flow_resumes_with_valid_input_and_exchanges_messages(praetor):
    outcome: dict = {}

    def run_client():
        try:
            outcome["run"] = praetor.run(GATE, timeout=300)
        except BaseException as exc:  # pytest.fail inside the harness: reported by the test thread
            outcome["error"] = exc

    client = threading.Thread(target=run_client)
    client.start()
    try:
        run = _paused_run(praetor, client, outcome)
        keyset = run["state"]["state_details"]["run_input_keyset"]
        assert set(keyset) == {"description", "response", "schema"}
        # the flow stored the schema of the input it waits for
        status, stored = praetor.api("POST", f"flow_runs/{run['id']}/input/filter",
                                     {"prefix": keyset["schema"], "limit": 1})
        assert status == 200 and [s["key"] for s in stored] == [keyset["schema"]]

        status, refused = praetor.api("POST", f"flow_runs/{run['id']}/resume", {"run_input": {"approved": "nope"}})
        assert (status, refused["status"]) == (200, "REJECT")
        assert "Validation failed for field 'approved'" in refused["details"]["reason"]

        status, resumed = praetor.api("POST", f"flow_runs/{run['id']}/resume",
                                      {"run_input": {"approved": True, "note": "ship it"}})
        assert (status, resumed["status"], resumed["state"]["type"]) == (201, "ACCEPT", "RUNNING")
    finally:
        client.join(330)
    assert "error" not in outcome, outcome["error"]
    ran = outcome["run"]
    assert "APPROVED=True NOTE=ship it" in ran.stdout, ran.describe()
    assert "RECEIVED=hello" in ran.stdout, ran.describe()
    status, final = praetor.api("GET", f"flow_runs/{run['id']}")
    # Prefect 2.20 counts the resume's Running as a second entry into Running, and so do we
    assert (final["state_type"], final["run_count"]) == ("COMPLETED", 2)
