"""Personal API keys (pnu_): list, create (the secret is shown once, on the response to the POST), revoke."""

from __future__ import annotations

from datetime import UTC, datetime, time

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from apps.core.errors import DomainError
from apps.identity.services import api_key_create, api_key_get_for_owner, api_key_revoke
from apps.web.forms import ApiKeyCreateForm, form_error_from
from apps.web.pages import SIGNED_IN, PageView

_KEY_FIELDS = {"name": "name", "expiration": "expires_on"}


def expiry_from_date(day) -> datetime | None:
    """A key "expiring on" a day stops working at 00:00 UTC that day."""
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


@method_decorator(never_cache, name="dispatch")
class ApiKeyListView(PageView):
    required_permissions = {"GET": SIGNED_IN, "POST": SIGNED_IN}

    def get(self, request):
        return self._render(request, ApiKeyCreateForm())

    def post(self, request):
        form = ApiKeyCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            key, secret = api_key_create(owner=request.user, name=form.cleaned_data["name"],
                                         expires_at=expiry_from_date(form.cleaned_data["expires_on"]))
        except DomainError as error:
            form_error_from(form, error, fields=_KEY_FIELDS)
            return self._render(request, form, status=400)
        # Rendered, not redirected: the secret exists only in this response (never_cache keeps it out of caches).
        return self._render(request, ApiKeyCreateForm(), created=key, secret=secret)

    def _render(self, request, form, *, created=None, secret=None, status=200):
        keys = request.user.api_keys.order_by("-created")
        return render(request, "web/api_keys.html", {
            "form": form, "keys": keys, "created": created, "secret": secret,
            "cloud_api_url": request.build_absolute_uri("/api").rstrip("/"),
        }, status=status)


class ApiKeyRevokeView(PageView):
    required_permissions = {"POST": SIGNED_IN}

    def post(self, request, key_id):
        try:
            # Looked up among the user's own keys only: another user's key id is "not found".
            key = api_key_get_for_owner(owner=request.user, key_id=key_id)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:api-keys")
        api_key_revoke(key=key)
        messages.success(request, f"The key “{key.name}” is revoked: it no longer authenticates.")
        return redirect("web:api-keys")
