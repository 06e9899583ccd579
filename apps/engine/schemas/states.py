"""Run states (Prefect 2.20: StateCreate, StateDetails, State, OrchestrationResult): the input a client
proposes, the state value orchestration works on, and the JSON shape both read back."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from apps.core import ids
from apps.core.api.flat import FlatValidator
from apps.core.api.serializers import StrictInputSerializer
from apps.engine.models.runs import TERMINAL_STATE_TYPES, StateType

STATE_TYPES = [t.value for t in StateType]

# Every key of Prefect's StateDetails, in its order, with its default. A state's details are stored
# and served with all of them, as Prefect does.
STATE_DETAIL_DEFAULTS: dict[str, Any] = {
    "flow_run_id": None, "task_run_id": None, "child_flow_run_id": None, "scheduled_time": None,
    "cache_key": None, "cache_expiration": None, "untrackable_result": False, "pause_timeout": None,
    "pause_reschedule": False, "pause_key": None, "run_input_keyset": None, "refresh_cache": None,
    "retriable": None, "transition_id": None, "task_parameters_id": None,
}
_DATETIME_DETAILS = ("scheduled_time", "cache_expiration", "pause_timeout")
_DETAIL_KEYS = tuple(STATE_DETAIL_DEFAULTS)
_STORED_AS_IS = frozenset({type(None), bool, str, int, float, dict, list})  # neither a UUID nor a datetime
# A state type's default name, worked out once per type (`default_state_name`)
_DEFAULT_NAMES: dict[str, str] = {}
_DETAIL_KEY_SET = frozenset(STATE_DETAIL_DEFAULTS)


# `uuid_text`'s memo: a UUID's text by its int, emptied when full
_UUID_TEXTS: dict[int, str] = {}
_UUID_TEXTS_MAX = 2048


def uuid_text(value) -> str:
    """`str(value)`. A UUID's text comes from a bounded memo keyed by its int (`UUID.__str__` formats the int
    alone, ~8 k instructions in Python): a task run's id, its flow run's and its states' are written out in
    several of its requests (the state details, each answer)."""
    if type(value) is not uuid.UUID:
        return str(value)
    key = value.int
    text = _UUID_TEXTS.get(key)
    if text is None:
        if len(_UUID_TEXTS) >= _UUID_TEXTS_MAX:
            _UUID_TEXTS.clear()
        text = _UUID_TEXTS[key] = str(value)
    return text


# `datetime_text`'s digits: a field's two (and the microseconds' two halves of three) by table
_UTC = datetime.UTC
_DATETIME = datetime.datetime
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))
_THREE_DIGITS = tuple(f"{n:03d}" for n in range(1000))


def datetime_text(value: datetime.datetime) -> str:
    """`value.isoformat()`. A datetime in UTC (`datetime.UTC` itself, what `timezone.now()` stamps and the
    database's timestamps carry in Django's UTC session) of a year from 1000 is written from its fields here:
    `isoformat` formats through sprintf and asks the tzinfo for its offset (~11.6 k instructions a call under
    callgrind, this ~5.9 k), and every answer of a run writes its timestamps out. The same text: the fields
    zero-padded, the microseconds only when not zero, UTC's offset `+00:00` (a fixed offset: the fold changes
    nothing); anything else (another zone, a naive value, a subclass, a year before 1000) by `isoformat`."""
    if value.tzinfo is not _UTC or type(value) is not _DATETIME or (year := value.year) < 1000:
        return value.isoformat()
    two, micro = _TWO_DIGITS, value.microsecond
    if micro:
        return (f"{year}-{two[value.month]}-{two[value.day]}T{two[value.hour]}:{two[value.minute]}:"
                f"{two[value.second]}.{_THREE_DIGITS[micro // 1000]}{_THREE_DIGITS[micro % 1000]}+00:00")
    return f"{year}-{two[value.month]}-{two[value.day]}T{two[value.hour]}:{two[value.minute]}:{two[value.second]}+00:00"


def iso(value: datetime.datetime | None) -> str | None:
    return datetime_text(value) if value is not None else None


def parse_dt(value) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    return datetime.datetime.fromisoformat(value)


def default_state_name(state_type: str) -> str:
    """Prefect's default name of a state: its type, capitalised per word (CANCELLING → Cancelling)."""
    return " ".join(part.capitalize() for part in state_type.split("_"))


_DEFAULT_NAMES.update((t.value, default_state_name(t.value)) for t in StateType)


