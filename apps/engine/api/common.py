"""Parsing helpers every engine resource's views share: path ids, request bodies, filter documents."""

from __future__ import annotations

import uuid

from rest_framework import serializers

from apps.core.api.flat import known_uuid
from apps.core.errors import Invalid
from apps.engine.schemas import filters


def path_uuid(value: str, name: str = "id") -> uuid.UUID:
    """A path segment that must be a UUID; anything else is a 422 naming the segment. Parsed once per text
    (flat.known_uuid: a task run's id is the path of its two set_states and its read)."""
    try:
        return known_uuid(value if type(value) is str else str(value))
    except ValueError:
        raise Invalid("value is not a valid uuid", loc=["path", name], code="uuid") from None


def parse_body(serializer_class, data) -> dict:
    """Validate a request body (an absent body counts as `{}`); errors surface as the API's 422."""
    serializer = serializer_class(data=data if data is not None else {})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_params(serializer_class, data) -> dict:
    """Validate the body of an endpoint whose top-level keys are separate parameters in Prefect's server
    (`limit`, `offset`, `sort`, the filters). There a top-level `null` means "use the default" (FastAPI
    treats an explicit null for an optional body parameter as absent), and the client relies on it:
    `read_logs()` sends `"offset": null`, `read_flows()` `"sort": null`. Nested values keep their nulls."""
    if isinstance(data, dict):
        data = {key: value for key, value in data.items() if value is not None}
    return parse_body(serializer_class, data)


def plain(value):
    """Validated filter data → plain dicts and lists with UUIDs as strings and unset (None) keys dropped.
    Only for filter documents, which hold no user JSON: a create or update body goes through `unset_dropped`,
    which keeps the nulls inside free-form values."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, uuid.UUID) else value


def _uuid_list(value):
    return [str(item) if isinstance(item, uuid.UUID) else item for item in value]


def _shape(serializer) -> dict:
    """name → how that field's validated value is made plain: a nested shape (a nested serializer), `str`
    (a UUIDField), `_uuid_list` (a list of UUIDs) or None (kept as it is: user JSON, text, numbers...)."""
    shape = {}
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.Serializer):
            shape[name] = _shape(field)
        elif isinstance(field, serializers.UUIDField):
            shape[name] = str
        elif isinstance(field, serializers.ListField) and isinstance(field.child, serializers.UUIDField):
            shape[name] = _uuid_list
        else:
            shape[name] = None
    return shape


def _drop_unset(data: dict, shape: dict) -> dict:
    out = {}
    for key, value in data.items():
        if value is None:
            continue  # the schema's own optional field, unset
        how = shape.get(key)
        if how is None:
            out[key] = value
        elif type(how) is dict:
            out[key] = _drop_unset(value, how) if type(value) is dict else value
        else:
            out[key] = how(value)
    return out


def unset_dropped(serializer_class):
    """`drop(validated)`: a create or update body's validated data with the schema's own fields that are null
    dropped (the services read them as unset) and UUIDs as strings, at every level of the schema's nested
    serializers, while free-form values (parameters, context, state data, task inputs...) keep their nulls
    exactly, as Prefect 2.20 stores them (tests/engine/test_json_nulls.py). The shape is read once."""
    shape = None

    def drop(validated: dict) -> dict:
        nonlocal shape
        if shape is None:
            shape = _shape(serializer_class())
        return _drop_unset(validated, shape)

    return drop


def page(queryset, body: dict) -> list:
    """One page of `queryset` by the body's `offset` and `limit`, read as Prefect 2.20 reads them: an absent
    or null limit is the default (200), `limit: 0` an empty page."""
    return list(queryset[filters.page(body)])
