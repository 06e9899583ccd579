"""The set_state body's fast validator (`set_state_body`) answers exactly what the `SetStateBody` serializer
answers, for a large generated set of bodies, valid and invalid: the same validated data or the same errors."""

from __future__ import annotations

import random
import uuid

import pytest
from rest_framework import serializers

from apps.engine.schemas import states
from apps.engine.schemas.states import STATE_TYPES, SetStateBody, set_state_body

ABSENT = object()
RUN_ID = str(uuid.UUID(int=7))
CLIENT_DETAILS = {key: None for key in states.STATE_DETAIL_DEFAULTS} | {
    "untrackable_result": False, "pause_reschedule": False, "flow_run_id": RUN_ID, "task_run_id": RUN_ID}

CHOICES = {
    "force": [ABSENT, True, False, "true", 1, 0, None, "x", []],
    "type": [*STATE_TYPES, "running", "BOGUS", None, 1, ABSENT, ""],
    "name": [ABSENT, None, "", "  ", "Running", " padded ", "x" * 255, "x" * 256, 5, True, "a\x00b", "\ud800"],
    "message": [ABSENT, None, "", "multi\nline", "nul\x00", 3, [], "  keep  ", {"a": 1}],
    "data": [ABSENT, None, {}, {"a": [1, 2]}, "str", 1.5, [1], True, 10**19, float("inf"), float("-inf"),
             float("nan"), {"type": "unpersisted", "artifact_type": "result", "artifact_description": "d"},
             {"k": None, "n": 1.5, "b": True, "i": 3, "s": "", "big": 10**19}, {"a": float("inf")},
             {"a": float("nan")}, {1: "a"}, {("t",): 1}, {"a": {"b": 1}}, {"a": []}, 10**5000,
             {"a": 10**5000}],  # 1e400 decodes to inf; an int of 4,300 digits fails json.dumps
    "state_details": [
        ABSENT, None, {}, CLIENT_DETAILS, {"flow_run_id": RUN_ID}, {"flow_run_id": "bad"},
        {"flow_run_id": uuid.UUID(int=9).hex}, {"scheduled_time": "2024-01-01T00:00:00Z"},
        {"scheduled_time": "2024-01-01T00:00:00"}, {"scheduled_time": "2024-01-01T02:00:00+02:00"},
        {"scheduled_time": "bad"}, {"scheduled_time": ""}, {"untrackable_result": None},
        {"untrackable_result": "true"}, {"run_input_keyset": {"a": "b"}}, {"run_input_keyset": {"a": 1}},
        {"run_input_keyset": ["a"]}, {"unknown": 1}, {"cache_key": ""}, {"cache_key": "k" * 2001}, "notadict",
        {"retriable": None, "refresh_cache": True}, {"pause_timeout": 1_700_000_000}, [],
        {"pause_key": " k ", "transition_id": str(uuid.uuid4()), "task_parameters_id": None},
    ],
    "timestamp": [ABSENT, None, "2024-05-01T10:00:00.123456+00:00", "bad", 0],
    "id": [ABSENT, None, str(uuid.uuid4()), "bad", uuid.uuid4().hex, 12],
    "state_extra": [ABSENT, ABSENT, ABSENT, "surplus"],
    "body_extra": [ABSENT, ABSENT, ABSENT, "surplus"],
}


def _body(pick) -> object:
    state = {}
    for key in ("type", "name", "message", "data", "state_details", "timestamp", "id"):
        value = pick(key)
        if value is not ABSENT:
            state[key] = value
    if pick("state_extra") is not ABSENT:
        state["surplus"] = 1
    body = {"state": state}
    force = pick("force")
    if force is not ABSENT:
        body["force"] = force
    if pick("body_extra") is not ABSENT:
        body["surplus"] = True
    return body


def _bodies() -> list:
    rng = random.Random(20240501)
    bodies = []
    # Every choice at least once, the others at their most common value.
    common = {"force": False, "type": "RUNNING", "name": None, "message": None, "data": None,
              "state_details": {}, "timestamp": ABSENT, "id": ABSENT, "state_extra": ABSENT, "body_extra": ABSENT}
    for key, values in CHOICES.items():
        for value in values:
            bodies.append(_body(lambda k, key=key, value=value: value if k == key else common[k]))
    # Random combinations, biased towards valid values so both paths see many bodies.
    for _ in range(1500):
        bodies.append(_body(lambda k: rng.choice(CHOICES[k]) if rng.random() < 0.3 else common[k]))
    bodies += [None, [], "text", 1, {}, {"state": None}, {"state": []}, {"state": "RUNNING"}, {"force": True}]
    return bodies


def _answer(validate, body):
    try:
        return "ok", validate(body)
    except serializers.ValidationError as error:
        return "error", error.detail


def _serializer(body):
    serializer = SetStateBody(data=body if body is not None else {})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def test_the_fast_validator_agrees_with_the_serializer_on_every_generated_body():
    bodies = _bodies()
    assert len(bodies) > 1_000
    fast = 0
    for body in bodies:
        got, expected = _answer(set_state_body, body), _answer(_serializer, body)
        # repr: a UUID is not its str, 0 not 0.0, one time zone or key order not another
        assert repr(got) == repr(expected), body
        fast += set_state_body.fast(body) is not None
    valid = sum(_answer(_serializer, b)[0] == "ok" for b in bodies)
    assert 300 < valid < len(bodies) - 300 and fast == valid  # every valid body took the fast path


@pytest.mark.parametrize("state_type", STATE_TYPES)
def test_a_prefect_client_body_takes_the_fast_path(state_type):
    body = {"state": {"type": state_type, "name": None, "message": None, "data": None,
                      "state_details": CLIENT_DETAILS}, "force": False}
    assert repr(set_state_body.fast(body)) == repr(_serializer(body))
