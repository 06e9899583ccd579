"""Output shape of audit events, and the list's query parameters."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer


class AuditEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField()
    event = serializers.CharField(source="action", help_text="praetor.<resource>.<action>")
    cloud_event = serializers.CharField(help_text="Prefect Cloud's name: prefect-cloud.<resource>.<action>")
    occurred = serializers.DateTimeField()
    account_id = serializers.UUIDField(source="organization_id", allow_null=True)
    workspace_id = serializers.UUIDField(allow_null=True)
    actor_type = serializers.CharField()
    actor_id = serializers.UUIDField(allow_null=True)
    actor_name = serializers.CharField(source="actor_label")
    target_type = serializers.CharField()
    target_id = serializers.CharField()
    target_name = serializers.CharField(source="target_label")
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    details = serializers.JSONField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class AuditEventPageOutput(serializers.Serializer):
    results = AuditEventOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AuditEventQuery(StrictInputSerializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
    cursor = serializers.CharField(required=False, allow_blank=True)
    event = serializers.CharField(required=False, max_length=100)
    actor_id = serializers.UUIDField(required=False)
    workspace_id = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
