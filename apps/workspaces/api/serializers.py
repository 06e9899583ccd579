"""Workspace shapes: Prefect Cloud's `{id, account_id, name, description, handle, default_workspace_role_id,
is_public}` plus timestamps."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer
from apps.organizations.api.serializers import FilterAnyInput


class WorkspaceOutput(serializers.Serializer):
    id = serializers.UUIDField()
    account_id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    handle = serializers.CharField()
    default_workspace_role_id = serializers.UUIDField(
        allow_null=True, help_text="Not supported: members get only what grants (or their account role) give.")
    is_public = serializers.BooleanField(help_text="Public workspaces are not supported: always false.")
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()


def workspace_row(workspace) -> dict:
    return {
        "id": workspace.pk, "account_id": workspace.organization_id, "name": workspace.name,
        "description": workspace.description, "handle": workspace.handle, "default_workspace_role_id": None,
        "is_public": False, "created": workspace.created, "updated": workspace.updated,
    }


class WorkspaceCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    handle = serializers.CharField(max_length=64,
                                   help_text="Unique in the account: lowercase letters, digits, hyphens.")
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=1000,
                                        default="")


class WorkspaceUpdateInput(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=100)
    handle = serializers.CharField(required=False, max_length=64)
    description = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class WorkspaceFieldsFilter(StrictInputSerializer):
    handle = FilterAnyInput(required=False)


class WorkspaceFilterInput(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200)
    offset = serializers.IntegerField(required=False, min_value=0)
    workspaces = WorkspaceFieldsFilter(required=False)
