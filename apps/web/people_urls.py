"""Browser routes for an organization's people (issue 2): members and invitations (and the invitee's side of
an invitation), teams and service accounts. Organization pages sit under /{org}/-/, which no workspace handle
can shadow; "invitations" is a reserved organization handle (apps/web/routing.py)."""

from django.urls import path

import apps.web.routing  # noqa: F401  (registers the "org" and "handle" path converters)
from apps.web.views import invitations, members, service_accounts, teams

urlpatterns = [
    path("invitations/<uuid:invitation_id>/answer", invitations.InvitationAnswerView.as_view(),
         name="invitation-answer"),
    path("invitations/<str:token>", invitations.InvitationLinkView.as_view(), name="invitation"),
    path("<org:org>/-/members/", members.MembersView.as_view(), name="members"),
    path("<org:org>/-/members/<uuid:membership_id>/role", members.MemberRoleView.as_view(), name="member-role"),
    path("<org:org>/-/members/<uuid:membership_id>/remove", members.MemberRemoveView.as_view(),
         name="member-remove"),
    path("<org:org>/-/invitations/<uuid:invitation_id>/revoke", members.InvitationRevokeView.as_view(),
         name="invitation-revoke"),
    path("<org:org>/-/teams/", teams.TeamListView.as_view(), name="teams"),
    path("<org:org>/-/teams/<uuid:team_id>/", teams.TeamDetailView.as_view(), name="team"),
    path("<org:org>/-/teams/<uuid:team_id>/delete", teams.TeamDeleteView.as_view(), name="team-delete"),
    path("<org:org>/-/teams/<uuid:team_id>/members/add", teams.TeamMemberAddView.as_view(), name="team-member-add"),
    path("<org:org>/-/teams/<uuid:team_id>/members/<uuid:user_id>/remove", teams.TeamMemberRemoveView.as_view(),
         name="team-member-remove"),
    path("<org:org>/-/service-accounts/", service_accounts.ServiceAccountListView.as_view(),
         name="service-accounts"),
    path("<org:org>/-/service-accounts/<uuid:bot_id>/", service_accounts.ServiceAccountDetailView.as_view(),
         name="service-account"),
    path("<org:org>/-/service-accounts/<uuid:bot_id>/keys", service_accounts.ServiceAccountKeyCreateView.as_view(),
         name="service-account-key-create"),
    path("<org:org>/-/service-accounts/<uuid:bot_id>/keys/<uuid:key_id>/revoke",
         service_accounts.ServiceAccountKeyRevokeView.as_view(), name="service-account-key-revoke"),
    path("<org:org>/-/service-accounts/<uuid:bot_id>/delete", service_accounts.ServiceAccountDeleteView.as_view(),
         name="service-account-delete"),
]
