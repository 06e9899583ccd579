"""Input and output shapes of events (Prefect 2.20 / Cloud: EventFilter, Event, ReceivedEvent, EventPage)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer


def _strings():
    return serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class ResourceLabels(serializers.DictField):
    """Prefect's ResourceSpecification: label → a string or a list of strings (a trailing `*` = prefix)."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        for label, value in data.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in values):
                raise serializers.ValidationError({label: ["A label matches a string or a list of strings."]})
        return data


class EventOccurredFilter(StrictInputSerializer):
    since = serializers.DateTimeField(required=False, allow_null=True)
    until = serializers.DateTimeField(required=False, allow_null=True)


class EventNameFilter(StrictInputSerializer):
    prefix = _strings()
    exclude_prefix = _strings()
    name = _strings()
    exclude_name = _strings()


class EventResourceFilter(StrictInputSerializer):
    id = _strings()
    id_prefix = _strings()
    labels = ResourceLabels(required=False, allow_null=True)
    distinct = serializers.BooleanField(required=False, default=False)


class EventRelatedFilter(StrictInputSerializer):
    id = _strings()
    role = _strings()
    resources_in_roles = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2),
        required=False, allow_null=True)
    labels = ResourceLabels(required=False, allow_null=True)


class EventAnyResourceFilter(StrictInputSerializer):
    id = _strings()
    id_prefix = _strings()
    labels = ResourceLabels(required=False, allow_null=True)


class EventIDFilter(StrictInputSerializer):
    id = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class EventFilter(StrictInputSerializer):
    occurred = EventOccurredFilter(required=False, allow_null=True)
    event = EventNameFilter(required=False, allow_null=True)
    any_resource = EventAnyResourceFilter(required=False, allow_null=True)
    resource = EventResourceFilter(required=False, allow_null=True)
    related = EventRelatedFilter(required=False, allow_null=True)
    id = EventIDFilter(required=False, allow_null=True)
    order = serializers.ChoiceField(choices=["ASC", "DESC"], required=False, default="DESC")


class EventFilterBody(StrictInputSerializer):
    filter = EventFilter(required=False, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=50, default=50)


class EventInput(serializers.Serializer):
    """Documentation of one event as the client sends it; events are validated by services.events."""

    occurred = serializers.DateTimeField()
    event = serializers.CharField()
    resource = serializers.DictField(child=serializers.CharField())
    related = serializers.ListField(child=serializers.DictField(child=serializers.CharField()), required=False)
    payload = serializers.DictField(required=False)
    id = serializers.UUIDField()
    follows = serializers.UUIDField(required=False, allow_null=True)


class ReceivedEvent(serializers.Serializer):
    occurred = serializers.DateTimeField()
    event = serializers.CharField()
    resource = serializers.JSONField()
    related = serializers.JSONField()
    payload = serializers.JSONField()
    id = serializers.UUIDField(source="event_id")
    follows = serializers.UUIDField(allow_null=True)
    received = serializers.DateTimeField()


class EventPage(serializers.Serializer):
    events = ReceivedEvent(many=True)
    total = serializers.IntegerField()
    next_page = serializers.CharField(allow_null=True)