class StateDetails(serializers.Serializer):
    """Prefect's StateDetails. Unknown keys are ignored (the server model ignores extra fields)."""

    flow_run_id = serializers.UUIDField(required=False, allow_null=True)
    task_run_id = serializers.UUIDField(required=False, allow_null=True)
    child_flow_run_id = serializers.UUIDField(required=False, allow_null=True)
    scheduled_time = serializers.DateTimeField(required=False, allow_null=True)
    cache_key = serializers.CharField(required=False, allow_null=True, max_length=2000, trim_whitespace=False)
    cache_expiration = serializers.DateTimeField(required=False, allow_null=True)
    untrackable_result = serializers.BooleanField(required=False, default=False)
    pause_timeout = serializers.DateTimeField(required=False, allow_null=True)
    pause_reschedule = serializers.BooleanField(required=False, default=False)
    pause_key = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)
    run_input_keyset = serializers.DictField(child=serializers.CharField(), required=False, allow_null=True)
    refresh_cache = serializers.BooleanField(required=False, allow_null=True, default=None)
    retriable = serializers.BooleanField(required=False, allow_null=True, default=None)
    transition_id = serializers.UUIDField(required=False, allow_null=True)
    task_parameters_id = serializers.UUIDField(required=False, allow_null=True)


class StateCreate(StrictInputSerializer):
    """A proposed state. `timestamp` and `id` are accepted and ignored: the server stamps states."""

    type = serializers.ChoiceField(choices=STATE_TYPES)
    name = serializers.CharField(required=False, allow_null=True, max_length=255)
    message = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    data = serializers.JSONField(required=False, allow_null=True)
    state_details = StateDetails(required=False, allow_null=True)
    timestamp = serializers.DateTimeField(required=False, allow_null=True)
    id = serializers.UUIDField(required=False, allow_null=True)


class SetStateBody(StrictInputSerializer):
    state = StateCreate()
    force = serializers.BooleanField(required=False, default=False)


# `set_state_body(data)`: a set_state body validated as SetStateBody validates it, by compiled field checks for
# the usual bodies and by the serializer for anything else, so errors keep their exact 422 shape
# (apps/core/api/flat.py; tests/engine/test_set_state_body.py compares both on a generated set of bodies).
set_state_body = FlatValidator(SetStateBody)


class ResumeBody(StrictInputSerializer):
    run_input = serializers.DictField(required=False, allow_null=True)


def details_json(details: dict | None) -> dict:
    """Validated details → the stored JSON form: every key present, uuids and datetimes as strings."""
    out = dict(STATE_DETAIL_DEFAULTS)
    for key, value in (details or {}).items():
        if key not in out:
            continue
        if type(value) in _STORED_AS_IS:  # most details (None, flags, strings): no isinstance call each
            pass
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime.datetime):
            value = datetime_text(value)
        out[key] = value
    return out


@dataclass
class StateValue:
    """A state as orchestration sees it: the run's current state, or the one proposed or written.

    `state_details` is the stored JSON form (see `details_json`); `scheduled_time` etc. are read with
    the helpers below. `id` is assigned before the row is written so runs can point at it.
    """

    type: str
    name: str
    timestamp: datetime.datetime
    message: str | None = None
    data: Any = None
    state_details: dict = field(default_factory=lambda: dict(STATE_DETAIL_DEFAULTS))
    id: uuid.UUID = field(default_factory=ids.uuid4)  # uuid.uuid4's UUID, made cheaper (apps/core/ids.py)

    @classmethod
    def from_input(cls, data: dict, *, now: datetime.datetime | None = None) -> StateValue:
        """A validated StateCreate → a new state stamped now (a Scheduled state without a time is due now)."""
        now = now or timezone.now()
        details = details_json(data.get("state_details"))
        state_type = data["type"]
        if state_type == StateType.SCHEDULED and not details["scheduled_time"]:
            details["scheduled_time"] = datetime_text(now)
        name = data.get("name") or _DEFAULT_NAMES.get(state_type) or default_state_name(state_type)
        return cls(type=state_type, name=name, timestamp=now, message=data.get("message"), data=data.get("data"),
                   state_details=details)

    @classmethod
    def from_row(cls, row) -> StateValue:
        return cls(type=row.type, name=row.name, timestamp=row.timestamp, message=row.message, data=row.data,
                   state_details=row.state_details, id=row.id)

    @classmethod
    def new(cls, state_type: str, name: str | None = None, *, message: str | None = None, data: Any = None,
            now: datetime.datetime | None = None, **details) -> StateValue:
        """A server-made state (AwaitingRetry, Cancelled, Cached...), stamped now."""
        now = now or timezone.now()
        value = cls(type=state_type, name=name or _DEFAULT_NAMES.get(state_type) or default_state_name(state_type),
                    timestamp=now, message=message,
                    data=data, state_details=details_json(details))
        if state_type == StateType.SCHEDULED and not value.state_details["scheduled_time"]:
            value.state_details["scheduled_time"] = datetime_text(now)
        return value

    def copy_as_new(self, *, name: str | None = None, now: datetime.datetime | None = None) -> StateValue:
        """The same state under a fresh id and timestamp (what Prefect's `copy(reset_fields=True)` makes)."""
        return StateValue(type=self.type, name=name or self.name, timestamp=now or timezone.now(),
                          message=self.message, data=self.data, state_details=dict(self.state_details))

    def detail_time(self, key: str) -> datetime.datetime | None:
        return parse_dt(self.state_details.get(key))

    @property
    def is_final(self) -> bool:
        return self.type in TERMINAL_STATE_TYPES

    @property
    def is_running(self) -> bool:
        return self.type == StateType.RUNNING

    @property
    def is_scheduled(self) -> bool:
        return self.type == StateType.SCHEDULED

    @property
    def is_completed(self) -> bool:
        return self.type == StateType.COMPLETED

    def as_json(self) -> dict:
        return state_json(self)


