"""The flat validators of the task run create body (`task_run_create_body`), the flow run create body
(`flow_run_create_body`), the log batch (`log_batch`) and the flow run filter body (`flow_run_filter_body`)
answer exactly what their serializers answer, for large generated sets of bodies, valid and invalid: the same
validated data (same types, time zones, defaults and key order) or the same errors; and every valid body takes
the compiled path (apps/core/api/flat.py)."""

from __future__ import annotations

import json
import random
import uuid

import pytest
from rest_framework import serializers

from apps.engine.api.common import plain
from apps.engine.schemas.filters import FlowRunFilterBody, flow_run_filter_body
from apps.engine.schemas.logs import MAX_BATCH, MAX_MESSAGE_LENGTH, LogCreate, LogCreateBatch, log_batch
from apps.engine.schemas.runs import (
    FlowCreate,
    FlowRunCreate,
    TaskRunCreate,
    flow_create_body,
    flow_run_create_body,
    task_run_create_body,
)
from apps.engine.schemas.states import STATE_DETAIL_DEFAULTS
from tests.engine.runs_helpers import TRACES

ABSENT = object()
RUN_ID = "671fa773-7ea3-4e9c-b244-e0016e00ff51"
CLIENT_DETAILS = {key: None for key in STATE_DETAIL_DEFAULTS} | {"untrackable_result": False,
                                                                  "pause_reschedule": False}
CLIENT_STATE = {"type": "PENDING", "name": "Pending", "message": None, "state_details": CLIENT_DETAILS, "data": None}
CLIENT_POLICY = {"max_retries": 0, "retry_delay_seconds": 0, "retries": 0, "retry_delay": 0,
                 "retry_jitter_factor": None}


def _answer(validate, body) -> tuple[str, str]:
    """("ok" | "error", repr of the data or the error detail): repr tells UUID from str, 0 from 0.0, a time
    zone from another and one key order from another."""
    try:
        return "ok", repr(validate(body))
    except serializers.ValidationError as error:
        return "error", repr(error.detail)


