"""Input and output shapes of flow run inputs (Prefect 2.20: the bodies of `flow_runs/{id}/input` and
`…/input/filter`, and FlowRunInput)."""

from __future__ import annotations

from rest_framework import serializers

from apps.engine.models.flow_run_inputs import MAX_KEY_LENGTH

MAX_FILTER_LIMIT = 200


class FlowRunInputCreate(serializers.Serializer):
    """The create body. As on Prefect's server these are separate body parameters: other keys are ignored."""

    key = serializers.CharField(max_length=MAX_KEY_LENGTH, trim_whitespace=False)
    value = serializers.CharField(allow_blank=True, trim_whitespace=False)
    sender = serializers.CharField(max_length=MAX_KEY_LENGTH, required=False, allow_null=True, allow_blank=True,
                                   trim_whitespace=False)


class FlowRunInputFilterBody(serializers.Serializer):
    """Inputs whose key starts with `prefix`, oldest first, at most `limit` (Prefect's default: 1)."""

    prefix = serializers.CharField(allow_blank=True, trim_whitespace=False)
    limit = serializers.IntegerField(required=False, default=1, min_value=0, max_value=MAX_FILTER_LIMIT)
    exclude_keys = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False,
                                         default=list)


class FlowRunInputResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    flow_run_id = serializers.UUIDField()
    key = serializers.CharField()
    value = serializers.CharField()
    sender = serializers.CharField(allow_null=True)


def flow_run_input_json(row) -> dict:
    return {"id": str(row.id), "created": row.created.isoformat(), "updated": row.updated.isoformat(),
            "flow_run_id": str(row.flow_run_id), "key": row.key, "value": row.value, "sender": row.sender}
