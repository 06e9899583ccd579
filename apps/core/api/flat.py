"""Flat validation of the hottest request bodies: a serializer's declarations compiled once into plain
functions that check the common shapes field by field, leaving everything else to the serializer itself.

`FlatValidator(SomeSerializer)(data)` answers exactly what `SomeSerializer(data=data)` validates to: for a
value of the usual shape (a str for a CharField or UUIDField, an int for an IntegerField, an aware ISO
datetime, a dict for a nested serializer...) the compiled check does what that field would; a value of any
other shape is handed to the field's own `run_validation` (so it gets exactly that field's rules). Whenever
a body is invalid or unusual (a missing required field, an unknown key of a StrictInputSerializer, a null
where none is allowed, a value a field rejects), the compiled check gives up and the serializer validates
the body from the start, so every error keeps its exact 422 shape by construction. Serializers with their
own `to_internal_value` are left to DRF, except the two of apps/core/api/serializers.py whose rule is
compiled too: StrictInputSerializer (unknown keys) and NullMeansAbsentSerializer (a top-level null is an
absent key; the filter bodies). About a tenth of the
function calls of DRF's serializer machinery (docs/performance.md, "Fifth step"); tests/engine/
test_flat_bodies.py compares both on thousands of generated bodies.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
import threading
import uuid

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinLengthValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from rest_framework import serializers
from rest_framework.fields import ProhibitSurrogateCharactersValidator, _UnvalidatedField, empty
from rest_framework.settings import ISO_8601, api_settings

from apps.core.api.serializers import NullMeansAbsentSerializer, StrictInputSerializer

logger = logging.getLogger(__name__)
_ABSENT = object()
_SURROGATE = re.compile("[\ud800-\udfff]")
# An int this large may fail DRF's str() round trip (Python's 4,300-digit limit): the field decides.
_BIG_INT = 10**18


class Unusual(Exception):
    """A compiled check met a body it does not vouch for: the serializer decides."""


class Unsupported(Exception):
    """A declaration the compiler does not know how to reproduce (the serializer then validates every body)."""


def _limits(field, validator_types: tuple, attributes: tuple[str, str]) -> tuple:
    """(low, high): the bounds the field's own validators enforce; Unsupported if it has any other validator."""
    low, high = (getattr(field, name) for name in attributes)
    for validator in field.validators:
        if not any(isinstance(validator, kind) and validator.limit_value == limit
                   for kind, limit in zip(validator_types, (low, high), strict=True)):
            raise Unsupported(f"{field!r}: validator {validator!r}")
    return low, high


def _char(field):
    """CharField: a str that is not blank after trimming, within the lengths, without NUL or surrogates."""
    extra = []  # validators beyond the lengths, NUL and surrogates (e.g. a name's banned characters)
    for validator in field.validators:
        if isinstance(validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator) or (
                isinstance(validator, MaxLengthValidator) and validator.limit_value == field.max_length) or (
                isinstance(validator, MinLengthValidator) and validator.limit_value == field.min_length):
            continue
        if getattr(validator, "requires_context", False):
            raise Unsupported(f"{field!r}: validator {validator!r}")
        extra.append(validator)
    low, high, trim, allow_blank, generic = (field.min_length, field.max_length, field.trim_whitespace,
                                             field.allow_blank, field.run_validation)

    def check(value):
        if type(value) is not str:
            return generic(value)
        text = value.strip() if trim else value
        if not text:
            if allow_blank:
                return ""
            raise Unusual  # DRF: blank
        if ((high is not None and len(text) > high) or (low is not None and len(text) < low) or "\x00" in text
                or (not text.isascii() and _SURROGATE.search(text))):
            raise Unusual
        for validator in extra:
            validator(text)
        return text

    return check


# str → UUID of the ids seen lately: a batch of logs, the task runs of one flow run, repeat the same run ids.
# UUIDs are immutable, so handing out one instance twice is safe; bounded by clearing when full.
_UUIDS: dict[str, uuid.UUID] = {}
_UUIDS_MAX = 4096


def known_uuid(text: str) -> uuid.UUID:
    """`uuid.UUID(text)` (its ValueError too), the instance of an earlier parse of the same text when there is
    one: a run's id arrives again and again in paths and bodies (its set_states, its read, its task runs)."""
    parsed = _UUIDS.get(text)
    if parsed is None:
        parsed = uuid.UUID(text)
        if len(_UUIDS) >= _UUIDS_MAX:
            _UUIDS.clear()
        _UUIDS[text] = parsed
    return parsed