def _by_serializer(serializer_class):
    def validate(body):
        serializer = serializer_class(data=body if body is not None else {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    return validate


def _agree(validator, serializer_class, bodies) -> int:
    """Assert both answers agree on every body and every valid body took the compiled path; return how many
    bodies were valid."""
    by_serializer = _by_serializer(serializer_class)
    valid = 0
    for body in bodies:
        got, expected = _answer(validator, body), _answer(by_serializer, body)
        assert got == expected, body
        if got[0] == "ok":
            valid += 1
            assert validator.fast(body) is not None, body
    return valid


def _pick_body(choices: dict, common: dict, pick) -> dict:
    body = {}
    for key in choices:
        value = pick(key)
        if key == "extra":
            if value is not ABSENT:
                body["surplus"] = value
        elif value is not ABSENT:
            body[key] = value
    return body


def _generated(choices: dict, common: dict, *, seed: int, n: int, heavy: frozenset = frozenset()) -> list:
    """Every choice once (the others at their common value), then `n` random combinations biased towards the
    common values; `heavy` choices (megabyte strings) only in the first part."""
    rng = random.Random(seed)
    bodies = [_pick_body(choices, common, lambda k, key=key, value=value: value if k == key else common[k])
              for key, values in choices.items() for value in values]
    light = {key: [v for v in values if not (isinstance(v, str) and len(v) > 10_000)]
             for key, values in choices.items()}
    for _ in range(n):
        bodies.append(_pick_body(choices, common,
                                 lambda k: rng.choice(light[k]) if rng.random() < 0.25 and k not in heavy
                                 else common[k]))
    return bodies


# --- task run create --------------------------------------------------------------------------------------
TASK_CHOICES = {
    "id": [ABSENT, None, str(uuid.uuid4()), uuid.uuid4().hex, str(uuid.uuid4()).upper(), f"{{{uuid.uuid4()}}}",
           f"urn:uuid:{uuid.uuid4()}", "bad", "", 12, True, []],
    "state": [
        ABSENT, None, CLIENT_STATE, {"type": "PENDING"}, {"type": "RUNNING", "name": "Running"},
        {"type": "SCHEDULED", "state_details": {"scheduled_time": "2024-01-01T00:00:00Z"}},
        {"type": "SCHEDULED", "state_details": {"scheduled_time": "2024-01-01T00:00:00"}},
        {"type": "SCHEDULED", "state_details": {"scheduled_time": "2024-01-01T02:00:00+02:00"}},
        {"type": "PENDING", "state_details": {"flow_run_id": "bad"}},
        {"type": "PENDING", "state_details": {"cache_key": "k" * 2001}},
        {"type": "PENDING", "state_details": {"unknown": 1, "run_input_keyset": {"a": "b"}}},
        {"type": "PENDING", "state_details": {"run_input_keyset": {"a": 1}}},
        {"type": "PENDING", "state_details": {"untrackable_result": "true", "retriable": None}},
        {"type": "PENDING", "data": {"a": [1, 2]}, "message": "  keep  "}, {"type": "PENDING", "data": [1, "x"]},
        {"type": "PENDING", "name": ""}, {"type": "PENDING", "name": " padded "}, {"type": "PENDING", "name": 5},
        {"type": "PENDING", "timestamp": "2024-05-01T10:00:00.123456+00:00", "id": str(uuid.uuid4())},
        {"type": "PENDING", "timestamp": "bad"}, {"type": "pending"}, {"type": "BOGUS"}, {"type": None}, {},
        {"type": "PENDING", "surplus": 1}, "PENDING", [], {**CLIENT_STATE, "state_details": "x"},
    ],
    "name": [ABSENT, None, "numbers-0", "", "  ", " padded ", "x" * 255, "x" * 256, " " + "x" * 255, "a/b", "a%b",
             "a<b", 5, 1.5, True, [], {}, "nul\x00", "\ud800", "ünïcödé-😀", "tab\tinside"],
    "flow_run_id": [RUN_ID, ABSENT, None, "bad", 0, 7, uuid.uuid4().hex, RUN_ID.upper(), "", [], 1.5],
    "task_key": ["numbers-0ac8511a", ABSENT, None, "", "  ", " k ", "k" * 255, "k" * 256, 3, 2.5, False, [],
                 "k\x00", "ключ"],
    "dynamic_key": ["0", ABSENT, None, "", 0, 1.5, "  ", "d" * 255, "d" * 256, True, {}],
    "cache_key": [None, ABSENT, "", "  spaced  ", "c" * 2000, "c" * 2001, 5, [], "c\x00"],
    "cache_expiration": [None, ABSENT, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T02:00:00+02:00",
                         "2024-01-01T00:00:00.5-05:30", "2024-01-01 00:00:00+00:00", "20240101T000000Z",
                         "2024-01-01", "bad", "", 0, 1.5, [], "0001-01-01T00:00:00+01:00",
                         "9999-12-31T23:59:59-01:00", "2024-02-30T00:00:00Z", "2024-01-01T24:00:00Z"],
    "task_version": [None, ABSENT, "e70c3b10274d05ca25d34b733857356c", "", 7, "v" * 256, " v "],
    "empirical_policy": [
        CLIENT_POLICY, ABSENT, None, {}, {"retries": 3, "retry_delay": [1, 2, 3]}, {"retry_delay": [1] * 50},
        {"retry_delay": [1] * 51}, {"retry_delay": [1, -2]}, {"retry_delay": [1, "2"]}, {"retry_delay": 1.5},
        {"retry_delay": True}, {"retry_delay": -1}, {"retry_delay": None, "retry_delay_seconds": 4},
        {"max_retries": 2, "retry_delay_seconds": 5}, {"max_retries": 2, "retries": 0}, {"retries": -1},
        {"retries": "2"}, {"retries": True}, {"retries": 2.0}, {"retries": 2.5}, {"max_retries": 10**30},
        {"retry_delay_seconds": 1.5}, {"retry_delay_seconds": "1.5"}, {"retry_delay_seconds": -0.1},
        {"retry_delay_seconds": None}, {"retry_jitter_factor": 0.5}, {"retry_jitter_factor": 1},
        {"retry_jitter_factor": -1}, {"unknown": 1}, "x", [], {**CLIENT_POLICY, "retries": 1},
    ],
    "tags": [[], ABSENT, None, ["a", "b"], ["a", 1], ["a", 1.5], "a", [None], [""], ["  "], ["t" * 255],
             ["t" * 256], [" pad "], [[]], [True], {"a": 1}, ["x\x00"], ["😀"]],
    "task_inputs": [
        {}, ABSENT, None, {"k": []}, {"xs": [{"input_type": "task_run", "id": RUN_ID}]},
        {"x": [{"input_type": "parameter", "name": "y"}, {"input_type": "constant", "type": "int"}]},
        {"x": None}, {"x": "str"}, {"x": [None]}, {"x": [1]}, {"x": [[]]}, {"x": [{}]}, {"x": {}}, [], "x",
        {"a": [], "b": [{"input_type": "task_run", "id": RUN_ID, "extra": [1, {"n": None}]}]}, {1: []},
    ],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, 1, None],
}
TASK_COMMON = {"id": ABSENT, "state": CLIENT_STATE, "name": "numbers-0", "flow_run_id": RUN_ID,
               "task_key": "numbers-0ac8511a", "dynamic_key": "0", "cache_key": None, "cache_expiration": None,
               "task_version": None, "empirical_policy": CLIENT_POLICY, "tags": [], "task_inputs": {"k": []},
               "extra": ABSENT}


def test_the_task_run_create_validator_agrees_with_the_serializer_on_every_generated_body():
    bodies = _generated(TASK_CHOICES, TASK_COMMON, seed=20261206, n=2500)
    bodies += [None, [], "text", 1, {}, {"task_key": "k"}, {"task_key": "k", "dynamic_key": "0"},
               {"dynamic_key": "0"}, {"task_key": "k", "dynamic_key": "0", "state": None, "empirical_policy": None,
                                      "tags": None, "task_inputs": None}]
    assert len(bodies) > 2_500
    valid = _agree(task_run_create_body, TaskRunCreate, bodies)
    assert 500 < valid < len(bodies) - 500


def _trace_requests(path_end: str) -> list:
    bodies = []
    for trace in sorted(TRACES.glob("*.jsonl")):
        for line in trace.read_text().splitlines():
            exchange = json.loads(line)
            if exchange["method"] == "POST" and exchange["path"].endswith(path_end) and exchange["status"] < 300:
                bodies.append(exchange["req"])
    return bodies


def test_every_prefect_client_task_run_body_takes_the_compiled_path():
    bodies = _trace_requests("/task_runs/")
    assert len(bodies) >= 12
    for body in bodies:
        assert task_run_create_body.fast(body) is not None, body
    assert _agree(task_run_create_body, TaskRunCreate, bodies) == len(bodies)


# --- flow run create ---------------------------------------------------------------------------------------
FLOW_POLICY = {"max_retries": 0, "retry_delay_seconds": 0, "retries": 0, "retry_delay": 0, "pause_keys": [],
               "resuming": False, "retry_type": None}
FLOW_CHOICES = {
    "state": TASK_CHOICES["state"],
    "name": TASK_CHOICES["name"],
    "flow_id": [RUN_ID, ABSENT, None, "bad", "", 7, [], uuid.uuid4().hex, RUN_ID.upper(), f"urn:uuid:{RUN_ID}"],
    "deployment_id": [None, ABSENT, str(uuid.uuid4()), "bad", 3, ""],
    "flow_version": [None, ABSENT, "e70c3b10274d05ca25d34b733857356c", "", "  ", " v ", "v" * 255, "v" * 256, 7,
                     True, "v\x00"],
    "parameters": [{}, ABSENT, None, {"n": 3}, {"a": {"b": [1, None, "x"]}, "c": 1.5}, {1: "x"}, [], "x", 5,
                   {"x": float("inf")}],
    "context": [{}, ABSENT, None, {"k": "v"}, [], "x"],
    "parent_task_run_id": [None, ABSENT, RUN_ID, "bad", 0, "", str(uuid.uuid4()).upper()],
    "infrastructure_document_id": [None, ABSENT, RUN_ID, "bad", []],
    "empirical_policy": [
        FLOW_POLICY, ABSENT, None, {}, {"retries": 3, "retry_delay": 5}, {"max_retries": 2, "retry_delay_seconds": 5},
        {"max_retries": 2, "retry_delay_seconds": 2.7}, {"retries": -1}, {"retries": "2"}, {"retries": True},
        {"retries": 2.0}, {"retry_delay": 1.5}, {"retry_delay_seconds": -1}, {"pause_keys": None},
        {"pause_keys": ["a", "b"]}, {"pause_keys": "a"}, {"pause_keys": [1]}, {"pause_keys": [""]},
        {"resuming": None}, {"resuming": "yes"}, {"resuming": 1}, {"retry_type": "in_process"},
        {"retry_type": "reschedule"}, {"retry_type": "bogus"}, {"retry_type": ""}, {"retry_type": None},
        {"unknown": 1}, "x", [], {**FLOW_POLICY, "retries": 1},
    ],
    "tags": TASK_CHOICES["tags"],
    "idempotency_key": [None, ABSENT, "scheduled 2024", "", "  ", "k" * 255, "k" * 256, 5, " k "],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, 1, None],
}
FLOW_COMMON = {"state": CLIENT_STATE, "name": "numbers-0", "flow_id": RUN_ID, "deployment_id": None,
               "flow_version": "e70c3b10274d05ca25d34b733857356c", "parameters": {"n": 3}, "context": {},
               "parent_task_run_id": None, "infrastructure_document_id": None, "empirical_policy": FLOW_POLICY,
               "tags": [], "idempotency_key": None, "extra": ABSENT}


