"""The real client waits for typed input: `pause_flow_run(wait_for_input=...)` resumed through the API with
input (refused first when it fails the schema the flow stored), then `send_input`/`receive_input`."""

from __future__ import annotations

import pytest

from tests.compat.helpers import approval_gate, client_paused

pytestmark = pytest.mark.slow

GATE = approval_gate("""
    print(f"APPROVED={answer.approved} NOTE={answer.note}", flush=True)
    me = get_run_context().flow_run.id
    send_input("hello", flow_run_id=me)
    for message in receive_input(str, timeout=60, poll_interval=1, flow_run_id=me):
        print(f"RECEIVED={message}", flush=True)
        break
    return "done"
""")


def test_paused_flow_resumes_with_valid_input_and_exchanges_messages(praetor):
    with client_paused(praetor, GATE) as (run, outcome):
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
    ran = outcome["run"]
    assert "APPROVED=True NOTE=ship it" in ran.stdout, ran.describe()
    assert "RECEIVED=hello" in ran.stdout, ran.describe()
    status, final = praetor.api("GET", f"flow_runs/{run['id']}")
    # Prefect 2.20 counts the resume's Running as a second entry into Running, and so do we
    assert (final["state_type"], final["run_count"]) == ("COMPLETED", 2)
