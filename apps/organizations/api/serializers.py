"""Input and output shapes of the organization endpoints: Prefect Cloud's where Cloud has the endpoint
(accounts, account_memberships, account_roles, bots, teams; shared/prefect2-compat/cloud-api.md).

Output rows are built by the `*_row` functions from rows the selectors loaded (no queries here)."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from apps.billing.selectors import Entitlements
from apps.core.api.serializers import StrictInputSerializer
from apps.identity.api.serializers import ApiKeyOutput, api_key_row
from apps.organizations.models import Invitation
from apps.organizations.roles import ACCOUNT_ROLES, account_role_for_id, account_role_for_key

ROLE_ID_HELP = "An account role id (GET …/account_roles/); Owner, Admin and Member have fixed ids."


def role_key_from_id(value, *, field: str = "account_role_id") -> str:
    """Cloud sends account role ids; our services take the role key."""
    role = account_role_for_id(value)
    if role is None:
        raise serializers.ValidationError({field: [f"Unknown account role id {value!r}."]})
    return role.key


class FilterAnyInput(StrictInputSerializer):
    """Cloud's `{"any_": [...]}` field filter."""

    any_ = serializers.ListField(child=serializers.CharField(max_length=254), max_length=200)


class PageInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)


# --- accounts --------------------------------------------------------------------------------------------


class AccountOutput(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    handle = serializers.CharField()
    link = serializers.CharField(help_text="The organization's page in the browser.")
    settings = serializers.DictField(help_text="The limits the organization's tier sets (null = unlimited).")
    domain_names = serializers.ListField(child=serializers.CharField(),
                                         help_text="Verified email domains (not supported: always empty).")
    plan_type = serializers.CharField(help_text="The billing tier: free, starter, growth or enterprise.")
    run_retention_days = serializers.IntegerField()
    audit_log_retention_days = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())


def account_row(organization, entitlements: Entitlements) -> dict:
    features = [name for name, on in (("workspace_roles", entitlements.workspace_roles),
                                      ("custom_roles", entitlements.custom_roles),
                                      ("audit_trail", entitlements.audit_trail)) if on]
    return {
        "id": organization.pk,
        "created": organization.created,
        "updated": organization.updated,
        "name": organization.name,
        "handle": organization.handle,
        "link": f"{settings.SITE_URL.rstrip('/')}/{organization.handle}/",
        "settings": {
            "max_members": entitlements.max_members,
            "max_workspaces": entitlements.max_workspaces,
            "rate_limit_api_per_minute": entitlements.rate_limit_api_per_minute,
        },
        "domain_names": [],
        "plan_type": entitlements.tier,
        "run_retention_days": entitlements.run_retention_days,
        "audit_log_retention_days": entitlements.audit_retention_days if entitlements.audit_trail else 0,
        "features": features,
    }


class AccountUpdateInput(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=100)
    handle = serializers.CharField(required=False, max_length=64)


# --- account roles ---------------------------------------------------------------------------------------


class AccountRoleOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    account_id = serializers.UUIDField(allow_null=True, help_text="null: the roles are built in.")
    is_system_role = serializers.BooleanField()


def account_role_row(role) -> dict:
    return {"id": role.id, "name": role.name, "permissions": list(role.permissions), "account_id": None,
            "is_system_role": True}


def account_role_rows() -> list[dict]:
    return [account_role_row(role) for role in ACCOUNT_ROLES]


# --- memberships -----------------------------------------------------------------------------------------


class MembershipOutput(serializers.Serializer):
    id = serializers.UUIDField()
    actor_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)
    handle = serializers.CharField()
    email = serializers.EmailField()
    account_role_name = serializers.CharField()
    account_role_id = serializers.UUIDField()
    last_login = serializers.DateTimeField(allow_null=True)
    created = serializers.DateTimeField()


def membership_row(membership) -> dict:
    user = membership.user
    role = account_role_for_key(membership.role)
    return {
        "id": membership.pk,
        "actor_id": user.pk,
        "user_id": user.pk,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "handle": user.handle,
        "email": user.email,
        "account_role_name": role.name,
        "account_role_id": role.id,
        "last_login": user.last_login,
        "created": membership.created,
    }


class MembershipFieldsFilter(StrictInputSerializer):
    email = FilterAnyInput(required=False)
    account_role_id = FilterAnyInput(required=False)


class MembershipFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    account_memberships = MembershipFieldsFilter(required=False)


class MembershipUpdateInput(StrictInputSerializer):
    account_role_id = serializers.UUIDField(help_text=ROLE_ID_HELP)


# --- invitations -----------------------------------------------------------------------------------------


class InvitationOutput(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    email = serializers.EmailField()
    account_role_id = serializers.UUIDField()
    account_role_name = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "accepted", "declined", "revoked", "expired"])
    inviter_id = serializers.UUIDField(allow_null=True)
    inviter_email = serializers.EmailField(allow_null=True)
    created = serializers.DateTimeField()
    expires = serializers.DateTimeField()
    responded = serializers.DateTimeField(allow_null=True)
    link = serializers.CharField(allow_null=True,
                                 help_text="The invitation link: only in the answer to the POST that created it.")


