"""Parsing helpers every engine resource's views share: path ids, request bodies, filter documents."""

from __future__ import annotations

import uuid

from apps.core.errors import Invalid
from apps.engine.schemas import filters


def path_uuid(value: str, name: str = "id") -> uuid.UUID:
    """A path segment that must be a UUID; anything else is a 422 naming the segment."""
    try:
        return uuid.UUID(str(value))
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
    """Validated filter data → plain dicts and lists with UUIDs as strings and unset (None) keys dropped."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, uuid.UUID) else value


def page(queryset, body: dict) -> list:
    """One page of `queryset` by the body's `offset` and `limit`, read as Prefect 2.20 reads them: an absent
    or null limit is the default (200), `limit: 0` an empty page."""
    return list(queryset[filters.page(body)])
