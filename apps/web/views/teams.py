"""Teams of an organization: every member sees them and their members; Owners and Admins create, rename,
describe and delete teams and add or remove members. Workspace roles are granted to teams on a workspace's
Access page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.errors import DomainError
from apps.organizations import selectors, services
from apps.web.forms import TeamForm, form_error_from
from apps.web.pages import MEMBER, OrganizationPageView

MANAGE = "organization:manage"
_FIELDS = {"name": "name", "name_taken": "name", "description": "description"}


class TeamListView(OrganizationPageView):
    required_permissions = {"GET": MEMBER, "POST": MANAGE}

    def get(self, request, org):
        return self._render(request, TeamForm())

    def post(self, request, org):
        form = TeamForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            team = services.team_create(organization=request.organization, name=form.cleaned_data["name"],
                                        description=form.cleaned_data["description"], actor=request.user)
        except DomainError as error:
            form_error_from(form, error, fields=_FIELDS)
            return self._render(request, form, status=error.status_code)
        messages.success(request, f"Team {team.name} created: add its members below.")
        return redirect("web:team", org=org, team_id=team.pk)

    def _render(self, request, form, status=200):
        return render(request, "web/teams/teams.html", {
            "organization": request.organization,
            "teams": selectors.team_list(organization=request.organization),
            "can_manage": request.access.has(MANAGE),
            "form": form,
        }, status=status)


def _team_or_404(request, team_id):
    """The URL's team, looked up in the URL's organization only: another organization's is 404."""
    try:
        return selectors.team_get(organization=request.organization, team_id=team_id)
    except DomainError:
        raise Http404 from None


def _team_page(request, team, *, form=None, status=200):
    can_manage = request.access.has(MANAGE)
    members = list(team.members.all())
    candidates = []
    if can_manage:
        on_team = {u.pk for u in members}
        candidates = [m.user for m in selectors.membership_list(organization=request.organization)
                      if m.user_id not in on_team]
    return render(request, "web/teams/team.html", {
        "organization": request.organization,
        "team": team,
        "members": members,
        "candidates": candidates,
        "can_manage": can_manage,
        "form": form or (TeamForm(initial={"name": team.name, "description": team.description}) if can_manage
                         else None),
    }, status=status)


class TeamDetailView(OrganizationPageView):
    """A team and its members; POST saves its name and description."""

    required_permissions = {"GET": MEMBER, "POST": MANAGE}

    def get(self, request, org, team_id):
        return _team_page(request, self._team(request, team_id))

    def post(self, request, org, team_id):
        team = self._team(request, team_id)
        form = TeamForm(request.POST)
        if not form.is_valid():
            return _team_page(request, team, form=form, status=400)
        try:
            services.team_update(team=team, name=form.cleaned_data["name"],
                                 description=form.cleaned_data["description"], actor=request.user)
        except DomainError as error:
            form_error_from(form, error, fields=_FIELDS)
            return _team_page(request, self._team(request, team_id), form=form, status=error.status_code)
        messages.success(request, f"Team {team.name} saved.")
        return redirect("web:team", org=org, team_id=team.pk)

    @staticmethod
    def _team(request, team_id):
        return _team_or_404(request, team_id)


class TeamDeleteView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, team_id):
        team = _team_or_404(request, team_id)
        try:
            services.team_delete(team=team, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:teams", org=org)
        messages.success(request, f"Team {team.name} deleted. Its members stay in {request.organization.name}.")
        return redirect("web:teams", org=org)


class TeamMemberAddView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, team_id):
        team = _team_or_404(request, team_id)
        try:
            services.team_add_member(team=team, user_id=request.POST.get("user", ""), actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail if error.code != "member_not_found"
                           else "Choose a member of the organization to add.")
            return redirect("web:team", org=org, team_id=team_id)
        messages.success(request, f"Member added to {team.name}.")
        return redirect("web:team", org=org, team_id=team.pk)


class TeamMemberRemoveView(OrganizationPageView):
    required_permissions = {"POST": MANAGE}

    def post(self, request, org, team_id, user_id):
        team = _team_or_404(request, team_id)
        try:
            services.team_remove_member(team=team, user_id=user_id, actor=request.user)
        except DomainError as error:
            messages.error(request, error.detail)
            return redirect("web:team", org=org, team_id=team_id)
        messages.success(request, f"Member removed from {team.name}.")
        return redirect("web:team", org=org, team_id=team.pk)
