"""Input and output shapes of concurrency limits: tag-based (v1: ConcurrencyLimitCreate, ConcurrencyLimit)
and global (v2: ConcurrencyLimitV2Create/Update, ConcurrencyLimitV2, GlobalConcurrencyLimitResponse,
the increment/decrement bodies and MinimalConcurrencyLimitResponse), as Prefect 2.20 names them."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer

MAX_NAME_LENGTH = 255
BANNED_NAME_CHARACTERS = ["/", "%", "&", ">", "<"]  # Prefect's rule for names that appear in paths


def _name_ok(value: str) -> str:
    if any(c in value for c in BANNED_NAME_CHARACTERS):
        raise serializers.ValidationError(
            f"Name {value!r} contains an invalid character. Must not contain any of: {BANNED_NAME_CHARACTERS}."
        )
    return value


class PageBody(StrictInputSerializer):
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


# v1: tag-based task concurrency


class ConcurrencyLimitCreate(StrictInputSerializer):
    tag = serializers.CharField(max_length=MAX_NAME_LENGTH)
    concurrency_limit = serializers.IntegerField(min_value=0, max_value=2**31 - 1)


class ConcurrencyLimitReset(StrictInputSerializer):
    slot_override = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class ConcurrencyLimit(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    tag = serializers.CharField()
    concurrency_limit = serializers.IntegerField()
    active_slots = serializers.ListField(child=serializers.UUIDField())


# v2: global limits (also rate limits, with slot decay)


class ConcurrencyLimitV2Create(StrictInputSerializer):
    active = serializers.BooleanField(required=False, default=True)
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, validators=[_name_ok])
    limit = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    active_slots = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1, default=0)
    denied_slots = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1, default=0)
    slot_decay_per_second = serializers.FloatField(required=False, min_value=0.0, default=0.0)


class ConcurrencyLimitV2Update(StrictInputSerializer):
    active = serializers.BooleanField(required=False)
    name = serializers.CharField(max_length=MAX_NAME_LENGTH, validators=[_name_ok], required=False)
    limit = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    active_slots = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    denied_slots = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    slot_decay_per_second = serializers.FloatField(min_value=0.0, required=False)


class ConcurrencyLimitV2(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    active = serializers.BooleanField()
    name = serializers.CharField()
    limit = serializers.IntegerField()
    active_slots = serializers.IntegerField()
    denied_slots = serializers.IntegerField()
    slot_decay_per_second = serializers.FloatField()
    avg_slot_occupancy_seconds = serializers.FloatField()


class GlobalConcurrencyLimitResponse(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    active = serializers.BooleanField()
    name = serializers.CharField()
    limit = serializers.IntegerField()
    active_slots = serializers.IntegerField()
    slot_decay_per_second = serializers.FloatField()


class _SlotsBody(StrictInputSerializer):
    slots = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    names = serializers.ListField(child=serializers.CharField(max_length=MAX_NAME_LENGTH), min_length=1,
                                  max_length=200)


class ConcurrencyIncrementBody(_SlotsBody):
    mode = serializers.ChoiceField(choices=["concurrency", "rate_limit"], required=False, default="concurrency")


class ConcurrencyDecrementBody(_SlotsBody):
    occupancy_seconds = serializers.FloatField(required=False, allow_null=True, min_value=0.0)

    def validate_occupancy_seconds(self, value):
        if value is not None and value <= 0:
            raise serializers.ValidationError("ensure this value is greater than 0")
        return value


class MinimalConcurrencyLimitResponse(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    limit = serializers.IntegerField()
