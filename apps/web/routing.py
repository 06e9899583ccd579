"""URL converters for handles in browser paths.

Organization pages live at /{org}/, so an organization handle must never be one of the first path
segments of our own routes; the converter refuses those, so /api/… or /accounts/… never reach (or get
slash-redirected to) an organization page. tests/web/test_routing.py keeps RESERVED in step with the
URLconf.
"""

from __future__ import annotations

from django.urls import register_converter

from apps.core.validators import HANDLE_RE

RESERVED = frozenset({
    "accounts", "admin", "api", "health", "ready", "static", "media", "webhooks",
    "onboarding", "settings", "invitations", "favicon.ico", "robots.txt",
})


class HandleConverter:
    regex = HANDLE_RE.pattern.removeprefix("^").removesuffix("$")

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class OrganizationHandleConverter(HandleConverter):
    def to_python(self, value: str) -> str:
        if value in RESERVED:
            raise ValueError(value)  # not an organization page: let the other routes (or a 404) answer
        return value


# Registered once, here, so every URL module that imports this one can use <org:…> and <handle:…>.
register_converter(OrganizationHandleConverter, "org")
register_converter(HandleConverter, "handle")