def test_the_flow_run_create_validator_agrees_with_the_serializer_on_every_generated_body():
    bodies = _generated(FLOW_CHOICES, FLOW_COMMON, seed=20261209, n=2500)
    bodies += [None, [], "text", 1, {}, {"flow_id": RUN_ID}, {"flow_id": RUN_ID, "name": None, "state": None,
                                                            "empirical_policy": None, "tags": None}]
    assert len(bodies) > 2_500
    valid = _agree(flow_run_create_body, FlowRunCreate, bodies)
    assert 500 < valid < len(bodies) - 500


def test_every_prefect_client_flow_run_body_takes_the_compiled_path():
    bodies = [body for body in _trace_requests("/flow_runs/") if isinstance(body, dict)]
    assert bodies
    for body in bodies:
        assert flow_run_create_body.fast(body) is not None, body
    assert _agree(flow_run_create_body, FlowRunCreate, bodies) == len(bodies)


# --- flow create (the client's create-or-read of its flow, before every flow run) ---------------------------
FLOW_CREATE_CHOICES = {
    "name": ["numbers", ABSENT, None, "", "  ", " pad ", "n" * 255, "n" * 256, " " + "n" * 255, "a/b", "a%b", "a&b",
             "a>b", "a<b", 3, 1.5, True, [], {}, "nul\x00", "\ud800", "ünïcödé-😀", "tab\tinside"],
    "tags": TASK_CHOICES["tags"],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, 1, None],
}
FLOW_CREATE_COMMON = {"name": "numbers", "tags": [], "extra": ABSENT}


