"""Input and output shapes of flows, flow runs and task runs (Prefect 2.20: FlowCreate, FlowUpdate, Flow,
FlowRunCreate, FlowRunUpdate, FlowRunResponse, FlowRunPolicy, TaskRunCreate, TaskRunUpdate, TaskRun,
TaskRunPolicy).

Responses on the hot path are rendered by plain functions (`flow_json`, `flow_run_json`,
`task_run_json`); the output serializers document the same shapes for the OpenAPI schema.
"""

from __future__ import annotations

import datetime
import operator
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core import clock
from apps.core.api.flat import FlatValidator
from apps.core.api.serializers import StrictInputSerializer
from apps.engine.models.runs import TERMINAL_STATE_TYPES, StateType
from apps.engine.schemas.states import State, StateCreate, datetime_text, iso, same_instant_text, state_json, uuid_text

BANNED_NAME_CHARACTERS = ("/", "%", "&", ">", "<")


# One search rather than a generator step per banned character (every flow, flow run and task run name)
_BANNED_NAME = re.compile("[" + re.escape("".join(BANNED_NAME_CHARACTERS)) + "]")


def _name_ok(value: str) -> str:
    if _BANNED_NAME.search(value):
        raise serializers.ValidationError(
            f"Name {value!r} contains an invalid character. Must not contain any of: {list(BANNED_NAME_CHARACTERS)}.")
    return value


def _tags():
    return serializers.ListField(child=serializers.CharField(max_length=255), required=False, default=list)


# --- flows -------------------------------------------------------------------------------------------
class FlowCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=255, validators=[_name_ok])
    tags = _tags()


# `flow_create_body(data)`: a flow create body validated as FlowCreate validates it (apps/core/api/flat.py); the
# client sends one before every flow run.
flow_create_body = FlatValidator(FlowCreate)


class FlowUpdate(StrictInputSerializer):
    tags = serializers.ListField(child=serializers.CharField(max_length=255), required=False)


class Flow(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())


def flow_json(flow) -> dict:
    return {"id": str(flow.id), "created": iso(flow.created), "updated": iso(flow.updated), "name": flow.name,
            "tags": flow.tags}


# --- run policies --------------------------------------------------------------------------------------
class FlowRunPolicy(serializers.Serializer):
    """How a flow run retries; unknown keys are ignored (Prefect's model ignores extras)."""

    max_retries = serializers.IntegerField(required=False, default=0, min_value=0)
    retry_delay_seconds = serializers.FloatField(required=False, default=0, min_value=0)
    retries = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    retry_delay = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    pause_keys = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True, default=list)
    resuming = serializers.BooleanField(required=False, allow_null=True, default=False)
    retry_type = serializers.ChoiceField(choices=["in_process", "reschedule"], required=False, allow_null=True,
                                         default=None)

    def validate(self, attrs):
        # The deprecated fields stand in for the new ones when only they are given (Prefect does the same).
        if not attrs.get("retries") and attrs.get("max_retries"):
            attrs["retries"] = attrs["max_retries"]
        if not attrs.get("retry_delay") and attrs.get("retry_delay_seconds"):
            attrs["retry_delay"] = int(attrs["retry_delay_seconds"])
        attrs["pause_keys"] = list(attrs.get("pause_keys") or [])
        return attrs


FLOW_RUN_POLICY_DEFAULTS = {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": None, "retry_delay": None,
                            "pause_keys": [], "resuming": False, "retry_type": None}


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "array", "items": {"type": "number"}, "maxItems": 50}],
                     "nullable": True})
class RetryDelayField(serializers.Field):
    """An integer number of seconds, or a list of them (one per attempt, at most 50)."""

    def to_internal_value(self, data):
        if data is None:
            return None
        if isinstance(data, list):
            if len(data) > 50:
                raise serializers.ValidationError("Can not configure more than 50 retry delays per task.")
            return [self._seconds(item) for item in data]
        return self._seconds(data)

    @staticmethod
    def _seconds(value):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise serializers.ValidationError("A retry delay is a non-negative number of seconds.")
        return value

    def to_representation(self, value):
        return value


class TaskRunPolicy(serializers.Serializer):
    max_retries = serializers.IntegerField(required=False, default=0, min_value=0)
    retry_delay_seconds = serializers.FloatField(required=False, default=0, min_value=0)
    retries = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    retry_delay = RetryDelayField(required=False, allow_null=True, default=None)
    retry_jitter_factor = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0)

    def validate(self, attrs):
        if not attrs.get("retries") and attrs.get("max_retries"):
            attrs["retries"] = attrs["max_retries"]
        if not attrs.get("retry_delay") and attrs.get("retry_delay_seconds"):
            attrs["retry_delay"] = attrs["retry_delay_seconds"]
        return attrs


