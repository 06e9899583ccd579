"""DRF authentication: `Authorization: Bearer pnu_…|pnb_…`, then browser sessions."""

from __future__ import annotations

from rest_framework import authentication, exceptions

from apps.core.errors import NotFound
from apps.identity.services import api_key_owner_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticates API keys. `request.user` becomes the key's owner (a User or a ServiceAccount),
    `request.auth` the ApiKey. A malformed, unknown, revoked or expired key is 401 at once."""

    keyword = "bearer"
    _keyword = keyword.encode()  # as the header's bytes are compared (encoded once, not per request)

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self._keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: use 'Bearer <api key>'.")
        try:
            secret = parts[1].decode("ascii")
            owner, key = api_key_owner_authenticate(secret)
        except (UnicodeDecodeError, NotFound) as exc:
            detail = str(exc) if isinstance(exc, NotFound) else "Invalid API key."
            raise exceptions.AuthenticationFailed(detail) from None
        request._praetor_api_key = key
        return owner, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class SessionAuthentication(authentication.SessionAuthentication):
    """The browser's session, with CSRF enforced on unsafe methods (DRF's behaviour)."""
