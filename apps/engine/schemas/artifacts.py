"""Input and output shapes of artifacts (Prefect 2.20: ArtifactCreate, ArtifactUpdate, ArtifactFilter,
ArtifactCollectionFilter, Artifact, ArtifactCollection)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer

SORT_CHOICES = ["CREATED_DESC", "UPDATED_DESC", "ID_DESC", "KEY_DESC", "KEY_ASC"]


def _strings():
    return serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class ArtifactIdsFilter(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class ArtifactCreate(StrictInputSerializer):
    key = serializers.CharField(max_length=255, required=False, allow_null=True)
    type = serializers.CharField(max_length=64, required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    data = serializers.JSONField(required=False, allow_null=True)
    metadata_ = serializers.DictField(required=False, allow_null=True)
    flow_run_id = serializers.UUIDField(required=False, allow_null=True)
    task_run_id = serializers.UUIDField(required=False, allow_null=True)


class ArtifactUpdate(StrictInputSerializer):
    data = serializers.JSONField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    metadata_ = serializers.DictField(required=False, allow_null=True)


class ArtifactFilterKey(StrictInputSerializer):
    any_ = _strings()
    like_ = serializers.CharField(required=False, allow_null=True)
    exists_ = serializers.BooleanField(required=False, allow_null=True)


class ArtifactFilterType(StrictInputSerializer):
    any_ = _strings()
    not_any_ = _strings()


class ArtifactFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    id = ArtifactIdsFilter(required=False, allow_null=True)
    key = ArtifactFilterKey(required=False, allow_null=True)
    flow_run_id = ArtifactIdsFilter(required=False, allow_null=True)
    task_run_id = ArtifactIdsFilter(required=False, allow_null=True)
    type = ArtifactFilterType(required=False, allow_null=True)


class ArtifactCollectionFilter(ArtifactFilter):
    id = None
    latest_id = ArtifactIdsFilter(required=False, allow_null=True)


class RunIdFilter(StrictInputSerializer):
    """The part of a FlowRunFilter/TaskRunFilter artifacts can be narrowed by: the run ids. The client
    sends every criterion, unset ones as null; a set criterion other than `id` is refused (422)."""

    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    id = ArtifactIdsFilter(required=False, allow_null=True)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None or k in self.fields}
            unsupported = sorted(set(data) - set(self.fields))
            if unsupported:
                raise serializers.ValidationError(
                    {name: ["Artifacts can be narrowed by run id only."] for name in unsupported})
        return super().to_internal_value(data)


class _RunFilters(StrictInputSerializer):
    flow_runs = RunIdFilter(required=False, allow_null=True)
    task_runs = RunIdFilter(required=False, allow_null=True)


class ArtifactCountBody(_RunFilters):
    artifacts = ArtifactFilter(required=False, allow_null=True)


class ArtifactFilterBody(ArtifactCountBody):
    sort = serializers.ChoiceField(choices=SORT_CHOICES, required=False, default="ID_DESC")
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


class ArtifactCollectionCountBody(_RunFilters):
    artifacts = ArtifactCollectionFilter(required=False, allow_null=True)


class ArtifactCollectionFilterBody(ArtifactCollectionCountBody):
    sort = serializers.ChoiceField(choices=SORT_CHOICES, required=False, default="ID_DESC")
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


class Artifact(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    key = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    data = serializers.JSONField(allow_null=True)
    metadata_ = serializers.JSONField(source="metadata", allow_null=True)
    flow_run_id = serializers.UUIDField(allow_null=True)
    task_run_id = serializers.UUIDField(allow_null=True)


class ArtifactCollection(Artifact):
    key = serializers.CharField()
    latest_id = serializers.UUIDField()
