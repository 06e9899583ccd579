"""The audit trail: append-only, security-relevant events, hash-chained per organization.

Tenant ids are plain columns, not foreign keys: deleting a workspace, user or organization must
never delete or rewrite the record of what happened to it.
"""

from __future__ import annotations

from django.db import models


class AppendOnlyError(RuntimeError):
    """Raised on any attempt to change or delete an audit event outside retention."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only; retention uses unsafe_delete_for_retention().")

    def unsafe_delete_for_retention(self) -> int:
        """Only the retention service deletes, oldest first, recording a checkpoint (apps/audit/services.py)."""
        return models.QuerySet.delete(self)[0]


class ActorType(models.TextChoices):
    USER = "user", "User"
    SERVICE_ACCOUNT = "service_account", "Service account"
    SYSTEM = "system", "System"
    ANONYMOUS = "anonymous", "Anonymous"


class AuditEvent(models.Model):
    """One event. `seq` numbers the events of one chain (an organization, or the organization-less
    chain for sign-ins of people without one); `hash` covers the canonical row including `prev_hash`."""

    id = models.BigAutoField(primary_key=True)
    organization_id = models.UUIDField(null=True, blank=True)
    workspace_id = models.UUIDField(null=True, blank=True)
    seq = models.BigIntegerField()
    action = models.CharField(max_length=100)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.UUIDField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    occurred = models.DateTimeField()
    details = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization_id", "seq"], name="audit_event_unique_seq", nulls_distinct=False
            ),
        ]
        indexes = [
            models.Index(fields=["organization_id", "occurred"], name="audit_event_org_occurred"),
            models.Index(fields=["organization_id", "action", "seq"], name="audit_event_org_action"),
            models.Index(fields=["organization_id", "actor_id", "seq"], name="audit_event_org_actor"),
        ]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only.")

    @property
    def cloud_event(self) -> str:
        """Cloud's name for the event: praetor.api_key.created → prefect-cloud.api-key.created."""
        _, resource, action = self.action.split(".", 2)
        return f"prefect-cloud.{resource.replace('_', '-')}.{action.replace('_', '-')}"
