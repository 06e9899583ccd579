"""A workspace's Access page: who holds which workspace role, granting, changing and removing roles.

Reading needs workspace:read; every change needs workspace:manage_access (Administrators, organization
Owners and Admins). The services decide (tier, tenancy, role existence); their errors are shown here.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render

from apps.access import selectors
from apps.access.services import workspace_access_delete, workspace_access_set
from apps.core.errors import DomainError
from apps.web.pages import WorkspacePageView

READ = "workspace:read"
MANAGE_ACCESS = "workspace:manage_access"
PRINCIPAL_TYPES = {"user": "user", "team": "team", "service_account": "service_account"}
TYPE_LABELS = {"user": "User", "team": "Team", "service_account": "Service account"}


def _rows(workspace) -> list[dict]:
    return [
        {"grant": g, "role": selectors.role_view_for_grant(g), "type": TYPE_LABELS[g.principal_type],
         "name": g.user.email if g.user_id else (g.team.name if g.team_id else g.service_account.name)}
        for g in selectors.workspace_grant_list(workspace=workspace)
    ]


def _render(request, *, error: DomainError | None = None, status: int = 200):
    organization, workspace = request.organization, request.workspace
    can_manage = request.access.has(MANAGE_ACCESS)
    # A read-only workspace (over a tier limit) masks writes, but revoking a grant stays allowed.
    can_revoke = getattr(request, "unmasked_access", request.access).has(MANAGE_ACCESS)
    context = {
        "organization": organization,
        "workspace": workspace,
        "rows": _rows(workspace),
        "can_manage": can_manage,
        "can_revoke": can_revoke,
        "roles_exposed": selectors.roles_exposed(organization),
        "tier_name": organization.get_tier_display(),
        "roles": selectors.workspace_role_list_grantable(organization=organization) if can_manage else [],
        "principals": selectors.principal_list(organization=organization) if can_manage else None,
        "error": error,
    }
    return render(request, "web/access/workspace_access.html", context, status=status)


class WorkspaceAccessView(WorkspacePageView):
    required_permissions = {"GET": READ, "POST": MANAGE_ACCESS}

    def get(self, request, org, ws):
        return _render(request)

    def post(self, request, org, ws):
        """Grant a role to a principal chosen as "<type>:<id>" (replacing the role it had here)."""
        principal_type, _, principal_id = request.POST.get("principal", "").partition(":")
        if principal_type not in PRINCIPAL_TYPES:
            return _render(request, error=DomainError("Choose a user, team or service account."), status=400)
        try:
            grant, created = workspace_access_set(
                workspace=request.workspace, principal_type=principal_type, principal_id=principal_id,
                role_id=request.POST.get("role", ""), actor=request.user,
            )
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        role = selectors.role_view_for_grant(grant)
        messages.success(request, f"{TYPE_LABELS[principal_type]} {_name(grant)} now has the role {role.name}.")
        return redirect("web:workspace-access", org=org, ws=ws)


class WorkspaceAccessChangeView(WorkspacePageView):
    required_permissions = {"POST": MANAGE_ACCESS}

    def post(self, request, org, ws, grant_id):
        try:
            grant = selectors.workspace_grant_get(workspace=request.workspace, grant_id=grant_id)
            grant, _ = workspace_access_set(
                workspace=request.workspace, principal_type=grant.principal_type, principal_id=grant.principal.pk,
                role_id=request.POST.get("role", ""), actor=request.user,
            )
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        messages.success(request, f"{_name(grant)} now has the role {selectors.role_view_for_grant(grant).name}.")
        return redirect("web:workspace-access", org=org, ws=ws)


class WorkspaceAccessRemoveView(WorkspacePageView):
    required_permissions = {"POST": MANAGE_ACCESS}
    allowed_when_read_only = frozenset({"POST"})  # revoking only takes access away

    def post(self, request, org, ws, grant_id):
        try:
            grant = selectors.workspace_grant_get(workspace=request.workspace, grant_id=grant_id)
            workspace_access_delete(grant=grant, actor=request.user)
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        messages.success(request, f"{_name(grant)} no longer has a role in this workspace.")
        return redirect("web:workspace-access", org=org, ws=ws)


def _name(grant) -> str:
    if grant.user_id:
        return grant.user.email
    return grant.team.name if grant.team_id else grant.service_account.name
