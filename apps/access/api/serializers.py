"""Input and output shapes of the access endpoints (Prefect Cloud's: workspace_scopes, workspace_roles,
user_access / bot_access / team_access)."""

from __future__ import annotations

from rest_framework import serializers

from apps.access import catalog
from apps.core.api.serializers import StrictInputSerializer


class WorkspaceScopeOutput(serializers.Serializer):
    name = serializers.CharField(help_text="Cloud scope name, e.g. see_flows.")
    permission = serializers.CharField(help_text="Praetor permission key, e.g. flows:read.")
    description = serializers.CharField()


def scope_rows() -> list[dict]:
    return [{"name": p.cloud_scope, "permission": p.key, "description": p.description}
            for p in catalog.WORKSPACE_PERMISSIONS]


class WorkspaceRoleOutput(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    scopes = serializers.ListField(child=serializers.CharField(), help_text="Cloud scope names.")
    permissions = serializers.ListField(child=serializers.CharField(), help_text="Praetor permission keys.")
    account_id = serializers.UUIDField(allow_null=True, help_text="null for built-in roles.")
    inherited_role_id = serializers.UUIDField(allow_null=True)
    is_template = serializers.BooleanField()


def role_row(role) -> dict:
    return {
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "scopes": catalog.cloud_scopes(role.permissions),
        "permissions": sorted(role.permissions),
        "account_id": role.organization_id,
        "inherited_role_id": role.inherited_role_id,
        "is_template": role.is_template,
    }


class WorkspaceRoleCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    scopes = serializers.ListField(child=serializers.CharField(), allow_empty=True,
                                   help_text="Cloud scope names or Praetor permission keys.")
    inherited_role_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class WorkspaceRoleUpdateInput(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    inherited_role_id = serializers.UUIDField(required=False, allow_null=True)


class WorkspaceRoleFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    workspace_roles = serializers.DictField(required=False, help_text='{"name": {"any_": [...]}}')


class UserAccessInput(StrictInputSerializer):
    workspace_role_id = serializers.UUIDField()
    user_id = serializers.UUIDField()


class BotAccessInput(StrictInputSerializer):
    workspace_role_id = serializers.UUIDField()
    bot_id = serializers.UUIDField()


class TeamAccessInput(StrictInputSerializer):
    workspace_role_id = serializers.UUIDField()
    team_id = serializers.UUIDField()


class WorkspaceAccessOutput(serializers.Serializer):
    id = serializers.UUIDField()
    workspace_id = serializers.UUIDField()
    workspace_role_id = serializers.UUIDField()
    workspace_role_name = serializers.CharField()
    actor_id = serializers.UUIDField(allow_null=True)
    user_id = serializers.UUIDField(allow_null=True)
    bot_id = serializers.UUIDField(allow_null=True)
    team_id = serializers.UUIDField(allow_null=True)
    name = serializers.CharField(help_text="The user's email, the team's or service account's name.")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


def access_row(grant, role) -> dict:
    actor_id = grant.user_id or grant.service_account_id
    if grant.user_id:
        name = grant.user.email
    elif grant.team_id:
        name = grant.team.name
    else:
        name = grant.service_account.name
    return {
        "id": grant.pk,
        "workspace_id": grant.workspace_id,
        "workspace_role_id": role.id,
        "workspace_role_name": role.name,
        "actor_id": actor_id,
        "user_id": grant.user_id,
        "bot_id": grant.service_account_id,
        "team_id": grant.team_id,
        "name": name,
        "created": grant.created,
        "updated": grant.updated,
    }
