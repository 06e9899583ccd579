"""How the OpenAPI document describes our authentication: a bearer API key, or the browser's session."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "A personal (pnu_…) or service account (pnb_…) API key."}


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apps.identity.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "The browser's session (unsafe methods also need the CSRF token)."}
