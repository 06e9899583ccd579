"""Middleware recording where the current request came from (IP, user agent) for audit events.

Services take no request objects; this stores plain data for the duration of one request, and
`audit_record` uses it when its caller passes no explicit context. Outside a request (Celery,
management commands) the context is empty.
"""

from __future__ import annotations

from apps.audit.services import _CURRENT_CONTEXT, RequestContext

# RequestContext is immutable and depends only on the address and the user agent: one per pair, shared by the
# requests that bring the same pair (a client sends the same ones on every request). Bounded (the user agent is the
# client's to choose): emptied when full.
_CONTEXTS: dict = {}
_CONTEXTS_MAX = 1024


def request_context_enter(request):
    """Record `request` as the current request's context; returns the token `request_context_leave` takes."""
    meta = request.META
    pair = (meta.get("REMOTE_ADDR"), meta.get("HTTP_USER_AGENT"))
    context = _CONTEXTS.get(pair)
    if context is None:
        context = RequestContext.from_request(request)
        if len(_CONTEXTS) >= _CONTEXTS_MAX:
            _CONTEXTS.clear()
        _CONTEXTS[pair] = context
    return _CURRENT_CONTEXT.set(context)


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
