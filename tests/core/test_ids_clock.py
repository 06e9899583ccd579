"""apps/core/ids.py `uuid4` is `uuid.uuid4()` (the same UUID from the same 16 random bytes, in every respect) and
apps/core/clock.py `now` is `django.utils.timezone.now()` (the same kind of datetime, following USE_TZ)."""

from __future__ import annotations

import copy
import datetime
import os
import pickle
import random
import uuid

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.core import clock, ids


def _random_bytes(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    edges = [bytes(16), b"\xff" * 16, b"\x00" * 8 + b"\xff" * 8, b"\xff" * 8 + b"\x00" * 8,
             bytes(range(16)), bytes(range(240, 256))]
    return edges + [rng.randbytes(16) for _ in range(count)]


def test_uuid4_makes_the_uuid_that_uuid_uuid4_makes_from_the_same_bytes(monkeypatch):
    draws = _random_bytes(4, 20_000)
    for raw in draws:
        monkeypatch.setattr(os, "urandom", lambda n, raw=raw: raw)
        monkeypatch.setattr(ids, "_random", lambda n, raw=raw: raw)
        expected, made = uuid.uuid4(), ids.uuid4()
        assert type(made) is uuid.UUID
        assert made == expected and made.int == expected.int and hash(made) == hash(expected)
        assert str(made) == str(expected) and made.bytes == expected.bytes
        assert made.version == 4 and made.variant == uuid.RFC_4122
        assert made.is_safe is expected.is_safe is uuid.SafeUUID.unknown
        assert pickle.loads(pickle.dumps(made)) == made and copy.copy(made) == made


def test_uuid4_asks_for_16_random_bytes_each_time_and_stays_immutable(monkeypatch):
    asked: list = []
    real = ids._random
    monkeypatch.setattr(ids, "_random", lambda n: asked.append(n) or real(n))
    made = {ids.uuid4() for _ in range(1_000)}
    assert asked == [16] * 1_000 and len(made) == 1_000
    value = ids.uuid4()
    with pytest.raises(TypeError):
        value.int = 1
    assert uuid.UUID(str(value)) == value and uuid.UUID(bytes=value.bytes) == value


def test_now_is_timezone_now():
    before = timezone.now()
    made = clock.now()
    after = timezone.now()
    assert before <= made <= after
    assert made.tzinfo is datetime.UTC is before.tzinfo


def test_now_follows_use_tz_as_timezone_now_does():
    assert clock.now().tzinfo is datetime.UTC
    with override_settings(USE_TZ=False):
        made, reference = clock.now(), timezone.now()
        assert made.tzinfo is None is reference.tzinfo
        assert abs(made - reference) < datetime.timedelta(seconds=5)
    assert clock.now().tzinfo is datetime.UTC
    with override_settings(TIME_ZONE="America/New_York"):  # another setting: the zone is kept
        assert clock.now().tzinfo is datetime.UTC


def test_now_is_a_replaced_timezone_now(monkeypatch):
    frozen = datetime.datetime(2024, 2, 29, 12, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: frozen)
    assert clock.now() is frozen
