"""Input and output shapes of work pools, their queues and workers (Prefect 2.20: WorkPoolCreate/Update, WorkPool,
WorkQueueCreate/Update, WorkQueueResponse, WorkQueueStatusDetail, WorkerResponse, WorkerFlowRunResponse)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer
from apps.engine.schemas.filters import WorkPoolFilter, WorkQueueFilter

STATUSES = ["READY", "NOT_READY", "PAUSED"]


class WorkPoolCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    type = serializers.CharField(required=False, default="prefect-agent", max_length=255)
    base_job_template = serializers.DictField(required=False, default=dict)
    is_paused = serializers.BooleanField(required=False, default=False)
    concurrency_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class WorkPoolUpdate(StrictInputSerializer):
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    is_paused = serializers.BooleanField(required=False, allow_null=True)
    base_job_template = serializers.DictField(required=False, allow_null=True)
    concurrency_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0)


class QueueFilter(StrictInputSerializer):
    """The deprecated tag/deployment filter of agent-era queues; stored, shown, not applied to polling."""

    tags = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    deployment_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class WorkQueueCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, default="", allow_null=True, allow_blank=True)
    is_paused = serializers.BooleanField(required=False, default=False)
    concurrency_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    filter = QueueFilter(required=False, allow_null=True)
    # accepted on the legacy POST work_queues/ (which pool the queue goes into)
    work_pool_name = serializers.CharField(required=False, allow_null=True)


class WorkQueueUpdate(StrictInputSerializer):
    name = serializers.CharField(required=False, max_length=255)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    is_paused = serializers.BooleanField(required=False)
    concurrency_limit = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    last_polled = serializers.DateTimeField(required=False, allow_null=True)
    filter = QueueFilter(required=False, allow_null=True)


class _Paged(StrictInputSerializer):
    offset = serializers.IntegerField(required=False, min_value=0, default=0, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


class WorkPoolFilterBody(_Paged):
    work_pools = WorkPoolFilter(required=False, allow_null=True)


class WorkPoolCountBody(StrictInputSerializer):
    work_pools = WorkPoolFilter(required=False, allow_null=True)


class WorkQueueFilterBody(_Paged):
    work_queues = WorkQueueFilter(required=False, allow_null=True)


class WorkerFilterLastHeartbeatTime(StrictInputSerializer):
    before_ = serializers.DateTimeField(required=False, allow_null=True)
    after_ = serializers.DateTimeField(required=False, allow_null=True)


class WorkerFilterStatus(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.ChoiceField(choices=["ONLINE", "OFFLINE"]), required=False,
                                 allow_null=True)
    not_any_ = serializers.ListField(child=serializers.ChoiceField(choices=["ONLINE", "OFFLINE"]), required=False,
                                     allow_null=True)


class WorkerFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    last_heartbeat_time = WorkerFilterLastHeartbeatTime(required=False, allow_null=True)
    status = WorkerFilterStatus(required=False, allow_null=True)


class WorkerFilterBody(_Paged):
    workers = WorkerFilter(required=False, allow_null=True)


class WorkerHeartbeat(StrictInputSerializer):
    name = serializers.CharField(max_length=255)
    heartbeat_interval_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class PoolScheduledRunsBody(StrictInputSerializer):
    work_queue_names = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    scheduled_before = serializers.DateTimeField(required=False, allow_null=True)
    scheduled_after = serializers.DateTimeField(required=False, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


class QueueRunsBody(StrictInputSerializer):
    scheduled_before = serializers.DateTimeField(required=False, allow_null=True)
    agent_id = serializers.UUIDField(required=False, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


# --- output ---------------------------------------------------------------------------------------------

class WorkPool(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    type = serializers.CharField()
    base_job_template = serializers.DictField()
    is_paused = serializers.BooleanField()
    concurrency_limit = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=STATUSES, allow_null=True)
    default_queue_id = serializers.UUIDField(allow_null=True)
    last_polled = serializers.DateTimeField(allow_null=True)


class WorkQueueResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    is_paused = serializers.BooleanField()
    concurrency_limit = serializers.IntegerField(allow_null=True)
    priority = serializers.IntegerField()
    work_pool_id = serializers.UUIDField()
    filter = serializers.DictField(allow_null=True)
    last_polled = serializers.DateTimeField(allow_null=True)
    work_pool_name = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)


class WorkQueueHealthPolicy(serializers.Serializer):
    maximum_late_runs = serializers.IntegerField(allow_null=True)
    maximum_seconds_since_last_polled = serializers.IntegerField(allow_null=True)


class WorkQueueStatusDetail(serializers.Serializer):
    healthy = serializers.BooleanField()
    late_runs_count = serializers.IntegerField()
    last_polled = serializers.DateTimeField(allow_null=True)
    health_check_policy = WorkQueueHealthPolicy()


class WorkerResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    work_pool_id = serializers.UUIDField()
    last_heartbeat_time = serializers.DateTimeField()
    heartbeat_interval_seconds = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=["ONLINE", "OFFLINE"])