def test_the_flow_create_validator_agrees_with_the_serializer_on_every_generated_body():
    bodies = _generated(FLOW_CREATE_CHOICES, FLOW_CREATE_COMMON, seed=20261210, n=600)
    bodies += [None, [], "text", 1, {}, {"tags": []}, {"name": "x", "tags": None}, {"name": "x", "labels": {}}]
    valid = _agree(flow_create_body, FlowCreate, bodies)
    assert 100 < valid < len(bodies) - 100


def test_every_prefect_client_flow_body_takes_the_compiled_path():
    bodies = _trace_requests("/flows/")
    assert bodies
    assert _agree(flow_create_body, FlowCreate, bodies) == len(bodies)


# --- log batches --------------------------------------------------------------------------------------------
LOG_CHOICES = {
    "name": ["prefect.flow_runs", ABSENT, None, "", "  ", " pad ", "n" * 255, "n" * 256, 3, 1.5, True, [],
             "nul\x00", "\udfff", "ünï"],
    "level": [20, ABSENT, None, 0, -32768, 32767, 32768, -32769, "20", " 20 ", "20.0", 20.0, 20.5, True, [],
              10**30, "x" * 1001],
    "message": ["Finished in state Completed()", ABSENT, None, "", "  ", " spaced ", "multi\nline\n",
                "ünï 😀 \u2028", "m" * MAX_MESSAGE_LENGTH, "m" * (MAX_MESSAGE_LENGTH + 1),
                " " * MAX_MESSAGE_LENGTH + "é", "m" * (MAX_MESSAGE_LENGTH - 1) + "\ud800", "\ud800", "nul\x00", 5,
                1.5, False, [], {}],
    "timestamp": ["2026-11-22T16:44:01.151393+00:00", ABSENT, None, "2026-11-22T16:44:01Z",
                  "2026-11-22T16:44:01", "2026-11-22T18:44:01.5+02:00", "2026-11-22", "bad", "", 0, [],
                  "0001-01-01T00:00:00+00:30"],
    "flow_run_id": [RUN_ID, ABSENT, None, "bad", uuid.uuid4().hex, 5, ""],
    "task_run_id": [None, ABSENT, RUN_ID, "bad", str(uuid.uuid4()).upper(), []],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, "surplus", None],
}
LOG_COMMON = {"name": "prefect.flow_runs", "level": 20, "message": "Finished in state Completed()",
              "timestamp": "2026-11-22T16:44:01.151393+00:00", "flow_run_id": RUN_ID, "task_run_id": None,
              "extra": ABSENT}


