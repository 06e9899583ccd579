"""Base views of the browser pages: sign-in, tenant resolution from the URL and declared permissions.

The same rules as the API's base views (apps/core/api/views.py): the organization and workspace come
from the URL, are resolved once per request, and each page declares what it needs per method. Not a
member → 404, as if the organization did not exist; a member without the permission → 403.
"""

from __future__ import annotations

from dataclasses import replace

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.views import View

from apps.access.selectors import Access, effective_access, organization_access
from apps.billing.services import READ_ONLY_STILL_ALLOWED, read_only_check
from apps.core.declarations import check_view_declaration
from apps.core.errors import LimitExceeded
from apps.organizations.models import Organization
from apps.workspaces.models import Workspace

ANYONE = "anyone"  # anonymous visitors too (an invitation link's landing page: it asks them to sign in)
SIGNED_IN = "signed_in"  # any signed-in user (their own settings, onboarding)
MEMBER = "member"  # any member of the URL's organization or workspace, whatever their role
_PROTECTED = ("dispatch", "tenant_exists", "resolve_tenant", "check_declared_permission")


class PageView(View):
    """Every page declares `required_permissions = {METHOD: permission}` for each method it serves."""

    required_permissions: dict[str, str] | None = None
    # Methods that stay open in a read-only workspace (over a tier limit) because they only take something
    # away, as the API's `is_work_under_way` (revoking a grant must never be refused for being over a limit).
    allowed_when_read_only: frozenset[str] = frozenset()
    abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        check_view_declaration(cls, _PROTECTED)

    def dispatch(self, request, *args, **kwargs):
        method = "GET" if request.method == "HEAD" else request.method
        if not request.user.is_authenticated and (self.required_permissions or {}).get(method) != ANYONE:
            # An unknown organization is "not found" for everyone; a real one asks to sign in first.
            if not self.tenant_exists(kwargs):
                raise Http404
            return redirect_to_login(request.get_full_path())
        request.access = None
        self.resolve_tenant(request, kwargs)
        self.check_declared_permission(request)
        workspace = getattr(request, "workspace", None)
        if workspace is not None:
            # The API's rule (apps/core/api/views.py): over a tier limit, only reads; here any page that
            # needs more than a read answers 402 with the upgrade prompt instead of its form.
            needed = (self.required_permissions or {}).get(method)
            if needed in (ANYONE, SIGNED_IN, MEMBER) or method in self.allowed_when_read_only:
                needed = None
            try:
                read_only_check(workspace=workspace, access=request.access, permission=needed)
            except LimitExceeded as refusal:
                return render(request, "web/read_only.html", {"organization": request.organization,
                                                              "workspace": workspace, "upgrade": refusal},
                              status=refusal.status_code)
            if workspace.read_only or request.access.read_only:
                # Pages offer only what can still be done: their write buttons and forms disappear
                # (`request.unmasked_access` keeps what the caller holds, for what stays allowed).
                request.unmasked_access = request.access
                request.access = replace(request.access,
                                         permissions=request.access.permissions & READ_ONLY_STILL_ALLOWED)
        return super().dispatch(request, *args, **kwargs)

    def tenant_exists(self, kwargs) -> bool:
        return True

    def resolve_tenant(self, request, kwargs) -> None:
        """Pages outside any organization resolve nothing."""

    def check_declared_permission(self, request) -> None:
        method = "GET" if request.method == "HEAD" else request.method
        needed = (self.required_permissions or {}).get(method)
        if needed is None or needed in (SIGNED_IN, ANYONE):
            # Undeclared methods never reach a handler: View.dispatch answers 405 for them.
            return
        access: Access | None = request.access
        if access is None or not access.is_member:
            raise Http404
        if needed != MEMBER and not access.has(needed):
            raise PermissionDenied(f"This page needs the permission {needed}.")


def _organization_for(request, handle: str) -> tuple[Organization, Access]:
    # Same answer for "no such handle" and "not a member": the page does not exist for this user.
    organization = Organization.objects.filter(handle=handle).first()
    if organization is None:
        raise Http404
    access = organization_access(request.user, organization.pk)
    if not access.is_member:
        raise Http404
    return organization, access


def _organization_handle_exists(kwargs) -> bool:
    return Organization.objects.filter(handle=kwargs["org"]).exists()


class OrganizationPageView(PageView):
    """Pages under /{org}/: the URL's `org` handle is resolved and membership required."""

    abstract = True

    def tenant_exists(self, kwargs) -> bool:
        return _organization_handle_exists(kwargs)

    def resolve_tenant(self, request, kwargs) -> None:
        organization, access = _organization_for(request, kwargs["org"])
        request.organization = organization
        request.access = access


class WorkspacePageView(PageView):
    """Pages under /{org}/{ws}/: the workspace is resolved inside the URL's organization and the user's
    effective access in it computed once. No access at all → 404."""

    abstract = True

    def tenant_exists(self, kwargs) -> bool:
        return _organization_handle_exists(kwargs)

    def resolve_tenant(self, request, kwargs) -> None:
        organization, _ = _organization_for(request, kwargs["org"])
        workspace = Workspace.objects.for_organization(organization).filter(handle=kwargs["ws"]).first()
        if workspace is None:
            raise Http404
        workspace.organization = organization
        access = effective_access(request.user, workspace)
        if not access.is_member:
            raise Http404
        request.organization = organization
        request.workspace = workspace
        request.access = access
