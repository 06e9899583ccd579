"""Service accounts of an organization (non-human members for CI, agents and workers): listed for every member;
Owners and Admins create them (their first pnb_ key shown once), rename them, change their role, issue and
revoke keys, and delete them."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache

from apps.core.errors import DomainError
from apps.organizations import selectors, services
from apps.web.forms import ApiKeyCreateForm, ServiceAccountCreateForm, ServiceAccountForm, form_error_from
from apps.web.pages import MEMBER, OrganizationPageView
from apps.web.views.api_keys import expiry_from_date
from apps.web.views.members import role_choices

MANAGE = "organization:manage"
_FIELDS = {"name": "name", "name_taken": "name", "account_role_id": "role", "expiration": "expires_on"}


def _bot_or_404(request, bot_id):
    """The URL's service account, looked up in the URL's organization only: another organization's is 404."""
    try:
        return selectors.service_account_get(organization=request.organization, service_account_id=bot_id)
    except DomainError:
        raise Http404 from None


@method_decorator(never_cache, name="dispatch")
class ServiceAccountListView(OrganizationPageView):
    required_permissions = {"GET": MEMBER, "POST": MANAGE}

    def get(self, request, org):
        return self._render(request, ServiceAccountCreateForm())

    def post(self, request, org):
        form = ServiceAccountCreateForm(request.POST)
        form.fields["role"].choices = role_choices(request.access)
        if not form.is_valid():
            return self._render(request, form, status=400)
        data = form.cleaned_data
        try:
            bot, key, secret = services.service_account_create(
                organization=request.organization, name=data["name"], role=data["role"], actor=request.user,
                api_key_expires_at=expiry_from_date(data["expires_on"]))
        except DomainError as error:
            form_error_from(form, error, fields=_FIELDS)
            return self._render(request, form, status=error.status_code)
        # Rendered, not redirected: the secret exists only in this answer.
        return _detail(request, _bot_or_404(request, bot.pk), created_key=key, secret=secret)

    def _render(self, request, form, status=200):
        form.fields["role"].choices = role_choices(request.access)
        return render(request, "web/service_accounts/list.html", {
            "organization": request.organization,
            "bots": [(bot, selectors.service_account_current_key(bot))
                     for bot in selectors.service_account_list(organization=request.organization)],
            "can_manage": request.access.has(MANAGE),
            "form": form,
        }, status=status)


def _detail(request, bot, *, form=None, key_form=None, created_key=None, secret=None, status=200):
    can_manage = request.access.has(MANAGE)
    if can_manage and form is None:
        form = ServiceAccountForm(initial={"name": bot.name, "role": bot.role})
    if form is not None:
        form.fields["role"].choices = role_choices(request.access)
    return render(request, "web/service_accounts/detail.html", {
        "organization": request.organization,
        "bot": bot,
        "keys": list(selectors.service_account_key_list(service_account=bot)) if can_manage else [],
        "can_manage": can_manage,
        "form": form,
        "key_form": key_form or (ApiKeyCreateForm(prefix="key") if can_manage else None),
        "created_key": created_key,
        "secret": secret,
    }, status=status)


@method_decorator(never_cache, name="dispatch")
class ServiceAccountDetailView(OrganizationPageView):
    """A service account; POST saves its name and role."""

    required_permissions = {"GET": MEMBER, "POST": MANAGE}

    def get(self, request, org, bot_id):
        return _detail(request, _bot_or_404(request, bot_id))

    def post(self, request, org, bot_id):
        bot = _bot_or_404(request, bot_id)
        form = ServiceAccountForm(request.POST)
        form.fields["role"].choices = role_choices(request.access)
        if not form.is_valid():
            return _detail(request, bot, form=form, status=400)
        try:
            services.service_account_update(service_account=bot, name=form.cleaned_data["name"],
                                            role=form.cleaned_data["role"], actor=request.user)
        except DomainError as error:
            form_error_from(form, error, fields=_FIELDS)
            return _detail(request, _bot_or_404(request, bot_id), form=form, status=error.status_code)
        messages.success(request, f"Service account {bot.name} saved.")
        return redirect("web:service-account", org=org, bot_id=bot.pk)


@method_decorator(never_cache, name="dispatch")
class ServiceAccountKeyCreateView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, bot_id):
        bot = _bot_or_404(request, bot_id)
        key_form = ApiKeyCreateForm(request.POST, prefix="key")
        if not key_form.is_valid():
            return _detail(request, bot, key_form=key_form, status=400)
        try:
            key, secret = services.service_account_key_create(
                service_account=bot, name=key_form.cleaned_data["name"], actor=request.user,
                expires_at=expiry_from_date(key_form.cleaned_data["expires_on"]))
        except DomainError as error:
            form_error_from(key_form, error, fields={"name": "name", "expiration": "expires_on"})
            return _detail(request, bot, key_form=key_form, status=error.status_code)
        return _detail(request, bot, created_key=key, secret=secret)


class ServiceAccountKeyRevokeView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, bot_id, key_id):
        bot = _bot_or_404(request, bot_id)
        try:
            key = services.service_account_key_revoke(service_account=bot, key_id=key_id, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:service-account", org=org, bot_id=bot.pk)
        messages.success(request, f"The key “{key.name}” is revoked: it no longer authenticates.")
        return redirect("web:service-account", org=org, bot_id=bot.pk)


class ServiceAccountDeleteView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, bot_id):
        bot = _bot_or_404(request, bot_id)
        try:
            services.service_account_delete(service_account=bot, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:service-account", org=org, bot_id=bot.pk)
        messages.success(request, f"Service account {bot.name} deleted: its keys no longer work.")
        return redirect("web:service-accounts", org=org)
