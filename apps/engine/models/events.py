"""Events the client streams to a workspace (websocket `events/in`, or `POST events`)."""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel


class Event(WorkspaceScopedModel):
    """One received event. `event_id` is the client's id: resends after a reconnect are deduplicated on it."""

    event_id = models.UUIDField()
    occurred = models.DateTimeField()
    event = models.CharField(max_length=1024)
    resource_id = models.CharField(max_length=1024)
    resource = models.JSONField(default=dict)
    related = models.JSONField(default=list)
    payload = models.JSONField(default=dict)
    follows = models.UUIDField(null=True)
    received = models.DateTimeField()

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "event_id"], name="event_unique_id")]
        indexes = [
            models.Index(fields=["workspace", "occurred"], name="event_workspace_occurred"),
            models.Index(fields=["workspace", "resource_id", "occurred"], name="event_workspace_resource"),
        ]
