"""Flows, flow runs, task runs, their state histories, orchestration decisions and logs.

Field names follow Prefect 2.20's server schema so the API layer maps them one to one. A run keeps
its current state twice: `state` (the row in the history) and the denormalised `state_type`,
`state_name`, `state_timestamp` that filters and sorts read without a join.
"""

from __future__ import annotations

import datetime

from django.db import models

from apps.core.models import WorkspaceScopedModel


class StateType(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATE_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})


class Flow(WorkspaceScopedModel):
    name = models.CharField(max_length=255)
    tags = models.JSONField(default=list)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="flow_unique_name")]


class _Run(WorkspaceScopedModel):
    """What flow runs and task runs share (Prefect's `Run` mixin)."""

    name = models.CharField(max_length=255)
    state_type = models.CharField(max_length=16, choices=StateType.choices, null=True)
    state_name = models.CharField(max_length=255, null=True)
    state_timestamp = models.DateTimeField(null=True)
    run_count = models.IntegerField(default=0)
    expected_start_time = models.DateTimeField(null=True)
    next_scheduled_start_time = models.DateTimeField(null=True)
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    total_run_time = models.DurationField(default=datetime.timedelta(0))
    empirical_policy = models.JSONField(default=dict)
    tags = models.JSONField(default=list)

    class Meta(WorkspaceScopedModel.Meta):
        abstract = True


class FlowRun(_Run):
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="flow_runs")
    state = models.ForeignKey("FlowRunState", on_delete=models.SET_NULL, null=True, related_name="+")
    deployment = models.ForeignKey(
        "engine.Deployment", on_delete=models.SET_NULL, null=True, related_name="flow_runs"
    )
    deployment_version = models.CharField(max_length=255, null=True)
    work_queue = models.ForeignKey("engine.WorkQueue", on_delete=models.SET_NULL, null=True, related_name="+")
    work_queue_name = models.CharField(max_length=255, null=True)
    flow_version = models.CharField(max_length=255, null=True)
    parameters = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=255, null=True)
    context = models.JSONField(default=dict)
    job_variables = models.JSONField(default=dict, null=True)
    parent_task_run = models.ForeignKey(
        "TaskRun", on_delete=models.SET_NULL, null=True, related_name="subflow_runs"
    )
    auto_scheduled = models.BooleanField(default=False)
    infrastructure_document_id = models.UUIDField(null=True)
    infrastructure_pid = models.CharField(max_length=255, null=True)
    created_by = models.JSONField(null=True)

    class Meta(_Run.Meta):
        constraints = [
            # One run per flow and idempotency key, ever: the scheduler's keys make scheduled runs unique.
            models.UniqueConstraint(
                fields=["workspace", "flow", "idempotency_key"], name="flow_run_unique_idempotency_key",
                condition=models.Q(idempotency_key__isnull=False),
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "flow", "-expected_start_time"], name="flow_run_flow_expected"),
            models.Index(fields=["workspace", "-expected_start_time"], name="flow_run_expected"),
            models.Index(fields=["workspace", "state_type", "-expected_start_time"], name="flow_run_state_expected"),
            models.Index(fields=["workspace", "deployment", "-expected_start_time"], name="flow_run_deployment"),
            models.Index(
                fields=["workspace", "work_queue", "state_type", "next_scheduled_start_time"],
                name="flow_run_queue_next",
            ),
            models.Index(fields=["workspace", "parent_task_run"], name="flow_run_parent_task_run"),
            models.Index(fields=["workspace", "-created"], name="flow_run_created"),
            models.Index(fields=["workspace", "end_time"], name="flow_run_end_time"),
            # the scheduler's and the late-runs sweep's scan across workspaces: Scheduled runs by due time
            models.Index(fields=["next_scheduled_start_time"], condition=models.Q(state_type="SCHEDULED"),
                         name="flow_run_scheduled_due"),
            # the cancellation cleanup's scan across workspaces: runs Cancelled lately
            models.Index(fields=["end_time"], condition=models.Q(state_type="CANCELLED"),
                         name="flow_run_cancelled_end"),
        ]


class TaskRun(_Run):
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, null=True, related_name="task_runs")
    state = models.ForeignKey("TaskRunState", on_delete=models.SET_NULL, null=True, related_name="+")
    task_key = models.CharField(max_length=255)
    dynamic_key = models.CharField(max_length=255)
    cache_key = models.CharField(max_length=2000, null=True)
    cache_expiration = models.DateTimeField(null=True)
    task_version = models.CharField(max_length=255, null=True)
    task_inputs = models.JSONField(default=dict)
    flow_run_run_count = models.IntegerField(default=0)

    class Meta(_Run.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "flow_run", "task_key", "dynamic_key"], name="task_run_unique_dynamic_key",
            ),
        ]
        indexes = [
            models.Index(fields=["workspace", "flow_run", "-expected_start_time"], name="task_run_flow_run"),
            models.Index(fields=["workspace", "state_type", "-expected_start_time"], name="task_run_state_expected"),
            models.Index(fields=["workspace", "-expected_start_time"], name="task_run_expected"),
            models.Index(fields=["workspace", "-created"], name="task_run_created"),
        ]


