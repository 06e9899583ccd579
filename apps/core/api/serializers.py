"""Serializer bases: input serializers reject unknown fields instead of silently dropping them."""

from __future__ import annotations

import threading

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict

_fields_per_thread = threading.local()


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that answers unknown fields with a validation error (422).

    A root instance (one built for a request body) reuses its thread's bound copy of the declared fields
    instead of deep-copying the declarations again: DRF's per-instance deep copy was about a tenth of a
    hot request's CPU (bench/flows.py). Safe because validating stores nothing on the fields, one thread
    validates one body at a time, and the fields' parent is pointed at each new instance; nested
    instances (parent set) keep DRF's own copies, so two nested uses of a class never share fields.
    """

    @cached_property
    def fields(self):
        if self.parent is not None:
            return serializers.Serializer.fields.func(self)
        cache = getattr(_fields_per_thread, "by_class", None)
        if cache is None:
            cache = _fields_per_thread.by_class = {}
        template = cache.get(type(self))
        if template is None:
            fields = serializers.Serializer.fields.func(self)  # DRF's deep copy, bound to this instance
            cache[type(self)] = dict(fields.items())
            return fields
        fields = BindingDict(self)
        for name, field in template.items():
            field.parent = self  # already bound (name, label, source): only the owner changes
            fields.fields[name] = field
        return fields

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class NullMeansAbsentSerializer(serializers.Serializer):
    """A body whose top-level keys are read as FastAPI reads separate optional parameters: a key whose value
    is null counts as absent (so it takes its field's default). Values nested deeper keep their nulls.
    apps/core/api/flat.py compiles this rule too."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if value is not None}
        return super().to_internal_value(data)
