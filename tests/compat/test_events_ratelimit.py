"""The real client's events under a tiny `logs_events` limit (docs/ratelimit.md, "The events websocket"):
the server makes it wait, drains what the client already sent, closes with 1013, and the client reconnects
and resends; every event is stored exactly once."""

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

    def tell_the_client_of_each_1013(seen):  # it waits for this between its bursts
        if seen["closed"][-1] == 1013:
            signal = praetor.home / "closes_1013.tmp"
            signal.write_text(str(seen["closed"].count(1013)))
            signal.replace(praetor.home / "closes_1013")

    seen = record_event_streams(monkeypatch, before_connect=drain_the_bucket_as_the_first_socket_opens,
                                on_close=tell_the_client_of_each_1013)
    began = time.monotonic()
    # Three bursts of ten. After each of the first two the client pauses until the server has closed a socket
    # with 1013 (each socket's first event waits the 1 s maximum in vain: the bucket stays in debt): the server
    # drains the burst and closes once the client is quiet, and the client's next send fails and makes it
    # reconnect and resend what it holds unconfirmed. Without the pause the server would drain all thirty on
    # one socket before the client closes it, and no 1013 would be tested. After the third burst the client
    # is done at once: its tail must be stored all the same (whoever closes that socket first).
    result = praetor.run(
        """
        import logging
        import time
        from pathlib import Path

        logging.getLogger("prefect.events").setLevel(logging.DEBUG)
        from prefect.events import emit_event
        from prefect.events.worker import EventsWorker

        def closes_1013():
            signal = Path("closes_1013")
            return int(signal.read_text()) if signal.exists() else 0

        for burst in range(3):
            for i in range(10 * burst, 10 * burst + 10):
                emit_event(event="compat.limited", resource={"prefect.resource.id": f"compat.thing.{i}"},
                           payload={"i": i})
            if burst < 2:
                deadline = time.monotonic() + 120
                while closes_1013() <= burst:
                    assert time.monotonic() < deadline, "the server closed no socket with 1013"
                    time.sleep(0.05)
        EventsWorker.instance().drain()
        """,
        allow_events_trouble=True,
    )
    took = time.monotonic() - began
    # The client is done once it has sent its events; the last socket's consumer may still be waiting for the
    # unit of the first event it read (1 s at most), then drains, after the client closed it.
    events = Event.objects.for_workspace(praetor.workspace).filter(event="compat.limited")
    deadline = time.monotonic() + 60
    while (events.count() < 30 or len(seen["closed"]) < seen["accepted"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    stored = list(events)
    print(
        f"took {took:.1f} s; sockets accepted {seen['accepted']}, closed {seen['closed']}; "
        f"client trouble: {result.events_trouble()}"
    )
    assert len({e.event_id for e in stored}) == len(stored)
    assert sorted(e.payload["i"] for e in stored) == list(range(30))
    # The limit held: the server closed at least the two sockets the client paused on, each after an event
    # waited in vain; the last one closed by either side (the client at its end, or the server once quiet).
    assert seen["closed"].count(1013) >= 2 and set(seen["closed"]) <= {1000, 1013}, seen["closed"]
    assert len(seen["closed"]) == seen["accepted"]
    assert result.events_trouble() == [], result.describe()