def test_the_log_validator_agrees_with_the_serializer_on_every_generated_log():
    logs = _generated(LOG_CHOICES, LOG_COMMON, seed=20261207, n=1500)
    valid = _agree(log_batch, LogCreateBatch, [[log] for log in logs])
    assert 300 < valid < len(logs) - 300
    # Each log alone as LogCreate too (the batch's child), and odd items in a batch.
    _agree(log_batch, LogCreateBatch, [None, {}, "x", 1, [None], [[]], ["x"], [1], [{}]])


def test_log_batches_of_every_size_agree_up_to_the_limit_and_beyond():
    rng = random.Random(7)
    logs = _generated(LOG_CHOICES, LOG_COMMON, seed=20261208, n=600, heavy=frozenset({"message"}))
    valid_logs = [log for log in logs if _answer(_by_serializer(LogCreate), log)[0] == "ok"]
    invalid_logs = [log for log in logs if _answer(_by_serializer(LogCreate), log)[0] == "error"]
    batches = [[]]
    for size in (1, 2, 3, 10, 50, 200, 1000):
        batches.append(rng.sample(valid_logs, min(size, len(valid_logs))))  # valid
        mixed = [rng.choice(valid_logs) for _ in range(size)]
        mixed[rng.randrange(size)] = rng.choice(invalid_logs)
        batches.append(mixed)  # one bad log: the serializer's per-item error list
    batches.append([LOG_COMMON_LOG] * MAX_BATCH)
    batches.append([LOG_COMMON_LOG] * (MAX_BATCH + 1))  # over the limit: the serializer's error
    assert _agree(log_batch, LogCreateBatch, batches) == 1 + 7 + 1


FLOW_COMMON_BODY = {key: value for key, value in FLOW_COMMON.items() if value is not ABSENT}
LOG_COMMON_LOG = {key: value for key, value in LOG_COMMON.items() if key != "extra"}


