"""An organization's overview: its workspaces, and for Owners and Admins, creating and deleting them."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.errors import DomainError, LimitExceeded
from apps.web.forms import WorkspaceCreateForm, form_error_from
from apps.web.pages import MEMBER, OrganizationPageView
from apps.web.views.billing import limit_rows
from apps.workspaces.selectors import workspace_list, workspace_list_for_actor
from apps.workspaces.services import workspace_create, workspace_delete

MANAGE = "organization:manage"


def _workspaces_of(request):
    return [ws for ws in workspace_list_for_actor(actor=request.user) if ws.organization_id == request.organization.pk]


class OrganizationSlashView(OrganizationPageView):
    """/{org} → /{org}/ for members (and 404 for anyone else, rather than a blind slash redirect)."""

    required_permissions = {"GET": MEMBER}

    def get(self, request, org):
        return redirect("web:organization", org=request.organization.handle)


class OrganizationHomeView(OrganizationPageView):
    required_permissions = {"GET": MEMBER}

    def get(self, request, org):
        can_manage = request.access.has(MANAGE)
        return render(request, "web/organization.html", {
            "organization": request.organization,
            "workspaces": _workspaces_of(request),
            "can_manage": can_manage,
            # After a downgrade: what is over the tier's limits (kept; nothing more of it can be added).
            "over_limits": [r for r in limit_rows(request.organization) if r["over"]] if can_manage else [],
        })


class WorkspaceCreateView(OrganizationPageView):
    required_permissions = {"GET": MANAGE, "POST": MANAGE}

    def get(self, request, org):
        return self._render(request, WorkspaceCreateForm())

    def post(self, request, org):
        form = WorkspaceCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        data = form.cleaned_data
        try:
            workspace = workspace_create(organization=request.organization, name=data["name"], handle=data["handle"],
                                         description=data["description"], actor=request.user)
        except LimitExceeded as error:
            return self._render(request, form, status=error.status_code, upgrade=error)
        except DomainError as error:
            form_error_from(form, error, fields={"name": "name", "handle": "handle", "handle_taken": "handle",
                                                 "description": "description"})
            return self._render(request, form, status=400)
        return redirect("web:workspace", org=request.organization.handle, ws=workspace.handle)

    def _render(self, request, form, status=200, upgrade=None):
        return render(request, "web/workspace_create.html",
                      {"organization": request.organization, "form": form, "upgrade": upgrade}, status=status)


class WorkspaceDeleteView(OrganizationPageView):
    """Delete a workspace with everything in it, after typing its handle (Owners and Admins). Also how an
    organization over its workspace limit after a downgrade gets back under: a read-only workspace can be
    deleted, and the one it held back becomes writable at once."""

    required_permissions = {"GET": MANAGE, "POST": MANAGE}

    def _workspace(self, request, ws):
        workspace = workspace_list(organization=request.organization, handles=[ws]).first()
        if workspace is None:
            raise Http404
        return workspace

    def get(self, request, org, ws):
        return self._render(request, self._workspace(request, ws))

    def post(self, request, org, ws):
        workspace = self._workspace(request, ws)
        if request.POST.get("confirm", "").strip() != workspace.handle:
            return self._render(request, workspace, status=400,
                                error=f"Type {workspace.handle} to confirm: nothing was deleted.")
        try:
            workspace_delete(workspace=workspace, actor=request.user)
        except DomainError as error:
            return self._render(request, workspace, status=error.status_code, error=error.detail)
        messages.success(request, f"The workspace {workspace.name} and everything in it was deleted.")
        return redirect("web:organization", org=request.organization.handle)

    def _render(self, request, workspace, status=200, error=None):
        return render(request, "web/workspace_delete.html",
                      {"organization": request.organization, "workspace": workspace, "error": error}, status=status)
