"""The API's one error shape, decided here: Prefect's.

4xx: {"detail": "..."} (+ "code" for domain errors); validation: 422
{"exception_message": "Invalid request received.", "exception_detail": [{loc, msg, type}]}.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import DomainError, Invalid

INVALID_REQUEST = "Invalid request received."
DATA_REFUSED = "A value in the request cannot be stored (for example a number beyond the range JSON can hold)."


def _flatten(detail, loc: list) -> list[dict]:
    """DRF's nested error dict/list → Prefect/FastAPI's flat [{loc, msg, type}] list."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            sub = loc if key == "non_field_errors" else [*loc, key]
            out.extend(_flatten(value, sub))
        return out
    if isinstance(detail, list):
        out = []
        if all(isinstance(item, exceptions.ErrorDetail | str) for item in detail):
            for item in detail:
                out.append({"loc": loc, "msg": str(item), "type": f"value_error.{getattr(item, 'code', 'invalid')}"})
            return out
        for index, item in enumerate(detail):
            if item:
                out.extend(_flatten(item, [*loc, index]))
        return out
    return [{"loc": loc, "msg": str(detail), "type": f"value_error.{getattr(detail, 'code', 'invalid')}"}]


def validation_response(errors: list[dict]) -> Response:
    return Response(
        {"exception_message": INVALID_REQUEST, "exception_detail": errors, "request_body": None},
        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
    )


def exception_handler(exc, context):
    if isinstance(exc, Invalid):
        # an Invalid may carry several failures (`errors`, e.g. every parameter that fails a schema)
        errors = getattr(exc, "errors", None)
        return validation_response(errors or [{"loc": exc.loc, "msg": exc.detail, "type": f"value_error.{exc.code}"}])
    if isinstance(exc, DomainError):
        body = {"detail": exc.detail, "code": exc.code, **exc.extra}
        return Response(body, status=exc.status_code, headers=getattr(exc, "headers", None))
    if isinstance(exc, exceptions.ValidationError):
        return validation_response(_flatten(exc.detail, ["body"]))
    if isinstance(exc, DataError):
        # SQLSTATE class 22 (data exception): the database refused a value the request carried, such as a number
        # past JSON's range in free-form JSON (a flow run's parameters: `1e400` parses as infinity, which jsonb
        # refuses). The client's input, so a 422 like any invalid field, not a 500; the refused statement wrote
        # nothing, and a service's atomic block around it was rolled back as the error left it.
        return validation_response([{"loc": ["body"], "msg": DATA_REFUSED, "type": "value_error.data"}])
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response.status_code = status.HTTP_401_UNAUTHORIZED
    if isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {"detail": str(detail)}
        if getattr(detail, "code", None):
            response.data["code"] = detail.code
    return response
