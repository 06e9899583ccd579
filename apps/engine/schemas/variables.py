"""Input and output shapes of variables (Prefect 2.20: VariableCreate, VariableUpdate, VariableFilter, Variable)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer
from apps.engine.models.variables import MAX_NAME_LENGTH, MAX_VALUE_LENGTH

VARIABLE_SORTS = ["CREATED_DESC", "UPDATED_DESC", "NAME_DESC", "NAME_ASC"]


def _strings():
    return serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class VariableCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=MAX_NAME_LENGTH)
    value = serializers.CharField(max_length=MAX_VALUE_LENGTH, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False, default=list)


class VariableUpdate(StrictInputSerializer):
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, required=False)
    value = serializers.CharField(max_length=MAX_VALUE_LENGTH, allow_blank=True, trim_whitespace=False,
                                  required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class VariableTextFilter(StrictInputSerializer):
    any_ = _strings()
    like_ = serializers.CharField(required=False, allow_null=True)


class VariableIdsFilter(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class VariableFilterTags(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    all_ = _strings()
    is_null_ = serializers.BooleanField(required=False, allow_null=True)


class VariableFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    id = VariableIdsFilter(required=False, allow_null=True)
    name = VariableTextFilter(required=False, allow_null=True)
    value = VariableTextFilter(required=False, allow_null=True)
    tags = VariableFilterTags(required=False, allow_null=True)


class VariableCountBody(StrictInputSerializer):
    variables = VariableFilter(required=False, allow_null=True)


class VariableFilterBody(VariableCountBody):
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)
    sort = serializers.ChoiceField(choices=VARIABLE_SORTS, required=False, default="NAME_ASC")


class Variable(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    value = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
