"""Input and output shapes of deployments and their schedules (Prefect 2.20: DeploymentCreate, DeploymentUpdate,
DeploymentFlowRunCreate, DeploymentScheduleCreate/Update, DeploymentResponse; the filters are the shared ones in
schemas/filters.py)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer
from apps.core.errors import Invalid
from apps.engine.schemas import filters
from apps.engine.services.schedules import schedule_normalize

DEPLOYMENT_SORTS = ["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"]


@extend_schema_field(OpenApiTypes.OBJECT)
class ScheduleField(serializers.Field):
    """A schedule document (interval, cron or rrule), validated and normalised by services.schedules."""

    def to_internal_value(self, data):
        try:
            return schedule_normalize(data, loc=[])
        except Invalid as exc:
            raise serializers.ValidationError(exc.detail, code="schedule") from None

    def to_representation(self, value):
        return value


def _json_object(**kwargs):
    return serializers.DictField(**kwargs)


def _strings(**kwargs):
    return serializers.ListField(child=serializers.CharField(allow_blank=True), **kwargs)


class DeploymentScheduleCreate(StrictInputSerializer):
    active = serializers.BooleanField(required=False, default=True)
    schedule = ScheduleField()
    max_active_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_scheduled_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    catchup = serializers.BooleanField(required=False, default=False)


class DeploymentScheduleUpdate(StrictInputSerializer):
    active = serializers.BooleanField(required=False)
    schedule = ScheduleField(required=False)
    max_active_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_scheduled_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    catchup = serializers.BooleanField(required=False)


class _DeploymentWritable(StrictInputSerializer):
    """Fields DeploymentCreate and DeploymentUpdate share. `infra_overrides` is 2.x's old name of job_variables."""

    version = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    schedule = ScheduleField(required=False, allow_null=True)
    is_schedule_active = serializers.BooleanField(required=False)
    paused = serializers.BooleanField(required=False)
    schedules = DeploymentScheduleCreate(many=True, required=False)
    parameters = _json_object(required=False)
    tags = _strings(required=False)
    work_queue_name = serializers.CharField(required=False, allow_null=True)
    work_pool_name = serializers.CharField(required=False, allow_null=True)
    path = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    entrypoint = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    manifest_path = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    storage_document_id = serializers.UUIDField(required=False, allow_null=True)
    infrastructure_document_id = serializers.UUIDField(required=False, allow_null=True)
    job_variables = _json_object(required=False, allow_null=True)
    infra_overrides = _json_object(required=False, allow_null=True)
    enforce_parameter_schema = serializers.BooleanField(required=False, allow_null=True)


class DeploymentCreate(_DeploymentWritable):
    name = serializers.CharField(max_length=255)
    flow_id = serializers.UUIDField()
    parameter_openapi_schema = _json_object(required=False, allow_null=True)
    pull_steps = serializers.ListField(child=serializers.DictField(), required=False, allow_null=True)


class DeploymentUpdate(_DeploymentWritable):
    pass


class DeploymentRunStateCreate(StrictInputSerializer):
    type = serializers.ChoiceField(choices=["SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED",
                                            "CANCELLED", "CRASHED", "PAUSED", "CANCELLING"])
    name = serializers.CharField(required=False, allow_null=True)
    message = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    data = serializers.JSONField(required=False, allow_null=True)
    state_details = _json_object(required=False)


class DeploymentFlowRunCreate(StrictInputSerializer):
    state = DeploymentRunStateCreate(required=False, allow_null=True)
    name = serializers.CharField(required=False, allow_null=True, max_length=255)
    parameters = _json_object(required=False)
    enforce_parameter_schema = serializers.BooleanField(required=False, allow_null=True)
    context = _json_object(required=False)
    infrastructure_document_id = serializers.UUIDField(required=False, allow_null=True)
    empirical_policy = _json_object(required=False, allow_null=True)
    tags = _strings(required=False)
    idempotency_key = serializers.CharField(required=False, allow_null=True, max_length=255)
    parent_task_run_id = serializers.UUIDField(required=False, allow_null=True)
    work_queue_name = serializers.CharField(required=False, allow_null=True)
    job_variables = _json_object(required=False, allow_null=True)


# --- filter bodies ---------------------------------------------------------------------------------------

