"""The real prefect 2.20 client's parameters keep their nulls: a flow called with `None` values, nested or
not, is stored and read back as called (tests/engine/test_json_nulls.py has the API-level cases)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

SCRIPT = r"""
import json
from prefect import flow


@flow(name="nulls")
def nulls(cfg: dict, n=None, items: list = None):
    return "done"


state = nulls({"a": None, "b": {"c": None}}, n=None, items=[None, {"d": None}], return_state=True)
print("RESULT", json.dumps({"id": str(state.state_details.flow_run_id), "type": state.type.value}))
"""


def test_the_clients_parameters_keep_their_nulls(praetor):
    result = praetor.run(SCRIPT, check=True)
    line = next(line for line in result.output.splitlines() if line.startswith("RESULT "))
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["type"] == "COMPLETED"
    status, run = praetor.api("GET", f"flow_runs/{outcome['id']}")
    assert status == 200
    assert run["parameters"] == {"cfg": {"a": None, "b": {"c": None}}, "n": None, "items": [None, {"d": None}]}