def _uuid(field):
    if field.validators:
        raise Unsupported(f"{field!r}: validators")
    generic, known = field.run_validation, _UUIDS

    def check(value):
        if type(value) is not str:
            return generic(value)
        parsed = known.get(value)  # the hit inline; a miss parses and remembers through known_uuid
        if parsed is None:
            try:
                parsed = known_uuid(value)  # what UUID(hex=value) gives, DRF's own call
            except ValueError:
                raise Unusual from None
        return parsed

    return check


def _integer(field):
    low, high = _limits(field, (MinValueValidator, MaxValueValidator), ("min_value", "max_value"))
    generic = field.run_validation

    def check(value):
        if type(value) is not int or not -_BIG_INT < value < _BIG_INT:
            return generic(value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise Unusual
        return value

    return check


def _float(field):
    low, high = _limits(field, (MinValueValidator, MaxValueValidator), ("min_value", "max_value"))
    generic = field.run_validation

    def check(value):
        kind = type(value)
        if kind is int and -_BIG_INT < value < _BIG_INT:
            value = float(value)
        elif kind is not float:
            return generic(value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise Unusual
        return value

    return check


def _boolean(field):
    if field.validators:
        raise Unsupported(f"{field!r}: validators")
    generic = field.run_validation

    def check(value):
        return value if value is True or value is False else generic(value)

    return check


def _choice(field):
    if field.validators:
        raise Unsupported(f"{field!r}: validators")
    generic, choices = field.run_validation, field.choice_strings_to_values

    def check(value):
        if type(value) is not str or value == "":
            return generic(value)
        try:
            return choices[value]
        except KeyError:
            raise Unusual from None

    return check


class _PerCall(threading.local):
    """This thread's validation under way: the time zone DRF's DateTimeField resolves, looked up once per
    body instead of once per datetime (the lookup, an asgiref Local, was most of a log's check)."""

    zone = _ABSENT


_per_call = _PerCall()


def _datetime(field):
    formats = getattr(field, "input_formats", api_settings.DATETIME_INPUT_FORMATS)
    if (field.validators or not formats or formats[0].lower() != ISO_8601
            or type(field).default_timezone is not serializers.DateTimeField.default_timezone):
        raise Unsupported(f"{field!r}: formats, validators or time zone")
    generic, parse, field_timezone = field.run_validation, datetime.datetime.fromisoformat, field.default_timezone
    fixed = getattr(field, "timezone", _ABSENT)

    def check(value):
        # Django's parse_datetime tries fromisoformat first; an aware result is moved to the field's zone.
        if type(value) is not str:
            return generic(value)
        try:
            parsed = parse(value)
        except ValueError:
            return generic(value)
        zone = fixed
        if zone is _ABSENT:
            zone = _per_call.zone
            if zone is _ABSENT:
                zone = _per_call.zone = field_timezone()  # the same for every field of DRF's default rule
        if zone is None or parsed.utcoffset() is None:
            return generic(value)
        try:
            return parsed.astimezone(zone)
        except OverflowError:
            raise Unusual from None

    return check


def _json(field):
    if field.validators or field.binary or field.encoder is not None:
        raise Unsupported(f"{field!r}: binary, encoder or validators")
    generic, isfinite = field.run_validation, math.isfinite

    def check(value):
        # DRF's check is rest_framework.utils.json.dumps (allow_nan=False), the value returned as given when it
        # passes: a str, a bool, a finite float, an int (below _BIG_INT: dumps refuses 4,300 digits) or a dict
        # of str keys and such values or nulls (a state's result, {"type": "unpersisted", ...}) always pass;
        # anything else is DRF's.
        kind = type(value)
        if kind is str or kind is bool or (kind is int and -_BIG_INT < value < _BIG_INT) or (
                kind is float and isfinite(value)):
            return value
        if kind is not dict:
            return generic(value)
        for key, item in value.items():
            kind = type(item)
            if type(key) is not str or not (kind is str or item is None or kind is bool or (
                    kind is int and -_BIG_INT < item < _BIG_INT) or (kind is float and isfinite(item))):
                return generic(value)
        return value

    return check


def _child(field):
    """The check of a list's or dict's child, with its own null rule."""
    if type(field) is _UnvalidatedField:
        return None  # anything, unchanged
    check, nullable = compile_field(field), field.allow_null

    def child(value):
        if value is None:
            if nullable:
                return None
            raise Unusual
        return check(value)

    return child


def _list(field):
    low, high = _limits(field, (MinLengthValidator, MaxLengthValidator), ("min_length", "max_length"))
    child, allow_empty, generic = _child(field.child), field.allow_empty, field.run_validation

    def check(value):
        if type(value) is not list:
            return generic(value)
        if (not allow_empty and not value) or (high is not None and len(value) > high) or (
                low is not None and len(value) < low):
            raise Unusual
        return list(value) if child is None else [child(item) for item in value]

    return check


def _dict(field):
    if field.validators:
        raise Unsupported(f"{field!r}: validators")
    child, allow_empty, generic = _child(field.child), field.allow_empty, field.run_validation

    def check(value):
        if type(value) is not dict:
            return generic(value)
        if not allow_empty and not value:
            raise Unusual
        if child is None:
            return {str(key): item for key, item in value.items()}
        return {str(key): child(item) for key, item in value.items()}

    return check


_FIELDS = {
    serializers.CharField: _char, serializers.UUIDField: _uuid, serializers.IntegerField: _integer,
    serializers.FloatField: _float, serializers.BooleanField: _boolean, serializers.ChoiceField: _choice,
    serializers.DateTimeField: _datetime, serializers.JSONField: _json, serializers.ListField: _list,
    serializers.DictField: _dict,
}


def compile_field(field):
    """A function validating a present, non-null value as `field` would (raising Unusual where it gives up)."""
    if isinstance(field, serializers.ListSerializer):
        raise Unsupported(f"{field!r}: nested list serializer")
    if type(field).validate_empty_values is not serializers.Field.validate_empty_values:
        raise Unsupported(f"{field!r}: own rules for absent and null values")  # the checks apply Field's
    if isinstance(field, serializers.Serializer):
        return compile_serializer(field)
    builder = _FIELDS.get(type(field))
    if builder is not None:
        return builder(field)
    if type(field).run_validation is not serializers.Field.run_validation:
        raise Unsupported(f"{field!r}: own run_validation")
    return field.run_validation  # a field of our own (RetryDelayField): DRF's exact path, minus the serializer


def compile_serializer(serializer):
    """A function validating a dict as `serializer` would: its fields in order, absent ones by their default,
    then its `validate`. The function is written out for the serializer (`_serializer_source`): a block per
    declared field with its name, its null and absent rules as constants, a boolean's or a UUID's usual value
    checked inline, so a body's fields cost no loop, unpacking or flag tests (a set_state body's 24 fields, most
    of them null, were ~1.5 k instructions each that way)."""
    own = type(serializer).to_internal_value
    if serializer.validators or own not in (serializers.Serializer.to_internal_value,
                                            StrictInputSerializer.to_internal_value,
                                            NullMeansAbsentSerializer.to_internal_value):
        raise Unsupported(f"{serializer!r}: validators or own to_internal_value")
    strict, nulls_absent = own is StrictInputSerializer.to_internal_value, own is \
        NullMeansAbsentSerializer.to_internal_value
    entries = []
    for name, field in serializer.fields.items():
        if (field.read_only or field.source_attrs != [name] or hasattr(serializer, f"validate_{name}")
                or getattr(field.default, "requires_context", False)):
            raise Unsupported(f"{serializer!r}: field {name}")
        entries.append((name, field, compile_field(field)))
    validate = serializer.validate if type(serializer).validate is not serializers.Serializer.validate else None
    names = frozenset(serializer.fields)
    source, namespace = _serializer_source(entries, strict, nulls_absent, validate is not None)
    namespace.update(Unusual=Unusual, names=names, validate=validate, known=_UUIDS)
    exec(compile(source, f"<flat {type(serializer).__name__}>", "exec"), namespace)  # noqa: S102 - our own text
    return namespace["check"]


def _serializer_source(entries, strict: bool, nulls_absent: bool, validates: bool) -> tuple[str, dict]:
    """The text of `check(data)` for compile_serializer and the objects it names (c<i>: field i's check, d<i>: its
    default). What it does, field by field in declaration order, is what DRF's Serializer.to_internal_value (the
    Strict one: unknown keys; the NullMeansAbsent one: a null is absent) and Field.validate_empty_values do:
    present and not null: the field's check; null: None if the field allows it, else the serializer decides;
    absent: the serializer decides if required, else the default (called if callable), else nothing."""
    namespace: dict = {}
    lines = ["def check(data):",
             "    if type(data) is not dict" + (" or not data.keys() <= names" if strict else "") + ":",
             "        raise Unusual",
             "    out = {}"]
    for i, (name, field, field_check) in enumerate(entries):
        key = repr(name)
        namespace[f"c{i}"] = field_check
        if field.required:
            absent = ["raise Unusual"]
        elif field.default is not empty:
            namespace[f"d{i}"] = field.default
            absent = [f"out[{key}] = d{i}()" if callable(field.default) else f"out[{key}] = d{i}"]
        else:
            absent = ["pass"]
        if type(field) is serializers.BooleanField:  # _boolean's usual case inline
            present = ["if value is True or value is False:", f"    out[{key}] = value", "else:",
                       f"    out[{key}] = c{i}(value)"]
        elif type(field) is serializers.UUIDField:  # _uuid's usual case (a text seen lately) inline
            present = ["parsed = known.get(value) if type(value) is str else None",
                       f"out[{key}] = parsed if parsed is not None else c{i}(value)"]
        else:
            present = [f"out[{key}] = c{i}(value)"]
        if nulls_absent:
            lines += [f"    value = data[{key}] if {key} in data else None", "    if value is None:",
                      *(f"        {line}" for line in absent), "    else:", *(f"        {line}" for line in present)]
        else:
            null = [f"out[{key}] = None"] if field.allow_null else ["raise Unusual"]
            lines += [f"    if {key} in data:", f"        value = data[{key}]", "        if value is None:",
                      *(f"            {line}" for line in null), "        else:",
                      *(f"            {line}" for line in present), "    else:",
                      *(f"        {line}" for line in absent)]
    lines.append("    return validate(out)" if validates else "    return out")
    return "\n".join(lines) + "\n", namespace


def compile_list(list_serializer):
    """A function validating a list as a ListSerializer would: its length limits, then each item."""
    if list_serializer.validators or type(list_serializer).validate is not serializers.ListSerializer.validate:
        raise Unsupported(f"{list_serializer!r}: validators or validate")
    child = compile_serializer(list_serializer.child)
    allow_empty, low, high = list_serializer.allow_empty, list_serializer.min_length, list_serializer.max_length

    def check(data):
        if type(data) is not list or (not allow_empty and not data) or (high is not None and len(data) > high) or (
                low is not None and len(data) < low):
            raise Unusual
        return [child(item) for item in data]

    return check


def _leave_to_serializer(data):
    raise Unusual


class FlatValidator:
    """`validator(data)`: `serializer_class(data=data)`'s validated data, by the compiled checks when they
    vouch for the body and by the serializer otherwise (its ValidationError, the API's 422, propagates).
    An absent body (None) counts as `{}`, as `apps.engine.api.common.parse_body` reads it."""

    def __init__(self, serializer_class):
        self.serializer_class = serializer_class
        self._check = None

    def compiled(self):
        if self._check is None:
            # Its own bound copies of the declared fields (DRF's deep copy, not a thread's shared template):
            # validating stores nothing on them, so one compiled check serves every thread.
            holder = self.serializer_class()
            try:
                if isinstance(holder, serializers.ListSerializer):
                    self._check = compile_list(holder)
                else:
                    holder.fields = serializers.Serializer.fields.func(holder)
                    self._check = compile_serializer(holder)
            except Unsupported:
                logger.warning("%s: no flat validation, the serializer validates every body",
                               self.serializer_class.__name__, exc_info=True)
                self._check = _leave_to_serializer
        return self._check

    def fast(self, data):
        """The compiled checks' answer, or None where they leave the body to the serializer."""
        check = self.compiled()
        _per_call.zone = _ABSENT  # resolved afresh for each body (a request may activate another zone)
        try:
            return check(data if data is not None else {})  # an absent body, as the serializer reads it
        except (Unusual, serializers.ValidationError, DjangoValidationError):
            return None
        finally:
            _per_call.zone = _ABSENT

    def __call__(self, data):
        validated = self.fast(data)
        if validated is not None:
            return validated
        serializer = self.serializer_class(data=data if data is not None else {})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
