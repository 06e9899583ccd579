"""Helpers the API views share to read input: validate a body with an input serializer, page a list."""

from __future__ import annotations

from apps.core.api.pagination import parse_limit_offset


def valid(serializer_class, data, *, many: bool = False) -> dict | list:
    """Validated data of `data`, or a 422 in the API's validation shape (raised by DRF, mapped once)."""
    serializer = serializer_class(data=data, many=many)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def body(request) -> dict:
    """The JSON body, `{}` when there is none (a bodiless POST to a filter endpoint)."""
    return request.data if request.data not in (None, b"", "") else {}


def page(rows, source) -> list:
    """Slice a queryset or list by limit/offset read from query params or a filter body (422 if invalid)."""
    limit, offset = parse_limit_offset(source)
    return list(rows[offset : offset + limit])


def any_of(filters: dict | None, field: str) -> list | None:
    """Cloud's `{field: {"any_": [...]}}` → the list, or None when that field is not filtered."""
    value = (filters or {}).get(field)
    return None if value is None else list(value.get("any_", []))