def test_every_prefect_client_log_batch_takes_the_compiled_path():
    batches = [body if isinstance(body, list) else None for body in _trace_requests("/logs/")]
    batches = [batch for batch in batches if batch is not None]  # the trace cut long bodies (kept as text)
    assert batches
    assert _agree(log_batch, LogCreateBatch, batches) == len(batches)


@pytest.mark.parametrize("validator", [task_run_create_body, flow_run_create_body, log_batch, flow_run_filter_body])
def test_a_compiled_check_is_built_once_and_shared(validator):
    assert validator.compiled() is validator.compiled()


def test_datetimes_follow_the_time_zone_active_for_each_body():
    from django.utils import timezone

    batch = [LOG_COMMON_LOG, {**LOG_COMMON_LOG, "timestamp": "2026-11-22T16:44:01Z"}]
    body = {**{k: v for k, v in TASK_COMMON.items() if v is not ABSENT}, "cache_expiration": "2024-01-01T00:00:00Z"}
    for zone in ("Europe/Paris", "America/Sao_Paulo", "UTC"):
        with timezone.override(zone):
            assert _agree(log_batch, LogCreateBatch, [batch]) == 1
            assert _agree(task_run_create_body, TaskRunCreate, [body]) == 1
            assert _agree(flow_run_create_body, FlowRunCreate,
                          [{**FLOW_COMMON_BODY, "state": {"type": "SCHEDULED", "state_details": {
                              "scheduled_time": "2024-01-01T00:00:00Z"}}}]) == 1
            assert str(log_batch(batch)[0]["timestamp"].tzinfo) == zone


def test_a_serializer_the_compiler_cannot_reproduce_is_left_to_the_serializer():
    from apps.core.api.flat import FlatValidator
    from apps.core.api.serializers import StrictInputSerializer

    class Odd(StrictInputSerializer):
        price = serializers.DecimalField(max_digits=5, decimal_places=2)  # its own rules for empty values

    validator = FlatValidator(Odd)
    assert validator.fast({"price": "1.50"}) is None
    assert repr(validator({"price": "1.50"})) == repr(_by_serializer(Odd)({"price": "1.50"}))
    with pytest.raises(serializers.ValidationError):
        validator({"price": "x"})


