"""Stream messages (events on the websocket) draw from logs_events and wait instead of being refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from apps.ratelimit import services
from apps.ratelimit.streams import stream_units_admit

pytestmark = pytest.mark.django_db(transaction=False)


def test_stream_message_waits_for_the_bucket_then_is_admitted(organization, tiny_limits, settings):
    services.consume(organization, "logs_events", 10)  # empty: one unit back every 6 s
    began = time.monotonic()
    admitted = asyncio.run(stream_units_admit(organization, "logs_events", 1, max_wait=0.1))
    assert admitted is False and time.monotonic() - began < 0.1  # would wait ~6 s: refused at once


def test_stream_message_is_admitted_once_tokens_refill(organization):
    from apps.billing.services import enterprise_set

    # 600 per minute: one unit every 100 ms.
    enterprise_set(organization=organization, overrides={"rate_limit_logs_events_per_minute": 600})
    services.consume(organization, "logs_events", 600)
    began = time.monotonic()
    assert asyncio.run(stream_units_admit(organization, "logs_events", 1)) is True
    assert 0.05 < time.monotonic() - began < 1.0
    usage = services.consume(organization, "logs_events", 0)
    assert usage.remaining == 0
