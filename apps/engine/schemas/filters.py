"""Prefect 2.20's filter bodies, shared by every engine resource that filters runs (flows, flow runs,
task runs, deployments, work pools and queues): FlowFilter, FlowRunFilter, TaskRunFilter,
DeploymentFilter, WorkPoolFilter, WorkQueueFilter.

Parse a body with one of the `*Body` serializers (or embed the filters in your own), pass the result
through `apps.engine.api.common.plain()` and hand the dicts to `apps.engine.selectors.filters`
(`flow_run_q`, `task_run_q`, `flow_q`, `deployment_q`, `work_pool_q`, `work_queue_q`, `flow_runs_body_q`),
which turn them into Django `Q` objects.
"""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.flat import FlatValidator
from apps.core.api.serializers import NullMeansAbsentSerializer, StrictInputSerializer
from apps.engine.schemas.states import STATE_TYPES

OPERATORS = ["and_", "or_"]
FLOW_SORTS = ["CREATED_DESC", "UPDATED_DESC", "NAME_ASC", "NAME_DESC"]
FLOW_RUN_SORTS = ["ID_DESC", "START_TIME_ASC", "START_TIME_DESC", "EXPECTED_START_TIME_ASC",
                  "EXPECTED_START_TIME_DESC", "NAME_ASC", "NAME_DESC", "NEXT_SCHEDULED_START_TIME_ASC",
                  "END_TIME_DESC"]
TASK_RUN_SORTS = ["ID_DESC", "EXPECTED_START_TIME_ASC", "EXPECTED_START_TIME_DESC", "NAME_ASC", "NAME_DESC",
                  "NEXT_SCHEDULED_START_TIME_ASC", "END_TIME_DESC"]
MAX_LIMIT = 200


def _uuids():
    return serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


def _strings():
    return serializers.ListField(child=serializers.CharField(trim_whitespace=False, allow_blank=True), required=False,
                                 allow_null=True)


def _operator():
    return serializers.ChoiceField(choices=OPERATORS, required=False, default="and_")


def _bool():
    return serializers.BooleanField(required=False, allow_null=True, default=None)


def _dt():
    return serializers.DateTimeField(required=False, allow_null=True)


def _sub(cls):
    return cls(required=False, allow_null=True)


class _F(StrictInputSerializer):
    """A filter part: unknown keys are a 422, as Prefect's filter models forbid extra fields."""


class IdAny(_F):
    any_ = _uuids()


class IdAnyNotAny(_F):
    any_ = _uuids()
    not_any_ = _uuids()


class NameAnyLike(_F):
    any_ = _strings()
    like_ = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)


class StringsAny(_F):
    any_ = _strings()


class StringsAnyNotAny(_F):
    any_ = _strings()
    not_any_ = _strings()


class Tags(_F):
    operator = _operator()
    all_ = _strings()
    is_null_ = _bool()


class TimeRange(_F):
    before_ = _dt()
    after_ = _dt()


class TimeRangeNullable(TimeRange):
    is_null_ = _bool()


class IdsNullable(_F):
    operator = _operator()
    any_ = _uuids()
    is_null_ = _bool()


class StringsNullable(_F):
    operator = _operator()
    any_ = _strings()
    is_null_ = _bool()


class OperatorIds(_F):
    operator = _operator()
    any_ = _uuids()


class StateTypeAny(_F):
    any_ = serializers.ListField(child=serializers.ChoiceField(choices=STATE_TYPES), required=False,
                                 allow_null=True)


class RunState(_F):
    operator = _operator()
    type = _sub(StateTypeAny)
    name = _sub(StringsAny)


class IsNull(_F):
    operator = _operator()
    is_null_ = _bool()


class Exists(_F):
    exists_ = _bool()


class Eq(_F):
    eq_ = _bool()


class QueueName(_F):
    any_ = _strings()
    startswith_ = _strings()


class FlowFilter(_F):
    operator = _operator()
    id = _sub(IdAny)
    deployment = _sub(IsNull)
    name = _sub(NameAnyLike)
    tags = _sub(Tags)


