"""The signed-in home (every workspace the user reaches) and the first-run onboarding."""

from __future__ import annotations

from itertools import groupby

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render

from apps.core.errors import DomainError
from apps.organizations.selectors import invitation_list_for_user, organization_list_for_user
from apps.organizations.services import organization_create
from apps.web.forms import OnboardingForm, form_error_from
from apps.web.pages import SIGNED_IN, PageView
from apps.workspaces.selectors import workspace_list_for_actor
from apps.workspaces.services import workspace_create

_ORGANIZATION_FIELDS = {"name": "organization_name", "handle": "organization_handle",
                        "handle_taken": "organization_handle"}
_WORKSPACE_FIELDS = {"name": "workspace_name", "handle": "workspace_handle", "handle_taken": "workspace_handle"}


class HomeView(PageView):
    """Every organization the user belongs to, with its workspaces; first-timers go to onboarding."""

    required_permissions = {"GET": SIGNED_IN}

    def get(self, request):
        organizations = list(organization_list_for_user(user=request.user))
        # Someone who signed up through an invitation link lands here: show it rather than onboarding.
        invitations = list(invitation_list_for_user(user=request.user))
        if not organizations and not invitations:
            return redirect("web:onboarding")
        workspaces = {
            org_id: list(rows)
            for org_id, rows in groupby(workspace_list_for_actor(actor=request.user), key=lambda w: w.organization_id)
        }
        groups = [(org, workspaces.get(org.pk, [])) for org in organizations]
        return render(request, "web/home.html", {"groups": groups, "invitations": invitations})


class OnboardingView(PageView):
    """Create an organization (the user is its Owner) and its first workspace, then open the workspace."""

    required_permissions = {"GET": SIGNED_IN, "POST": SIGNED_IN}

    def get(self, request):
        return self._render(request, OnboardingForm())

    def post(self, request):
        form = OnboardingForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        data = form.cleaned_data
        fields = _ORGANIZATION_FIELDS
        try:
            # Both or neither: a taken workspace handle must not leave an organization behind.
            with transaction.atomic():
                organization = organization_create(
                    name=data["organization_name"], handle=data["organization_handle"], owner=request.user
                )
                fields = _WORKSPACE_FIELDS
                workspace = workspace_create(
                    organization=organization, name=data["workspace_name"], handle=data["workspace_handle"],
                    actor=request.user,
                )
        except DomainError as error:
            form_error_from(form, error, fields=fields)
            return self._render(request, form, status=400)
        messages.success(request, f"{organization.name} and its workspace {workspace.name} are ready.")
        return redirect("web:workspace", org=organization.handle, ws=workspace.handle)

    def _render(self, request, form, status=200):
        first_time = not organization_list_for_user(user=request.user).exists()
        return render(request, "web/onboarding.html", {"form": form, "first_time": first_time}, status=status)
