"""Deployments and their schedules; work pools, their queues and the workers that poll them.

Agents poll work queues (`work_queues/{id}/get_runs`), workers poll pools
(`work_pools/{name}/get_scheduled_flow_runs`) and heartbeat; both only ever call the server.
"""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel

DEFAULT_AGENT_POOL_NAME = "default-agent-pool"
DEFAULT_QUEUE_NAME = "default"


class WorkPool(WorkspaceScopedModel):
    name = models.CharField(max_length=255)
    description = models.TextField(null=True)
    type = models.CharField(max_length=255, default="prefect-agent")
    base_job_template = models.JSONField(default=dict)
    is_paused = models.BooleanField(default=False)
    concurrency_limit = models.IntegerField(null=True)
    default_queue = models.ForeignKey("WorkQueue", on_delete=models.SET_NULL, null=True, related_name="+")
    last_polled = models.DateTimeField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="work_pool_unique_name")]


class WorkQueue(WorkspaceScopedModel):
    work_pool = models.ForeignKey(WorkPool, on_delete=models.CASCADE, related_name="queues")
    name = models.CharField(max_length=255)
    description = models.TextField(default="")
    is_paused = models.BooleanField(default=False)
    concurrency_limit = models.IntegerField(null=True)
    priority = models.IntegerField(default=1)
    filter = models.JSONField(null=True)
    last_polled = models.DateTimeField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "work_pool", "name"], name="work_queue_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "name"], name="work_queue_name")]


class Worker(WorkspaceScopedModel):
    work_pool = models.ForeignKey(WorkPool, on_delete=models.CASCADE, related_name="workers")
    name = models.CharField(max_length=255)
    last_heartbeat_time = models.DateTimeField()
    heartbeat_interval_seconds = models.IntegerField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["work_pool", "name"], name="worker_unique_name")]
        indexes = [models.Index(fields=["work_pool", "-last_heartbeat_time"], name="worker_heartbeat")]


class Deployment(WorkspaceScopedModel):
    flow = models.ForeignKey("engine.Flow", on_delete=models.CASCADE, related_name="deployments")
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=255, null=True)
    description = models.TextField(null=True)
    paused = models.BooleanField(default=False)
    job_variables = models.JSONField(default=dict)
    parameters = models.JSONField(default=dict)
    parameter_openapi_schema = models.JSONField(null=True)
    enforce_parameter_schema = models.BooleanField(default=False)
    tags = models.JSONField(default=list)
    work_queue = models.ForeignKey(WorkQueue, on_delete=models.SET_NULL, null=True, related_name="deployments")
    work_queue_name = models.CharField(max_length=255, null=True)
    path = models.CharField(max_length=2000, null=True)
    entrypoint = models.CharField(max_length=2000, null=True)
    manifest_path = models.CharField(max_length=2000, null=True)
    pull_steps = models.JSONField(null=True)
    storage_document_id = models.UUIDField(null=True)
    infrastructure_document_id = models.UUIDField(null=True)
    created_by = models.JSONField(null=True)
    updated_by = models.JSONField(null=True)
    last_polled = models.DateTimeField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "flow", "name"], name="deployment_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "work_queue"], name="deployment_work_queue")]


class DeploymentSchedule(WorkspaceScopedModel):
    """One schedule of a deployment: `schedule` is Prefect's interval, cron or rrule document."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="schedules")
    schedule = models.JSONField()
    active = models.BooleanField(default=True)
    max_active_runs = models.IntegerField(null=True)
    max_scheduled_runs = models.IntegerField(null=True)
    catchup = models.BooleanField(default=False)

    class Meta(WorkspaceScopedModel.Meta):
        indexes = [models.Index(fields=["active", "deployment"], name="deployment_schedule_active")]
