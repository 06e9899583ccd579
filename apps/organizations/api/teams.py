"""Teams and their members: Prefect Cloud's `/accounts/{a}/teams` paths, `{id, name, description}` plus the
members (prefetched: one query for all teams of a page)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.api.inputs import any_of, body, page, valid
from apps.core.api.views import AccountAPIView
from apps.organizations import selectors, services
from apps.organizations.api import serializers as s

READ = "organization:read"
MANAGE = "organization:manage"


class TeamsView(AccountAPIView):
    required_permissions = {"GET": READ, "POST": MANAGE}

    @extend_schema(responses=s.TeamOutput(many=True), operation_id="teams_list")
    def get(self, request, account_id):
        rows = page(selectors.team_list(organization=self.organization), request.query_params)
        return Response([s.team_row(t) for t in rows])

    @extend_schema(request=s.TeamCreateInput, responses={201: s.TeamOutput}, operation_id="teams_create")
    def post(self, request, account_id):
        data = valid(s.TeamCreateInput, body(request))
        team = services.team_create(organization=self.organization, name=data["name"],
                                    description=data["description"], actor=request.user)
        return Response(s.team_row(selectors.team_get(organization=self.organization, team_id=team.pk)),
                        status=status.HTTP_201_CREATED)


class TeamsFilterView(AccountAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=s.TeamFilterInput, responses=s.TeamOutput(many=True), operation_id="teams_filter")
    def post(self, request, account_id):
        data = valid(s.TeamFilterInput, body(request))
        rows = selectors.team_list(organization=self.organization, names=any_of(data.get("teams"), "name"))
        return Response([s.team_row(t) for t in page(rows, data)])


class TeamDetailView(AccountAPIView):
    """GET a team; PUT replaces its name and description (as on Cloud), PATCH changes either; DELETE removes
    the team (its members stay in the organization)."""

    required_permissions = {"GET": READ, "PUT": MANAGE, "PATCH": MANAGE, "DELETE": MANAGE}

    def _team(self, team_id):
        return selectors.team_get(organization=self.organization, team_id=team_id)

    @extend_schema(responses=s.TeamOutput, operation_id="teams_read")
    def get(self, request, account_id, team_id):
        return Response(s.team_row(self._team(team_id)))

    def _update(self, request, team_id, serializer_class):
        team = self._team(team_id)
        data = valid(serializer_class, body(request))
        services.team_update(team=team, actor=request.user, name=data.get("name"),
                             description=data.get("description"))
        return Response(s.team_row(self._team(team_id)))

    @extend_schema(request=s.TeamUpdateInput, responses=s.TeamOutput, operation_id="teams_replace")
    def put(self, request, account_id, team_id):
        return self._update(request, team_id, s.TeamUpdateInput)

    @extend_schema(request=s.TeamPatchInput, responses=s.TeamOutput, operation_id="teams_update")
    def patch(self, request, account_id, team_id):
        return self._update(request, team_id, s.TeamPatchInput)

    @extend_schema(responses={204: None}, operation_id="teams_delete")
    def delete(self, request, account_id, team_id):
        services.team_delete(team=self._team(team_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TeamMembersView(AccountAPIView):
    """GET the team's members; PUT makes them exactly the given list (Cloud's body); POST adds one."""

    required_permissions = {"GET": READ, "PUT": MANAGE, "POST": MANAGE}

    def _team(self, team_id):
        return selectors.team_get(organization=self.organization, team_id=team_id)

    def _members(self, team_id):
        return Response([s.team_member_row(u) for u in self._team(team_id).members.all()])

    @extend_schema(responses=s.TeamMemberOutput(many=True), operation_id="team_members_list")
    def get(self, request, account_id, team_id):
        return self._members(team_id)

    @extend_schema(request=s.TeamMembersInput, responses=s.TeamMemberOutput(many=True),
                   operation_id="team_members_replace",
                   description="Every member_id must be a user who is a member of the organization (else 404, "
                               "nothing changed).")
    def put(self, request, account_id, team_id):
        team = self._team(team_id)
        data = valid(s.TeamMembersInput, body(request))
        services.team_set_members(team=team, user_ids=[m["member_id"] for m in data["members"]],
                                  actor=request.user)
        return self._members(team_id)

    @extend_schema(request=s.TeamMemberInput, responses={201: s.TeamMemberOutput(many=True)},
                   operation_id="team_members_add")
    def post(self, request, account_id, team_id):
        team = self._team(team_id)
        data = valid(s.TeamMemberInput, body(request))
        services.team_add_member(team=team, user_id=data["member_id"], actor=request.user)
        response = self._members(team_id)
        response.status_code = status.HTTP_201_CREATED
        return response


class TeamMemberDetailView(AccountAPIView):
    required_permissions = {"DELETE": MANAGE}

    @extend_schema(responses={204: None}, operation_id="team_members_remove")
    def delete(self, request, account_id, team_id, member_id):
        team = selectors.team_get(organization=self.organization, team_id=team_id)
        services.team_remove_member(team=team, user_id=member_id, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