def same_instant_text(value: datetime.datetime, known: datetime.datetime | None, known_text: str | None) -> str:
    """`value.isoformat()`, given `known_text` = `known.isoformat()`: that text when `value` is `known` or an equal
    datetime in the same zone object and fold (the same fields, so the same text; ~12 k instructions a format
    fewer: a run's timestamps are often its state's)."""
    if value is known or (known is not None and value.tzinfo is known.tzinfo and value.fold == known.fold
                          and value == known):
        return known_text
    return datetime_text(value)


def state_json(state, *, id_text: str | None = None, timestamp_text: str | None = None) -> dict | None:
    """A state row or StateValue → Prefect's State JSON. `id_text` / `timestamp_text`, when the caller has them
    already: `str(state.id)` and `state.timestamp.isoformat()` (the run's answer formats both for its own
    fields)."""
    if state is None:
        return None
    stored = state.state_details or {}
    # Prefect's key order (jsonb keeps its own), with every key present. Details written by us hold every key
    # (details_json): in order already when fresh, in jsonb's order when read back; others are completed.
    if tuple(stored) == _DETAIL_KEYS:
        details = dict(stored)
    elif stored.keys() == _DETAIL_KEY_SET:
        details = {key: stored[key] for key in _DETAIL_KEYS}
    else:
        details = {key: stored.get(key, default) for key, default in STATE_DETAIL_DEFAULTS.items()}
    return {
        "id": id_text or uuid_text(state.id), "type": state.type, "name": state.name,
        "timestamp": timestamp_text or iso(state.timestamp),
        "message": state.message, "data": state.data, "state_details": details,
    }


class State(serializers.Serializer):
    """Output shape of a state (documentation; responses are rendered by `state_json`)."""

    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=STATE_TYPES)
    name = serializers.CharField()
    timestamp = serializers.DateTimeField()
    message = serializers.CharField(allow_null=True)
    data = serializers.JSONField(allow_null=True)
    state_details = StateDetails()


class OrchestrationDetails(serializers.Serializer):
    type = serializers.ChoiceField(choices=["accept_details", "reject_details", "wait_details", "abort_details"])
    reason = serializers.CharField(required=False)
    delay_seconds = serializers.IntegerField(required=False)


class OrchestrationResult(serializers.Serializer):
    state = State(allow_null=True)
    status = serializers.ChoiceField(choices=["ACCEPT", "REJECT", "WAIT", "ABORT"])
    details = OrchestrationDetails()


class DecisionOut(serializers.Serializer):
    """One stored orchestration decision: which rule decided what about which proposal, and why."""

    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    initial_state_type = serializers.CharField(allow_null=True)
    proposed_state_type = serializers.CharField(allow_null=True)
    proposed_state_name = serializers.CharField(allow_null=True)
    decision = serializers.ChoiceField(choices=["ACCEPT", "REJECT", "WAIT", "ABORT"])
    rule = serializers.CharField()
    reason = serializers.CharField()
    state_id = serializers.UUIDField(allow_null=True)
    details = serializers.JSONField()


def decision_json(row) -> dict:
    return {
        "id": str(row.id), "created": iso(row.created), "initial_state_type": row.initial_state_type,
        "proposed_state_type": row.proposed_state_type, "proposed_state_name": row.proposed_state_name,
        "decision": row.decision, "rule": row.rule, "reason": row.reason,
        "state_id": str(row.state_id) if row.state_id else None, "details": row.details,
    }
