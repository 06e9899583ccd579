"""Domain errors raised by services; the API layer maps each to one HTTP status, once."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose. `code` is stable and machine-readable."""

    status_code = 400
    default_code = "error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.default_code
        self.extra = extra or {}


class NotFound(DomainError):
    """Absent, or belonging to another tenant: the same answer for both."""

    status_code = 404
    default_code = "not_found"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"


class Invalid(DomainError):
    """Input that is well-formed but not acceptable (rendered in the 422 validation shape)."""

    status_code = 422
    default_code = "invalid"

    def __init__(self, detail: str, *, loc: list | tuple = ("body",), code: str | None = None):
        super().__init__(detail, code=code)
        self.loc = list(loc)


class PermissionDenied(DomainError):
    status_code = 403
    default_code = "permission_denied"


class LimitExceeded(DomainError):
    """A billing-tier limit or feature gate; the message names the limit and the tier that lifts it."""

    status_code = 402
    default_code = "limit_exceeded"


class InvalidTransition(DomainError):
    status_code = 409
    default_code = "invalid_transition"