def invitation_status(invitation, now=None) -> str:
    if invitation.status == Invitation.Status.PENDING and invitation.expires_at <= (now or timezone.now()):
        return "expired"
    return invitation.status


def invitation_row(invitation, *, link: str | None = None, now=None) -> dict:
    role = account_role_for_key(invitation.role)
    inviter = invitation.invited_by
    return {
        "id": invitation.pk,
        "account_id": invitation.organization_id,
        "email": invitation.email,
        "account_role_id": role.id,
        "account_role_name": role.name,
        "status": invitation_status(invitation, now),
        "inviter_id": inviter.pk if inviter else None,
        "inviter_email": inviter.email if inviter else None,
        "created": invitation.created,
        "expires": invitation.expires_at,
        "responded": invitation.responded_at,
        "link": link,
    }


class InvitationCreateInput(StrictInputSerializer):
    email = serializers.EmailField(max_length=254)
    account_role_id = serializers.UUIDField(required=False, help_text=ROLE_ID_HELP + " Default: Member.")


class InvitationFieldsFilter(StrictInputSerializer):
    email = FilterAnyInput(required=False)
    status = FilterAnyInput(required=False)


class InvitationFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    invitations = InvitationFieldsFilter(required=False)


class MyInvitationOutput(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    account_name = serializers.CharField()
    account_handle = serializers.CharField()
    email = serializers.EmailField()
    account_role_id = serializers.UUIDField()
    account_role_name = serializers.CharField()
    status = serializers.CharField()
    inviter_email = serializers.EmailField(allow_null=True)
    created = serializers.DateTimeField()
    expires = serializers.DateTimeField()


def my_invitation_row(invitation) -> dict:
    row = invitation_row(invitation)
    return {
        "id": row["id"], "account_id": row["account_id"], "account_name": invitation.organization.name,
        "account_handle": invitation.organization.handle, "email": row["email"],
        "account_role_id": row["account_role_id"], "account_role_name": row["account_role_name"],
        "status": row["status"], "inviter_email": row["inviter_email"], "created": row["created"],
        "expires": row["expires"],
    }


# --- teams -----------------------------------------------------------------------------------------------


class TeamMemberOutput(serializers.Serializer):
    member_id = serializers.UUIDField()
    member_type = serializers.CharField()
    actor_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    email = serializers.EmailField()
    handle = serializers.CharField()
    first_name = serializers.CharField(allow_blank=True)
    last_name = serializers.CharField(allow_blank=True)


def team_member_row(user) -> dict:
    return {"member_id": user.pk, "member_type": "user", "actor_id": user.pk, "user_id": user.pk,
            "email": user.email, "handle": user.handle, "first_name": user.first_name, "last_name": user.last_name}


class TeamOutput(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    members = TeamMemberOutput(many=True)


def team_row(team) -> dict:
    return {
        "id": team.pk, "account_id": team.organization_id, "name": team.name, "description": team.description,
        "created": team.created, "updated": team.updated,
        "members": [team_member_row(user) for user in team.members.all()],  # prefetched by the selector
    }


class TeamCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000, default="")


class TeamUpdateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class TeamPatchInput(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class TeamFieldsFilter(StrictInputSerializer):
    name = FilterAnyInput(required=False)


class TeamFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    teams = TeamFieldsFilter(required=False)


class TeamMemberInput(StrictInputSerializer):
    member_id = serializers.UUIDField(help_text="The user's id (user_id in account_memberships).")
    member_type = serializers.ChoiceField(choices=["user"], default="user",
                                          help_text="Only users can be team members.")


class TeamMembersInput(StrictInputSerializer):
    members = TeamMemberInput(many=True, max_length=1000)


# --- service accounts ("bots") and API keys --------------------------------------------------------------


class BotOutput(serializers.Serializer):
    id = serializers.UUIDField()
    actor_id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    name = serializers.CharField()
    account_role_name = serializers.CharField()
    account_role_id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    api_key = ApiKeyOutput(allow_null=True, help_text="The current key (the newest usable one), if any.")


def bot_row(bot, *, key=None, secret: str | None = None) -> dict:
    from apps.organizations.selectors import service_account_current_key

    role = account_role_for_key(bot.role)
    key = key or service_account_current_key(bot)
    return {
        "id": bot.pk, "actor_id": bot.pk, "account_id": bot.organization_id, "name": bot.name,
        "account_role_name": role.name, "account_role_id": role.id, "created": bot.created, "updated": bot.updated,
        "api_key": api_key_row(key, secret) if key else None,
    }


class BotCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    api_key_expiration = serializers.DateTimeField(required=False, allow_null=True, default=None)
    account_role_id = serializers.UUIDField(required=False, help_text=ROLE_ID_HELP + " Default: Member.")


class BotUpdateInput(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=100)
    account_role_id = serializers.UUIDField(required=False, help_text=ROLE_ID_HELP)


class BotRotateKeyInput(StrictInputSerializer):
    api_key_expiration = serializers.DateTimeField(required=False, allow_null=True, default=None)
    old_key_expires_in_seconds = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=30 * 24 * 3600,
        help_text="Keep the old keys working this long; 0 or null: revoke them at once.",
    )


class BotFieldsFilter(StrictInputSerializer):
    name = FilterAnyInput(required=False)


class BotFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    bots = BotFieldsFilter(required=False)
