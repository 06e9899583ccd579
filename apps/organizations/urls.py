"""Organization (Cloud "account") routes, mounted under /api/: the account, its roles, memberships,
invitations, teams and service accounts ("bots"); and the invitee's own invitations under /me/."""

from django.urls import path

from apps.core.api.routes import both_slashes
from apps.organizations.api import accounts, bots, invitations, teams

_A = "accounts/<str:account_id>/"

urlpatterns = [
    *both_slashes("accounts/<str:account_id>", accounts.AccountView.as_view(), "account"),
    *both_slashes(_A + "account_roles/", accounts.AccountRolesView.as_view(), "account-roles"),
    path(_A + "account_roles/filter", accounts.AccountRolesFilterView.as_view(), name="account-roles-filter"),
    path(_A + "account_roles/<str:role_id>", accounts.AccountRoleDetailView.as_view(), name="account-role"),
    *both_slashes(_A + "account_memberships/", accounts.MembershipsView.as_view(), "account-memberships"),
    path(_A + "account_memberships/filter", accounts.MembershipsFilterView.as_view(),
         name="account-memberships-filter"),
    path(_A + "account_memberships/<str:membership_id>", accounts.MembershipDetailView.as_view(),
         name="account-membership"),
    *both_slashes(_A + "invitations/", invitations.InvitationsView.as_view(), "invitations"),
    path(_A + "invitations/filter", invitations.InvitationsFilterView.as_view(), name="invitations-filter"),
    path(_A + "invitations/<str:invitation_id>", invitations.InvitationDetailView.as_view(), name="invitation"),
    *both_slashes(_A + "teams/", teams.TeamsView.as_view(), "teams"),
    path(_A + "teams/filter", teams.TeamsFilterView.as_view(), name="teams-filter"),
    path(_A + "teams/<str:team_id>", teams.TeamDetailView.as_view(), name="team"),
    *both_slashes(_A + "teams/<str:team_id>/members", teams.TeamMembersView.as_view(), "team-members"),
    path(_A + "teams/<str:team_id>/members/<str:member_id>", teams.TeamMemberDetailView.as_view(),
         name="team-member"),
    *both_slashes(_A + "bots/", bots.BotsView.as_view(), "bots"),
    path(_A + "bots/filter", bots.BotsFilterView.as_view(), name="bots-filter"),
    path(_A + "bots/<str:bot_id>", bots.BotDetailView.as_view(), name="bot"),
    path(_A + "bots/<str:bot_id>/rotate_api_key", bots.BotRotateKeyView.as_view(), name="bot-rotate-api-key"),
    *both_slashes(_A + "bots/<str:bot_id>/api_keys", bots.BotApiKeysView.as_view(), "bot-api-keys"),
    path(_A + "bots/<str:bot_id>/api_keys/<str:key_id>", bots.BotApiKeyDetailView.as_view(), name="bot-api-key"),
    *both_slashes("me/invitations", invitations.MyInvitationsView.as_view(), "me-invitations"),
    path("me/invitations/<str:invitation_id>/accept", invitations.MyInvitationAcceptView.as_view(),
         name="me-invitation-accept"),
    path("me/invitations/<str:invitation_id>/decline", invitations.MyInvitationDeclineView.as_view(),
         name="me-invitation-decline"),
]
