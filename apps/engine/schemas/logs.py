"""Input and output shapes of logs (Prefect 2.20: LogCreate, LogFilter, LogSort, Log)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.flat import FlatValidator
from apps.core.api.serializers import StrictInputSerializer

LOG_SORTS = ["TIMESTAMP_ASC", "TIMESTAMP_DESC"]
# The client sends at most PREFECT_LOGGING_TO_API_MAX_LOG_SIZE (1,000,000 bytes) per log and batches of
# at most 4,000,000 bytes; a message beyond that never came from a well-behaved client.
MAX_MESSAGE_LENGTH = 1_000_000
MAX_BATCH = 10_000
MAX_NAME_LENGTH = 255


class LogCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, allow_blank=True, trim_whitespace=False)
    level = serializers.IntegerField(min_value=-32768, max_value=32767)
    message = serializers.CharField(max_length=MAX_MESSAGE_LENGTH, allow_blank=True, trim_whitespace=False)
    timestamp = serializers.DateTimeField()
    flow_run_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    task_run_id = serializers.UUIDField(required=False, allow_null=True, default=None)


class LogCreateBatch(serializers.ListSerializer):
    """The body of `POST logs/`: a JSON array of LogCreate, at most MAX_BATCH long."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("child", LogCreate())
        kwargs.setdefault("max_length", MAX_BATCH)
        super().__init__(*args, **kwargs)


# `log_batch(data)`: a `POST logs/` body validated as LogCreateBatch validates it, by compiled field checks for
# the usual batches and by the serializer for anything else (apps/core/api/flat.py).
log_batch = FlatValidator(LogCreateBatch)


class LogFilterLevel(StrictInputSerializer):
    ge_ = serializers.IntegerField(required=False, allow_null=True)
    le_ = serializers.IntegerField(required=False, allow_null=True)


class LogFilterTimestamp(StrictInputSerializer):
    before_ = serializers.DateTimeField(required=False, allow_null=True)
    after_ = serializers.DateTimeField(required=False, allow_null=True)


class LogFilterRunId(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class LogFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    level = LogFilterLevel(required=False, allow_null=True)
    timestamp = LogFilterTimestamp(required=False, allow_null=True)
    flow_run_id = LogFilterRunId(required=False, allow_null=True)
    task_run_id = LogFilterRunId(required=False, allow_null=True)


class LogFilterBody(StrictInputSerializer):
    logs = LogFilter(required=False, allow_null=True)
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)
    sort = serializers.ChoiceField(choices=LOG_SORTS, required=False, default="TIMESTAMP_ASC")


class Log(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    message = serializers.CharField()
    timestamp = serializers.DateTimeField()
    flow_run_id = serializers.UUIDField(allow_null=True)
    task_run_id = serializers.UUIDField(allow_null=True)