# --- flow run filter ----------------------------------------------------------------------------------------
STAMP = "2024-01-01T00:00:00Z"
FLOW_RUN_FILTER_CHOICES = {
    "operator": [ABSENT, "and_", "or_", "AND", "", None, 1],
    "id": [ABSENT, None, {"any_": [RUN_ID]}, {"not_any_": []}, {"any_": None, "not_any_": [RUN_ID]},
           {"any_": [RUN_ID.upper(), uuid.uuid4().hex, f"urn:uuid:{RUN_ID}"]}, {"any_": ["bad"]}, {"any_": RUN_ID},
           {"any_": [None]}, {"any_": [1]}, {"any_": []}, {}, {"surplus": 1}, "x", []],
    "name": [ABSENT, None, {"any_": ["numbers-0"]}, {"like_": "num"}, {"like_": ""}, {"like_": " pad "},
             {"like_": None}, {"like_": 5}, {"any_": [""]}, {"any_": ["x\x00"]}, {"any_": "n"}],
    "tags": [ABSENT, None, {"all_": ["a", "b"]}, {"all_": []}, {"operator": "or_", "all_": ["a"], "is_null_": False},
             {"is_null_": "true"}, {"is_null_": 1}, {"is_null_": None}, {"is_null_": "maybe"}, {"all_": [" "]},
             {"all_": [None]}, {"all_": [1.5]}, {"operator": "xor"}],
    "deployment_id": [ABSENT, None, {"any_": [RUN_ID]}, {"is_null_": True}, {"operator": "or_", "any_": [RUN_ID],
                                                                            "is_null_": True}, {"any_": ["x"]}],
    "work_queue_name": [ABSENT, None, {"any_": ["default"]}, {"is_null_": False}, {"any_": [[]]}],
    "state": [ABSENT, None, {"type": {"any_": ["CANCELLED"]}, "name": {"any_": ["Cancelling"]}},
              {"type": {"any_": ["RUNNING", "PENDING", "SCHEDULED"]}}, {"type": {"any_": ["running"]}},
              {"type": {"any_": ["BOGUS"]}}, {"type": {"any_": [""]}}, {"type": {"any_": "RUNNING"}},
              {"operator": "or_", "type": None, "name": {"any_": ["Late"]}}, {"type": {}}, {"name": None},
              {"type": {"any_": None}}, {"type": {"not_any_": ["RUNNING"]}}, {"name": {"any_": [1]}}, "RUNNING"],
    "flow_version": [ABSENT, None, {"any_": ["v1"]}, {"any_": [2]}],
    "start_time": [ABSENT, None, {"before_": STAMP}, {"after_": "2024-01-01T00:00:00"}, {"is_null_": False},
                   {"before_": "2024-01-01T02:00:00+02:00", "after_": "2023-01-01T00:00:00.5-05:30"},
                   {"before_": "bad"}, {"before_": None}, {"after_": 5}, {"after_": "2024-02-30T00:00:00Z"}],
    "expected_start_time": [ABSENT, None, {"after_": STAMP}, {"before_": ""}, {"is_null_": True}],
    "next_scheduled_start_time": [ABSENT, None, {"before_": STAMP}, {"after_": "2024-01-01"}],
    "parent_flow_run_id": [ABSENT, None, {"any_": [RUN_ID]}, {"operator": "or_"}, {"is_null_": True}],
    "parent_task_run_id": [ABSENT, None, {"any_": [RUN_ID]}, {"is_null_": True}, {"is_null_": False, "any_": None},
                           {"any_": [RUN_ID, "x"]}],
    "idempotency_key": [ABSENT, None, {"any_": ["k"]}, {"not_any_": ["k", ""]}, {"not_any_": "k"}],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, ABSENT, 1, None],
}
FLOW_RUN_FILTER_COMMON = {key: ABSENT for key in FLOW_RUN_FILTER_CHOICES} | {"id": {"any_": [RUN_ID]}}
FILTER_BODY_CHOICES = {
    "flows": [ABSENT, None, {"id": {"any_": [RUN_ID]}}, {"name": {"like_": "x"}, "tags": {"all_": ["a"]}},
              {"deployment": {"is_null_": False}, "operator": "or_"}, {"id": {"any_": ["bad"]}}, {"surplus": 1},
              {"id": None, "name": None, "tags": None}, "x", [], {}],
    "flow_runs": [ABSENT, None, "x", [], {}],  # and the generated flow run filters, below
    "task_runs": [ABSENT, None, {"id": {"any_": [RUN_ID]}}, {"subflow_runs": {"exists_": True}},
                  {"flow_run_id": {"is_null_": False, "any_": [RUN_ID]}}, {"state": {"type": {"any_": ["COMPLETED"]}}},
                  {"start_time": {"is_null_": True}}, {"bogus": 1}, {"subflow_runs": {"exists_": "no"}}],
    "deployments": [ABSENT, None, {"id": {"any_": [RUN_ID]}}, {"paused": {"eq_": False}},
                    {"is_schedule_active": {"eq_": None}}, {"work_queue_name": {"any_": ["q"]}},
                    {"name": {"any_": [1]}}, {"paused": {"eq_": "x"}}],
    "work_pools": [ABSENT, None, {"id": None, "name": {"any_": ["default-agent-pool"]}, "type": None},
                   {"type": {"any_": ["process"]}}, {"name": "x"}, {"id": {"any_": [RUN_ID]}}],
    "work_pool_queues": [ABSENT, None, {"id": None, "name": {"any_": ["default"], "startswith_": None}},
                         {"name": {"startswith_": ["de"]}}, {"name": {"startswith_": "de"}}, {"name": {"like_": "d"}}],
    "sort": [ABSENT, None, "ID_DESC", "START_TIME_DESC", "EXPECTED_START_TIME_DESC", "NAME_ASC", "END_TIME_DESC",
             "bogus", "", " ID_DESC", "id_desc", 1, []],
    "limit": [ABSENT, None, 10, 0, 15, 200, 201, -1, "10", " 10 ", 10.0, 10.5, True, False, 10**30, "x", []],
    "offset": [ABSENT, None, 0, 5, 10**12, -1, "3", 2.0, 2.5, True, "", {}],
    "extra": [ABSENT, ABSENT, ABSENT, ABSENT, 1, None, {"surplus": 1}],
}
FILTER_BODY_COMMON = {key: ABSENT for key in FILTER_BODY_CHOICES} | {"flow_runs": {"id": {"any_": [RUN_ID]}}}
BENCH_FILTER_BODIES = [  # bench/hot_requests.py --filter and bench/flows.py
    {"flow_runs": {"id": {"any_": [RUN_ID]}}},
    {"flows": {"id": {"any_": [RUN_ID]}}, "sort": "START_TIME_DESC", "limit": 10},
    {"flow_runs": {"id": {"any_": [RUN_ID]}}, "limit": 10},
]