class _State(WorkspaceScopedModel):
    """One entry of a run's state history; never updated once written."""

    type = models.CharField(max_length=16, choices=StateType.choices)
    name = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    message = models.TextField(null=True)
    state_details = models.JSONField(default=dict)
    data = models.JSONField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        abstract = True


class FlowRunState(_State):
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="states")

    class Meta(_State.Meta):
        indexes = [models.Index(fields=["flow_run", "timestamp"], name="flow_run_state_history")]


class TaskRunState(_State):
    task_run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, related_name="states")

    class Meta(_State.Meta):
        indexes = [models.Index(fields=["task_run", "timestamp"], name="task_run_state_history")]


class TaskRunStateCache(WorkspaceScopedModel):
    """A Completed task state stored under its cache key: what a later run with the key receives as Cached."""

    cache_key = models.CharField(max_length=2000)
    cache_expiration = models.DateTimeField(null=True)
    task_run_state = models.ForeignKey(TaskRunState, on_delete=models.CASCADE, related_name="+")

    class Meta(WorkspaceScopedModel.Meta):
        indexes = [models.Index(fields=["workspace", "cache_key", "-created"], name="task_run_cache_key")]


class Decision(models.TextChoices):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    WAIT = "WAIT"
    ABORT = "ABORT"


class OrchestrationDecision(WorkspaceScopedModel):
    """Why a proposed state was accepted, changed, rejected, delayed or aborted: one row per rule that acted.

    Exactly one of `flow_run` and `task_run` is set. `rule` is the orchestration rule's name; `state`
    is the state written (None when the proposal was not accepted).
    """

    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, null=True, related_name="decisions")
    task_run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, null=True, related_name="decisions")
    initial_state_type = models.CharField(max_length=16, choices=StateType.choices, null=True)
    proposed_state_type = models.CharField(max_length=16, choices=StateType.choices, null=True)
    proposed_state_name = models.CharField(max_length=255, null=True)
    decision = models.CharField(max_length=8, choices=Decision.choices)
    rule = models.CharField(max_length=255)
    reason = models.TextField(blank=True, default="")
    state_id = models.UUIDField(null=True)
    details = models.JSONField(default=dict)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(flow_run__isnull=False, task_run__isnull=True)
                | models.Q(flow_run__isnull=True, task_run__isnull=False),
                name="orchestration_decision_one_run",
            ),
        ]
        indexes = [
            models.Index(fields=["flow_run", "created"], name="decision_flow_run"),
            models.Index(fields=["task_run", "created"], name="decision_task_run"),
        ]


class Log(WorkspaceScopedModel):
    """A log line from a run. Runs are referenced by id: logs may arrive before or outlive their run."""

    name = models.CharField(max_length=255)
    level = models.SmallIntegerField()
    message = models.TextField()
    timestamp = models.DateTimeField()
    flow_run_id = models.UUIDField(null=True)
    task_run_id = models.UUIDField(null=True)

    class Meta(WorkspaceScopedModel.Meta):
        indexes = [
            models.Index(fields=["workspace", "flow_run_id", "timestamp"], name="log_flow_run"),
            models.Index(fields=["workspace", "task_run_id", "timestamp"], name="log_task_run"),
            models.Index(fields=["workspace", "timestamp"], name="log_timestamp"),
        ]


class ConcurrencyLimit(WorkspaceScopedModel):
    """A tag-based task concurrency limit (v1): `active_slots` holds the ids of the task runs holding a slot."""

    tag = models.CharField(max_length=255)
    concurrency_limit = models.IntegerField()
    active_slots = models.JSONField(default=list)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "tag"], name="concurrency_limit_unique_tag")]


class ConcurrencyLimitV2(WorkspaceScopedModel):
    """A named global concurrency limit (v2): counted slots, optionally decaying (rate limits)."""

    active = models.BooleanField(default=True)
    name = models.CharField(max_length=255)
    limit = models.IntegerField()
    active_slots = models.IntegerField(default=0)
    denied_slots = models.IntegerField(default=0)
    slot_decay_per_second = models.FloatField(default=0.0)
    avg_slot_occupancy_seconds = models.FloatField(default=2.0)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="concurrency_limit_v2_unique_name")]