class DeploymentCountBody(StrictInputSerializer):
    """The filters of deployments/filter and /count: Prefect's shared filter bodies (schemas.filters).
    A deployment matches flow run (and task run) filters when one of its runs does."""

    flows = filters.FlowFilter(required=False, allow_null=True)
    flow_runs = filters.FlowRunFilter(required=False, allow_null=True)
    task_runs = filters.TaskRunFilter(required=False, allow_null=True)
    deployments = filters.DeploymentFilter(required=False, allow_null=True)
    work_pools = filters.WorkPoolFilter(required=False, allow_null=True)
    work_pool_queues = filters.WorkQueueFilter(required=False, allow_null=True)


class DeploymentFilterBody(DeploymentCountBody):
    offset = serializers.IntegerField(required=False, min_value=0, default=0, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)
    sort = serializers.ChoiceField(choices=DEPLOYMENT_SORTS, required=False, default="NAME_ASC", allow_null=True)


class DeploymentScheduledRunsBody(StrictInputSerializer):
    deployment_ids = serializers.ListField(child=serializers.UUIDField())
    scheduled_before = serializers.DateTimeField(required=False, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


# --- output ---------------------------------------------------------------------------------------------

class DeploymentSchedule(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    deployment_id = serializers.UUIDField()
    schedule = ScheduleField()
    active = serializers.BooleanField()
    max_active_runs = serializers.IntegerField(allow_null=True)
    max_scheduled_runs = serializers.IntegerField(allow_null=True)
    catchup = serializers.BooleanField()


class DeploymentResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    infra_overrides = serializers.DictField()
    name = serializers.CharField()
    version = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    flow_id = serializers.UUIDField()
    schedule = ScheduleField(allow_null=True)
    is_schedule_active = serializers.BooleanField()
    paused = serializers.BooleanField()
    schedules = DeploymentSchedule(many=True)
    job_variables = serializers.DictField()
    parameters = serializers.DictField()
    tags = serializers.ListField(child=serializers.CharField())
    work_queue_name = serializers.CharField(allow_null=True)
    last_polled = serializers.DateTimeField(allow_null=True)
    parameter_openapi_schema = serializers.DictField(allow_null=True)
    path = serializers.CharField(allow_null=True)
    pull_steps = serializers.ListField(child=serializers.DictField(), allow_null=True)
    entrypoint = serializers.CharField(allow_null=True)
    manifest_path = serializers.CharField(allow_null=True)
    storage_document_id = serializers.UUIDField(allow_null=True)
    infrastructure_document_id = serializers.UUIDField(allow_null=True)
    created_by = serializers.DictField(allow_null=True)
    updated_by = serializers.DictField(allow_null=True)
    work_pool_name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["READY", "NOT_READY"])
    enforce_parameter_schema = serializers.BooleanField()


def schedule_data(schedule) -> dict:
    return {
        "id": schedule.id, "created": schedule.created, "updated": schedule.updated,
        "deployment_id": schedule.deployment_id, "schedule": schedule.schedule, "active": schedule.active,
        "max_active_runs": schedule.max_active_runs, "max_scheduled_runs": schedule.max_scheduled_runs,
        "catchup": schedule.catchup,
    }


def deployment_data(deployment, *, status: str) -> dict:
    """A deployment (with `work_queue__work_pool` selected and `schedules` prefetched) as DeploymentResponse."""
    schedules = sorted(deployment.schedules.all(), key=lambda s: (s.created, s.id))
    queue = deployment.work_queue
    return {
        "id": deployment.id, "created": deployment.created, "updated": deployment.updated,
        "infra_overrides": deployment.job_variables, "name": deployment.name, "version": deployment.version,
        "description": deployment.description, "flow_id": deployment.flow_id,
        # the legacy single-schedule fields, for clients that predate `schedules`
        "schedule": schedules[0].schedule if schedules else None,
        "is_schedule_active": not deployment.paused, "paused": deployment.paused,
        "schedules": [schedule_data(s) for s in schedules],
        "job_variables": deployment.job_variables, "parameters": deployment.parameters, "tags": deployment.tags,
        "work_queue_name": deployment.work_queue_name, "last_polled": deployment.last_polled,
        "parameter_openapi_schema": deployment.parameter_openapi_schema, "path": deployment.path,
        "pull_steps": deployment.pull_steps, "entrypoint": deployment.entrypoint,
        "manifest_path": deployment.manifest_path, "storage_document_id": deployment.storage_document_id,
        "infrastructure_document_id": deployment.infrastructure_document_id,
        "created_by": deployment.created_by, "updated_by": deployment.updated_by,
        "work_pool_name": queue.work_pool.name if queue is not None else None,
        "status": status, "enforce_parameter_schema": deployment.enforce_parameter_schema,
    }