class FlowRunFilter(_F):
    operator = _operator()
    id = _sub(IdAnyNotAny)
    name = _sub(NameAnyLike)
    tags = _sub(Tags)
    deployment_id = _sub(IdsNullable)
    work_queue_name = _sub(StringsNullable)
    state = _sub(RunState)
    flow_version = _sub(StringsAny)
    start_time = _sub(TimeRangeNullable)
    expected_start_time = _sub(TimeRange)
    next_scheduled_start_time = _sub(TimeRange)
    parent_flow_run_id = _sub(OperatorIds)
    parent_task_run_id = _sub(IdsNullable)
    idempotency_key = _sub(StringsAnyNotAny)


class TaskRunFilter(_F):
    operator = _operator()
    id = _sub(IdAny)
    name = _sub(NameAnyLike)
    tags = _sub(Tags)
    state = _sub(RunState)
    start_time = _sub(TimeRangeNullable)
    subflow_runs = _sub(Exists)
    flow_run_id = _sub(IdsNullable)


class DeploymentFilter(_F):
    operator = _operator()
    id = _sub(IdAny)
    name = _sub(NameAnyLike)
    paused = _sub(Eq)
    is_schedule_active = _sub(Eq)
    tags = _sub(Tags)
    work_queue_name = _sub(StringsAny)


class WorkPoolFilter(_F):
    operator = _operator()
    id = _sub(IdAny)
    name = _sub(StringsAny)
    type = _sub(StringsAny)


class WorkQueueFilter(_F):
    operator = _operator()
    id = _sub(IdAny)
    name = _sub(QueueName)


class _Body(NullMeansAbsentSerializer):
    """A filter endpoint's body, read as FastAPI reads Prefect's: unknown top-level keys are ignored (the
    client sends `work_queues` to flows/filter, which Prefect's server does not take) and a top-level
    null means "use the default" (the client sends `"sort": null`). The filters inside are strict."""


def _limit():
    return serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_LIMIT)


def _offset():
    return serializers.IntegerField(required=False, default=0, min_value=0)


class FlowCountBody(_Body):
    flows = _sub(FlowFilter)
    flow_runs = _sub(FlowRunFilter)
    task_runs = _sub(TaskRunFilter)
    deployments = _sub(DeploymentFilter)
    work_pools = _sub(WorkPoolFilter)


class FlowFilterBody(FlowCountBody):
    sort = serializers.ChoiceField(choices=FLOW_SORTS, required=False, default="NAME_ASC")
    limit = _limit()
    offset = _offset()


class FlowRunCountBody(_Body):
    flows = _sub(FlowFilter)
    flow_runs = _sub(FlowRunFilter)
    task_runs = _sub(TaskRunFilter)
    deployments = _sub(DeploymentFilter)
    work_pools = _sub(WorkPoolFilter)
    work_pool_queues = _sub(WorkQueueFilter)


class FlowRunFilterBody(FlowRunCountBody):
    sort = serializers.ChoiceField(choices=FLOW_RUN_SORTS, required=False, default="ID_DESC")
    limit = _limit()
    offset = _offset()


# POST flow_runs/filter, every worker poll and UI page: compiled checks, the serializer for anything unusual.
flow_run_filter_body = FlatValidator(FlowRunFilterBody)


class FlowRunHistoryBody(_Body):
    history_start = serializers.DateTimeField()
    history_end = serializers.DateTimeField()
    history_interval_seconds = serializers.FloatField(min_value=1)
    flows = _sub(FlowFilter)
    flow_runs = _sub(FlowRunFilter)
    task_runs = _sub(TaskRunFilter)
    deployments = _sub(DeploymentFilter)
    work_pools = _sub(WorkPoolFilter)
    work_queues = _sub(WorkQueueFilter)


class TaskRunCountBody(_Body):
    flows = _sub(FlowFilter)
    flow_runs = _sub(FlowRunFilter)
    task_runs = _sub(TaskRunFilter)
    deployments = _sub(DeploymentFilter)


class TaskRunFilterBody(TaskRunCountBody):
    sort = serializers.ChoiceField(choices=TASK_RUN_SORTS, required=False, default="ID_DESC")
    limit = _limit()
    offset = _offset()


def page(body: dict) -> slice:
    """The slice a validated body's `limit` and `offset` select: no limit (absent or null) is the default."""
    limit = body.get("limit")
    limit = MAX_LIMIT if limit is None else limit
    offset = body.get("offset") or 0
    return slice(offset, offset + limit)
