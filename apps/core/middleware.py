"""Browser-only middleware: an API request that carries a bearer API key skips the middleware that only
serves browsers (session, CSRF, Django's session user, messages), a few percent of a hot request's CPU.

Why it is safe: under /api/ a `Bearer` header is always decided by ApiKeyAuthentication (the key's owner, or
401): DRF never falls back to the session for it, so nothing on that path reads a session, a session user,
a message or a CSRF token; DRF's views are CSRF-exempt anyway, and a browser never sends such a header. Every
other request, browser or API, runs the full stack unchanged. They subclass Django's classes, so Django's
and the admin's checks still find them.
"""

from __future__ import annotations

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.csrf import CsrfViewMiddleware

API_PREFIX = "/api/"


def carries_api_key(request) -> bool:
    """An API request with `Authorization: Bearer …` (the one ApiKeyAuthentication decides)."""
    return (request.path_info.startswith(API_PREFIX)
            and request.META.get("HTTP_AUTHORIZATION", "")[:7].lower() == "bearer ")


class _BrowserOnly:
    """Mixed in before a MiddlewareMixin class: requests carrying an API key go straight through."""

    async_capable = False

    def __call__(self, request):
        if carries_api_key(request):
            return self.get_response(request)
        return super().__call__(request)


class BrowserSessionMiddleware(_BrowserOnly, SessionMiddleware):
    pass


class BrowserAuthenticationMiddleware(_BrowserOnly, AuthenticationMiddleware):
    pass


class BrowserMessageMiddleware(_BrowserOnly, MessageMiddleware):
    pass


class BrowserCsrfViewMiddleware(_BrowserOnly, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if carries_api_key(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)
