"""The client in Cloud mode streams events over the `events/in` websocket (issue 4 item 4): every event
it emits is stored once in its workspace, and the client reports no trouble with events."""

from __future__ import annotations

import pytest

from apps.engine.models import Event

pytestmark = pytest.mark.slow


def test_client_events_arrive_over_the_websocket_once(praetor):
    result = praetor.run(
        """
        import logging
        logging.getLogger("prefect.events").setLevel(logging.DEBUG)
        from prefect.events import emit_event
        from prefect.events.worker import EventsWorker

        for i in range(45):  # past two of the client's ping-every-20 confirmations
            emit_event(event="compat.test.emitted", resource={"prefect.resource.id": f"compat.thing.{i}"},
                       payload={"i": i})
        worker = EventsWorker.instance()
        print("client:", worker.client_type.__name__)
        worker.drain()
        """
    )
    assert "client: PrefectCloudEventsClient" in result.stdout
    stored = Event.objects.for_workspace(praetor.workspace).filter(event="compat.test.emitted")
    assert sorted(e.payload["i"] for e in stored) == list(range(45))
