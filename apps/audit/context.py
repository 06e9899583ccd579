"""Middleware recording where the current request came from (IP, user agent) for audit events.

Services take no request objects; this stores plain data for the duration of one request, and
`audit_record` uses it when its caller passes no explicit context. Outside a request (Celery,
management commands) the context is empty.
"""

from __future__ import annotations

from apps.audit.services import _CURRENT_CONTEXT, RequestContext


def request_context_enter(request):
    """Record `request` as the current request's context; returns the token `request_context_leave` takes."""
    return _CURRENT_CONTEXT.set(RequestContext.from_request(request))


def request_context_leave(token) -> None:
    _CURRENT_CONTEXT.reset(token)


class AuditContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = request_context_enter(request)
        try:
            return self.get_response(request)
        finally:
            request_context_leave(token)
