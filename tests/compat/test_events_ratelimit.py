"""The real client's events under a tiny `logs_events` limit (docs/ratelimit.md, "The events websocket"):
the server makes it wait, closes with 1013 when the bucket stays in debt, and the client reconnects and
resends; every event is stored exactly once."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async

from apps.engine.models import Event
from apps.ratelimit import services
from tests.compat.helpers import record_event_streams

pytestmark = pytest.mark.slow


@pytest.fixture
def praetor_limits():
    return {"rate_limit_logs_events_per_minute": 120}  # one unit back every 0.5 s


def test_client_rides_out_waits_and_1013_closes_and_each_event_is_stored_once(praetor, monkeypatch):
    from apps.engine.api.events_stream import EventsInConsumer

    monkeypatch.setattr(EventsInConsumer, "max_wait", 1.0)  # 15 s in production

    async def drain_the_bucket_as_the_first_socket_opens(seen):
        if not seen["accepted"]:
            # A log batch of 130 lines from the full bucket of 120: 10 in debt, the next unit 5.5 s away.
            # Drawn as the first socket opens, not before the client starts: a slow client start (a loaded
            # machine) would otherwise find the bucket refilled and never be made to wait.
            assert (await sync_to_async(services.consume)(praetor.organization, "logs_events", 130,
                                                          batch=True)).allowed

    seen = record_event_streams(monkeypatch, before_connect=drain_the_bucket_as_the_first_socket_opens)
    began = time.monotonic()
    result = praetor.run(
        """
        import logging
        logging.getLogger("prefect.events").setLevel(logging.DEBUG)
        from prefect.events import emit_event
        from prefect.events.worker import EventsWorker

        for i in range(30):
            emit_event(event="compat.limited", resource={"prefect.resource.id": f"compat.thing.{i}"},
                       payload={"i": i})
        EventsWorker.instance().drain()
        """,
        allow_events_trouble=True,
    )
    took = time.monotonic() - began
    # The client is done once it has sent its events; the last socket's consumer may still be waiting for
    # units to store what it read (one every 0.5 s) after the client closed it.
    events = Event.objects.for_workspace(praetor.workspace).filter(event="compat.limited")
    deadline = time.monotonic() + 30
    while (events.count() < 30 or len(seen["closed"]) < seen["accepted"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    stored = list(events)
    print(
        f"took {took:.1f} s; sockets accepted {seen['accepted']}, closed {seen['closed']}; "
        f"client trouble: {result.events_trouble()}"
    )
    assert len({e.event_id for e in stored}) == len(stored)
    assert sorted(e.payload["i"] for e in stored) == list(range(30))
    assert 1013 in seen["closed"] and seen["closed"][-1] == 1000  # the client closed the last one
    assert result.events_trouble() == [], result.describe()