TASK_RUN_POLICY_DEFAULTS = {"max_retries": 0, "retry_delay_seconds": 0.0, "retries": None, "retry_delay": None,
                            "retry_jitter_factor": None}


# --- flow runs -------------------------------------------------------------------------------------------
class FlowRunCreate(StrictInputSerializer):
    state = StateCreate(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, max_length=255, validators=[_name_ok])
    flow_id = serializers.UUIDField()
    deployment_id = serializers.UUIDField(required=False, allow_null=True)
    flow_version = serializers.CharField(required=False, allow_null=True, max_length=255)
    parameters = serializers.DictField(required=False, default=dict)
    context = serializers.DictField(required=False, default=dict)
    parent_task_run_id = serializers.UUIDField(required=False, allow_null=True)
    infrastructure_document_id = serializers.UUIDField(required=False, allow_null=True)
    empirical_policy = FlowRunPolicy(required=False, allow_null=True)
    tags = _tags()
    idempotency_key = serializers.CharField(required=False, allow_null=True, max_length=255)


# `flow_run_create_body(data)`: a flow run create body validated as FlowRunCreate validates it, by compiled
# field checks for the usual bodies and by the serializer for anything else (apps/core/api/flat.py).
flow_run_create_body = FlatValidator(FlowRunCreate)


class FlowRunUpdate(StrictInputSerializer):
    name = serializers.CharField(required=False, allow_null=True, max_length=255, validators=[_name_ok])
    flow_version = serializers.CharField(required=False, allow_null=True, max_length=255)
    parameters = serializers.DictField(required=False)
    empirical_policy = FlowRunPolicy(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=255), required=False)
    infrastructure_pid = serializers.CharField(required=False, allow_null=True, max_length=255)
    job_variables = serializers.DictField(required=False, allow_null=True)


class FlowRunResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    flow_id = serializers.UUIDField()
    state_id = serializers.UUIDField(allow_null=True)
    deployment_id = serializers.UUIDField(allow_null=True)
    deployment_version = serializers.CharField(allow_null=True)
    work_queue_id = serializers.UUIDField(allow_null=True)
    work_queue_name = serializers.CharField(allow_null=True)
    flow_version = serializers.CharField(allow_null=True)
    parameters = serializers.DictField()
    idempotency_key = serializers.CharField(allow_null=True)
    context = serializers.DictField()
    empirical_policy = FlowRunPolicy()
    tags = serializers.ListField(child=serializers.CharField())
    parent_task_run_id = serializers.UUIDField(allow_null=True)
    state_type = serializers.ChoiceField(choices=[t.value for t in StateType], allow_null=True)
    state_name = serializers.CharField(allow_null=True)
    run_count = serializers.IntegerField()
    expected_start_time = serializers.DateTimeField(allow_null=True)
    next_scheduled_start_time = serializers.DateTimeField(allow_null=True)
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    total_run_time = serializers.FloatField()
    estimated_run_time = serializers.FloatField()
    estimated_start_time_delta = serializers.FloatField()
    auto_scheduled = serializers.BooleanField()
    infrastructure_document_id = serializers.UUIDField(allow_null=True)
    infrastructure_pid = serializers.CharField(allow_null=True)
    created_by = serializers.DictField(allow_null=True)
    work_pool_id = serializers.UUIDField(allow_null=True)
    work_pool_name = serializers.CharField(allow_null=True)
    state = State(allow_null=True)
    job_variables = serializers.DictField(allow_null=True)


def _s(value) -> str | None:
    return str(value) if value is not None else None


def estimates(run, now: datetime.datetime | None) -> tuple[float, float]:
    """Prefect's estimated_run_time (run time including the current Running stretch) and
    estimated_start_time_delta (lateness), in seconds. `now` None: `timezone.now()` (read by apps/core/clock.py's
    `now`), read only when a Running or not yet started run needs it (a finished run's figures do not depend on
    it)."""
    return _estimates(run.total_run_time, run.state_type, run.state_timestamp, run.expected_start_time,
                      run.start_time, now)


def _estimates(run_time, state_type, state_timestamp, expected, start, now) -> tuple[float, float]:
    """`estimates` of a run's fields."""
    if state_type == StateType.RUNNING and state_timestamp:
        now = now or clock.now()
        run_time += now - state_timestamp
    delta = datetime.timedelta(0)
    if start and expected and start > expected:
        delta = start - expected
    elif start is None and expected and state_type not in TERMINAL_STATE_TYPES:
        now = now or clock.now()
        if expected < now:
            delta = now - expected
    return run_time.total_seconds(), delta.total_seconds()