def _flow_run_filter_bodies() -> list:
    flow_run_filters = _generated(FLOW_RUN_FILTER_CHOICES, FLOW_RUN_FILTER_COMMON, seed=20261210, n=300)
    choices = {**FILTER_BODY_CHOICES, "flow_runs": FILTER_BODY_CHOICES["flow_runs"] + flow_run_filters}
    bodies = _generated(choices, FILTER_BODY_COMMON, seed=20261211, n=2500)
    return bodies + BENCH_FILTER_BODIES + [None, [], "text", 1, {}, {"limit": None, "sort": None, "flows": None}]


def test_the_flow_run_filter_validator_agrees_with_the_serializer_on_every_generated_body():
    bodies = _flow_run_filter_bodies()
    assert len(bodies) > 3_000
    valid = _agree(flow_run_filter_body, FlowRunFilterBody, bodies)
    assert 800 < valid < len(bodies) - 800
    # And after plain(), what the view hands to flow_run_page.
    for body in bodies[:600]:
        if _answer(flow_run_filter_body, body)[0] == "ok":
            assert repr(plain(flow_run_filter_body(body))) == repr(plain(_by_serializer(FlowRunFilterBody)(body)))


def test_every_prefect_client_and_bench_flow_run_filter_takes_the_compiled_path():
    bodies = _trace_requests("/flow_runs/filter")
    assert len(bodies) >= 3
    for body in bodies + BENCH_FILTER_BODIES:
        assert flow_run_filter_body.fast(body) is not None, body
    assert _agree(flow_run_filter_body, FlowRunFilterBody, bodies + BENCH_FILTER_BODIES) == len(bodies) + 3


def test_top_level_nulls_are_absent_but_nested_nulls_stay():
    body = {"flows": None, "flow_runs": {"id": None, "tags": {"is_null_": None}}, "sort": None, "limit": None,
            "offset": None}
    assert flow_run_filter_body.fast(body) == {"flow_runs": {"operator": "and_", "id": None,
                                                             "tags": {"operator": "and_", "is_null_": None}},
                                               "sort": "ID_DESC", "offset": 0}
    assert _agree(flow_run_filter_body, FlowRunFilterBody, [body]) == 1


def test_filter_datetimes_follow_the_time_zone_active_for_each_body():
    from django.utils import timezone

    body = {"flow_runs": {"start_time": {"before_": STAMP},
                          "expected_start_time": {"after_": "2024-01-01T02:00:00+02:00"}}}
    for zone in ("Europe/Paris", "America/Sao_Paulo", "UTC"):
        with timezone.override(zone):
            assert _agree(flow_run_filter_body, FlowRunFilterBody, [body]) == 1
            assert str(flow_run_filter_body(body)["flow_runs"]["start_time"]["before_"].tzinfo) == zone
