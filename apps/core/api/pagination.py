"""limit/offset paging with Prefect's default and maximum (200); bodies stay bare JSON arrays."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.response import Response

from apps.core.errors import Invalid

DEFAULT_LIMIT = 200
MAX_LIMIT = 200


def parse_limit_offset(source: dict) -> tuple[int, int]:
    """Read `limit`/`offset` from query params or a JSON body; reject bad values with 422."""
    def read(name: str, default: int, maximum: int | None) -> int:
        raw = source.get(name, default)
        if raw is None:
            return default
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise Invalid(f"{name} must be an integer", loc=["body", name]) from None
        if value < 0:
            raise Invalid(f"{name} must be at least 0", loc=["body", name])
        if maximum is not None and value > maximum:
            raise Invalid(f"{name} must be at most {maximum}", loc=["body", name])
        return value

    return read("limit", DEFAULT_LIMIT, MAX_LIMIT), read("offset", 0, None)


class LimitOffsetPagination(pagination.BasePagination):
    """Slices the queryset by ?limit=&offset= and answers a bare array, as Prefect and Cloud do."""

    def paginate_queryset(self, queryset, request, view=None):
        self.limit, self.offset = parse_limit_offset(request.query_params)
        return list(queryset[self.offset : self.offset + self.limit])

    def get_paginated_response(self, data):
        return Response(data)

    def get_paginated_response_schema(self, schema):
        return schema

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "limit", "required": False, "in": "query", "schema": {"type": "integer", "maximum": MAX_LIMIT}},
            {"name": "offset", "required": False, "in": "query", "schema": {"type": "integer", "minimum": 0}},
        ]