def flow_run_json(run, *, now: datetime.datetime | None = None) -> dict:
    """A FlowRun (with `state` and `work_queue__work_pool` loaded) → Prefect's FlowRunResponse JSON. `iso` and
    `_s` written out inline, as in `task_run_json`."""
    estimated_run_time, lateness = estimates(run, now)
    work_queue_id, state_id = run.work_queue_id, run.state_id
    queue = run.work_queue if work_queue_id else None
    pool_id = queue.work_pool_id if queue is not None else None
    deployment_id, parent_task_run_id, document_id = (run.deployment_id, run.parent_task_run_id,
                                                      run.infrastructure_document_id)
    created, updated, expected, scheduled, start, end = (
        run.created, run.updated, run.expected_start_time, run.next_scheduled_start_time, run.start_time,
        run.end_time)
    return {
        "id": str(run.id), "created": datetime_text(created) if created is not None else None,
        "updated": datetime_text(updated) if updated is not None else None, "name": run.name,
        "flow_id": str(run.flow_id), "state_id": str(state_id) if state_id is not None else None,
        "deployment_id": str(deployment_id) if deployment_id is not None else None,
        "deployment_version": run.deployment_version,
        "work_queue_id": str(work_queue_id) if work_queue_id is not None else None,
        "work_queue_name": run.work_queue_name, "flow_version": run.flow_version, "parameters": run.parameters,
        "idempotency_key": run.idempotency_key, "context": run.context,
        "empirical_policy": {**FLOW_RUN_POLICY_DEFAULTS, **(run.empirical_policy or {})}, "tags": run.tags,
        "parent_task_run_id": str(parent_task_run_id) if parent_task_run_id is not None else None,
        "state_type": run.state_type, "state_name": run.state_name, "run_count": run.run_count,
        "expected_start_time": datetime_text(expected) if expected is not None else None,
        "next_scheduled_start_time": datetime_text(scheduled) if scheduled is not None else None,
        "start_time": datetime_text(start) if start is not None else None,
        "end_time": datetime_text(end) if end is not None else None,
        "total_run_time": run.total_run_time.total_seconds(),
        "estimated_run_time": estimated_run_time, "estimated_start_time_delta": lateness,
        "auto_scheduled": run.auto_scheduled,
        "infrastructure_document_id": str(document_id) if document_id is not None else None,
        "infrastructure_pid": run.infrastructure_pid, "created_by": run.created_by,
        "work_pool_id": str(pool_id) if pool_id is not None else None,
        "work_pool_name": queue.work_pool.name if queue else None,
        "state": state_json(run.state) if state_id else None,
        "job_variables": run.job_variables,
    }


# --- task runs -------------------------------------------------------------------------------------------
class TaskRunCreate(StrictInputSerializer):
    id = serializers.UUIDField(required=False, allow_null=True)
    state = StateCreate(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, max_length=255, validators=[_name_ok])
    flow_run_id = serializers.UUIDField(required=False, allow_null=True)
    task_key = serializers.CharField(max_length=255)
    dynamic_key = serializers.CharField(max_length=255)
    cache_key = serializers.CharField(required=False, allow_null=True, max_length=2000, trim_whitespace=False)
    cache_expiration = serializers.DateTimeField(required=False, allow_null=True)
    task_version = serializers.CharField(required=False, allow_null=True, max_length=255)
    empirical_policy = TaskRunPolicy(required=False, allow_null=True)
    tags = _tags()
    task_inputs = serializers.DictField(child=serializers.ListField(child=serializers.DictField()), required=False,
                                        default=dict)


# `task_run_create_body(data)`: a task run create body validated as TaskRunCreate validates it, by compiled
# field checks for the usual bodies and by the serializer for anything else (apps/core/api/flat.py).
task_run_create_body = FlatValidator(TaskRunCreate)


class TaskRunUpdate(StrictInputSerializer):
    name = serializers.CharField(required=False, allow_null=True, max_length=255, validators=[_name_ok])


