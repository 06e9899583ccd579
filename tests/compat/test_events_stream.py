"""The client in Cloud mode streams events over the `events/in` websocket (issue 4 item 4): every event
it emits is stored once in its workspace, and the client reports no trouble with events."""

from __future__ import annotations

import time

import pytest

from apps.engine.models import Event
from tests.compat.helpers import record_event_streams

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


@pytest.fixture
def streams(monkeypatch):
    """What the events consumer sees, recorded on the server side: upgrades accepted, close codes."""
    return record_event_streams(monkeypatch)


def test_each_flow_run_streams_its_task_run_events_over_one_websocket(praetor, streams):
    """Two flows of two tasks, logged in as to Cloud: one websocket per flow run, closed normally (1000) and
    never reopened; each task run's Pending, Running and Completed events stored once in the workspace,
    related to their flow run; nothing in the client's output about events going wrong."""
    result = praetor.run(
        """
        from prefect import flow, task, get_run_logger
        from prefect.context import get_run_context

        @task
        def double(i: int) -> int:
            print("task run", get_run_context().task_run.id)
            return i * 2

        @flow
        def small(n: int) -> int:
            print("flow run", get_run_context().flow_run.id)
            return sum(double(i) for i in range(n))

        assert small(2) == 2
        assert small(2) == 2
        """
    )
    runs: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        kind, _, ident = line.rpartition(" ")
        if kind == "flow run":
            runs[ident] = []
        elif kind == "task run":
            runs[list(runs)[-1]].append(ident)
    assert len(runs) == 2 and all(len(tasks) == 2 for tasks in runs.values()), result.describe()

    deadline = time.monotonic() + 10  # the server may handle the last close just after the client exits
    while len(streams["closed"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert streams == {"accepted": 2, "closed": [1000, 1000]}

    stored = list(Event.objects.for_workspace(praetor.workspace).filter(event__startswith="prefect.task-run."))
    assert len({e.event_id for e in stored}) == len(stored)
    got = sorted((e.resource_id, e.event) for e in stored)
    expected = sorted(
        (f"prefect.task-run.{task_run}", f"prefect.task-run.{state}")
        for tasks in runs.values()
        for task_run in tasks
        for state in ("Pending", "Running", "Completed")
    )
    assert got == expected
    for event in stored:
        related = {r["prefect.resource.id"] for r in event.related}
        flow_run = next(f for f, tasks in runs.items() if event.resource_id.removeprefix("prefect.task-run.") in tasks)
        assert f"prefect.flow-run.{flow_run}" in related
