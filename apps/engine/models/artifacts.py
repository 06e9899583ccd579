"""Artifacts (markdown, table, link, result, …) and, per key, the collection pointing at the latest one."""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel


class Artifact(WorkspaceScopedModel):
    key = models.CharField(max_length=255, null=True)
    type = models.CharField(max_length=64, null=True)
    description = models.TextField(null=True)
    data = models.JSONField(null=True)
    metadata = models.JSONField(null=True)
    # Runs are referenced by id: an artifact outlives the retention of the run that made it, as in Prefect.
    flow_run_id = models.UUIDField(null=True)
    task_run_id = models.UUIDField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        indexes = [
            models.Index(fields=["workspace", "key", "-created"], name="artifact_workspace_key"),
            models.Index(fields=["workspace", "flow_run_id"], name="artifact_workspace_flow_run"),
            models.Index(fields=["workspace", "task_run_id"], name="artifact_workspace_task_run"),
        ]


class ArtifactCollection(WorkspaceScopedModel):
    """One row per artifact key: the latest artifact's fields, copied when it is created."""

    key = models.CharField(max_length=255)
    latest = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=64, null=True)
    description = models.TextField(null=True)
    data = models.JSONField(null=True)
    metadata = models.JSONField(null=True)
    flow_run_id = models.UUIDField(null=True)
    task_run_id = models.UUIDField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="artifact_collection_unique_key")]