class TaskRun(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    flow_run_id = serializers.UUIDField(allow_null=True)
    task_key = serializers.CharField()
    dynamic_key = serializers.CharField()
    cache_key = serializers.CharField(allow_null=True)
    cache_expiration = serializers.DateTimeField(allow_null=True)
    task_version = serializers.CharField(allow_null=True)
    empirical_policy = TaskRunPolicy()
    tags = serializers.ListField(child=serializers.CharField())
    state_id = serializers.UUIDField(allow_null=True)
    task_inputs = serializers.DictField()
    state_type = serializers.ChoiceField(choices=[t.value for t in StateType], allow_null=True)
    state_name = serializers.CharField(allow_null=True)
    run_count = serializers.IntegerField()
    flow_run_run_count = serializers.IntegerField()
    expected_start_time = serializers.DateTimeField(allow_null=True)
    next_scheduled_start_time = serializers.DateTimeField(allow_null=True)
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    total_run_time = serializers.FloatField()
    estimated_run_time = serializers.FloatField()
    estimated_start_time_delta = serializers.FloatField()
    state = State(allow_null=True)


# The TaskRun fields `task_run_json` reads, in one C call from the instance's `__dict__` (where a model instance
# keeps its loaded field values by attname): `run.name` on a model instance is not specialised by the interpreter
# (its class holds the field's DeferredAttribute, a non-data descriptor: a generic attribute lookup, ~0.4 k
# instructions each) and `run.flow_run_id`/`run.state_id` call ForeignKeyDeferredAttribute.__get__ (Python)
_TASK_RUN_NAMES = ("id", "created", "updated", "name", "flow_run_id", "task_key", "dynamic_key", "cache_key",
                   "cache_expiration", "task_version", "empirical_policy", "tags", "state_id", "task_inputs",
                   "state_type", "state_name", "run_count", "flow_run_run_count", "expected_start_time",
                   "next_scheduled_start_time", "start_time", "end_time", "total_run_time", "state_timestamp")
_TASK_RUN_FIELDS = operator.itemgetter(*_TASK_RUN_NAMES)
_NOT_HELD = object()


def task_run_json(run, *, now: datetime.datetime | None = None) -> dict:
    """A TaskRun (with `state` loaded) → Prefect's TaskRun JSON. `iso` and `_s` written out inline (the two
    hot requests of a task run render one each): the same strings, eight calls fewer; ids by `uuid_text`.
    Each text formatted once: the state's id is the run's `state_id`, and a run's timestamps are often its
    state's (a new run's `updated` is its `created` object, its `expected_start_time` its first state's; a
    running run's `start_time` and a finished run's `end_time` its state's): `same_instant_text`.

    The fields are the instance's loaded values (`_TASK_RUN_FIELDS`), read through the model only when one is
    not loaded (deferred: the attribute loads it, as before); the state is the one the instance holds (its
    relation cache), read through `run.state` (which loads it) only when not held."""
    try:
        fields = _TASK_RUN_FIELDS(run.__dict__)
    except KeyError:  # a deferred field: read through the model, which loads it
        fields = [getattr(run, name) for name in _TASK_RUN_NAMES]
    (run_id, created, updated, name, flow_run_id, task_key, dynamic_key, cache_key, cache_expiration, task_version,
     policy, tags, state_id, task_inputs, state_type, state_name, run_count, flow_run_run_count, expected, scheduled,
     start, end, total_run_time, state_timestamp) = fields
    estimated_run_time, lateness = _estimates(total_run_time, state_type, state_timestamp, expected, start, now)
    created_text = datetime_text(created) if created is not None else None
    state = run._state.fields_cache.get("state", _NOT_HELD) if state_id else None
    if state is _NOT_HELD:  # not loaded with the run: the relation loads it
        state = run.state
    if state is not None:
        state_id_text, stamp = uuid_text(state_id), state.timestamp
        stamp_text = datetime_text(stamp) if stamp is not None else None
        state_answer = state_json(state, id_text=state_id_text if state.id == state_id else None,
                                  timestamp_text=stamp_text)
    else:
        state_id_text = state_answer = stamp = stamp_text = None  # (the state's answer is None, as state_json's)
    return {
        "id": uuid_text(run_id), "created": created_text,
        "updated": (created_text if updated is created else datetime_text(updated)) if updated is not None else None,
        "name": name,
        "flow_run_id": uuid_text(flow_run_id) if flow_run_id is not None else None,
        "task_key": task_key, "dynamic_key": dynamic_key, "cache_key": cache_key,
        "cache_expiration": datetime_text(cache_expiration) if cache_expiration is not None else None,
        "task_version": task_version,
        "empirical_policy": {**TASK_RUN_POLICY_DEFAULTS, **(policy or {})}, "tags": tags,
        "state_id": state_id_text or (uuid_text(state_id) if state_id is not None else None),
        "task_inputs": task_inputs,
        "state_type": state_type, "state_name": state_name, "run_count": run_count,
        "flow_run_run_count": flow_run_run_count,
        "expected_start_time": same_instant_text(expected, stamp, stamp_text) if expected is not None else None,
        "next_scheduled_start_time": datetime_text(scheduled) if scheduled is not None else None,
        "start_time": same_instant_text(start, stamp, stamp_text) if start is not None else None,
        "end_time": same_instant_text(end, stamp, stamp_text) if end is not None else None,
        "total_run_time": total_run_time.total_seconds(),
        "estimated_run_time": estimated_run_time, "estimated_start_time_delta": lateness,
        "state": state_answer,
    }
