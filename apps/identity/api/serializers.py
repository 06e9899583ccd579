"""Shapes for /api/me and API keys (Cloud-compatible)."""

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer


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


class ApiKeyOutput(serializers.Serializer):
    """Cloud's key shape, plus what a key list shows (prefix, last use, revocation)."""

    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    name = serializers.CharField()
    expiration = serializers.DateTimeField(allow_null=True)
    key = serializers.CharField(allow_null=True, help_text="The secret: only in the answer that created it.")
    prefix = serializers.CharField(help_text="The key's visible beginning, e.g. pnu_AbC123dEf456.")
    last_used = serializers.DateTimeField(allow_null=True)
    revoked = serializers.DateTimeField(allow_null=True)


def api_key_row(key, secret: str | None = None) -> dict:
    return {
        "id": key.pk, "created": key.created, "name": key.name, "expiration": key.expires_at, "key": secret,
        "prefix": key.display_prefix, "last_used": key.last_used_at, "revoked": key.revoked_at,
    }


class ApiKeyCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=255)
    expiration = serializers.DateTimeField(required=False, allow_null=True, default=None,
                                           help_text="When the key stops working (UTC); null: never.")
