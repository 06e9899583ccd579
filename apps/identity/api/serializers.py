"""Output shapes for /api/me (Cloud-compatible)."""

from rest_framework import serializers


class MeOutput(serializers.Serializer):
    id = serializers.UUIDField()
    actor_id = serializers.UUIDField()
    email = serializers.EmailField(allow_null=True)
    handle = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    actor_type = serializers.CharField()


class MeWorkspaceOutput(serializers.Serializer):
    account_id = serializers.UUIDField()
    account_name = serializers.CharField()
    account_handle = serializers.CharField()
    workspace_id = serializers.UUIDField()
    workspace_name = serializers.CharField()
    workspace_description = serializers.CharField(allow_blank=True)
    workspace_handle = serializers.CharField()
