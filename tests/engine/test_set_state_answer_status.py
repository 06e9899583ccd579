"""apps/engine/services/run_states.py's `SetStateResult.as_json`: a Decision status as its plain str (the answer's
encoder then writes it without calling back into Python), the same bytes as the member gave; any other status as
it is (docs/performance.md, "Seventeenth step: ... (branch stmt3)")."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from apps.core.api.renderers import render_json
from apps.engine.models.runs import Decision
from apps.engine.services.run_states import SetStateResult


class _State:
    def as_json(self):
        return {"type": "RUNNING", "name": "Running"}


@pytest.mark.parametrize("decision", list(Decision))
@pytest.mark.parametrize("state", [None, _State()])
def test_a_decision_status_is_its_plain_str_with_the_same_bytes(decision, state):
    details = {"type": "accept_details"}
    context = SimpleNamespace(validated=state, status=decision, details_json=lambda: details)
    answer = SetStateResult(context=context).as_json()
    assert type(answer["status"]) is str and answer["status"] == decision.value == str.__str__(decision)
    as_member = {"state": state.as_json() if state else None, "status": decision, "details": details}
    assert list(answer) == ["state", "status", "details"] and answer == as_member
    assert render_json(answer) == render_json(as_member)
    assert json.dumps(answer) == json.dumps(as_member)


@pytest.mark.parametrize("status", ["ACCEPT", None])
def test_another_status_is_left_as_it_is(status):
    context = SimpleNamespace(validated=None, status=status, details_json=lambda: {})
    assert SetStateResult(context=context).as_json()["status"] is status
