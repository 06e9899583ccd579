"""Stream messages (events on the websocket) draw from logs_events and wait instead of being refused; past
the longest wait the socket closes with 1013, keeping what it had read; HTTP logs share the bucket."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async

from apps.engine.models import Event
from apps.ratelimit import services
from apps.ratelimit.streams import stream_units_admit
from config.asgi import application

pytestmark = pytest.mark.django_db(transaction=False)


def test_stream_message_is_refused_after_waiting_the_maximum(organization, tiny_limits, settings):
    services.consume(organization, "logs_events", 10)  # empty: one unit back every 6 s
    began = time.monotonic()
    admitted = asyncio.run(stream_units_admit(organization, "logs_events", 1, max_wait=0.2))
    # Waited the whole maximum (not refused at once: the client would burn its reconnections), then refused.
    assert admitted is False and 0.2 <= time.monotonic() - began < 1.0
    assert services.consume(organization, "logs_events", 0).remaining == 0


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


# --- the events websocket: each event draws one unit of logs_events, in the same hop as its insert -------


def events_url(workspace) -> str:
    return f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/events/in"


def event(name: str = "prefect.flow-run.Completed") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": name,
        "resource": {"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
    }


async def open_stream(workspace, key: str) -> tuple[ApplicationCommunicator, dict]:
    scope = {
        "type": "websocket",
        "path": events_url(workspace),
        "query_string": b"",
        "subprotocols": [],
        "headers": [(b"authorization", f"bearer {key}".encode())],
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    return communicator, await communicator.receive_output(timeout=5)


def stream(workspace, key: str, messages: list[str]) -> list[dict]:
    """Open events/in, send the messages at once (as uvicorn queues what it reads), then the client's
    close; every message the consumer sent back, the accept included."""

    async def run():
        communicator, accepted = await open_stream(workspace, key)
        for message in messages:
            await communicator.send_input({"type": "websocket.receive", "text": message})
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=10)  # the consumer handles messages in order: all done when it returns
        replies = [accepted]
        while not communicator.output_queue.empty():
            replies.append(communicator.output_queue.get_nowait())
        return replies

    return async_to_sync(run)()


async def read_like_uvicorn(communicator, messages: list[str], *, gap: float = 0.0) -> int:
    """Hand the messages to the consumer as uvicorn reads them off the socket, one read per message (the
    worst case): the next one only once the consumer took every message read before, and none once the
    server closed the socket (the only message it sends after the accept). Returns how many were read."""
    read = 0
    for message in messages:
        while not communicator.input_queue.empty():
            await asyncio.sleep(0.005)
        if not communicator.output_queue.empty():
            break
        await communicator.send_input({"type": "websocket.receive", "text": message})
        read += 1
        if gap:
            await asyncio.sleep(gap)
    return read


def stream_until_closed(workspace, key: str, messages: list[str], *, gap: float = 0.0) -> tuple[list[dict], int]:
    """Open events/in, send the messages as uvicorn would read them, then nothing more (the client is done)
    until the server closes the socket (uvicorn then queues the disconnect with the server's code). Every
    message the consumer sent back, and how many messages it was handed before its close."""

    async def run():
        communicator, accepted = await open_stream(workspace, key)
        read = await read_like_uvicorn(communicator, messages, gap=gap)  # all, or until the close
        closed = await communicator.receive_output(timeout=15)
        assert closed["type"] == "websocket.close"
        await communicator.send_input({"type": "websocket.disconnect", "code": closed["code"]})
        await communicator.wait(timeout=10)
        replies = [accepted, closed]
        while not communicator.output_queue.empty():
            replies.append(communicator.output_queue.get_nowait())
        return replies, read

    return async_to_sync(run)()


def stored(workspace) -> list[str]:
    return sorted(str(e) for e in Event.objects.for_workspace(workspace).values_list("event_id", flat=True))


def logs_events(organization):
    return services.consume(organization, "logs_events", 0)


@pytest.mark.django_db(transaction=True)
def test_events_within_the_limit_are_stored_once_each_one_unit_each(workspace, user_key, tiny_limits):
    first, *others = [event() for _ in range(7)]
    messages = [orjson.dumps(e).decode() for e in [first, *others, first]]  # the first one resent
    replies = stream(workspace, user_key, [*messages, "not json", '{"event": 1}'])
    assert [r["type"] for r in replies] == ["websocket.accept"]  # never closed from our side
    assert stored(workspace) == sorted(e["id"] for e in [first, *others])
    # 8 events received (a resend counts again); malformed messages are dropped without a draw.
    assert logs_events(workspace.organization).remaining == 10 - 8


@pytest.mark.django_db(transaction=True)
def test_an_empty_bucket_makes_the_consumer_wait_before_it_reads_on(workspace, user_key):
    from apps.billing.services import enterprise_set

    # 120 per minute: one unit back every 0.5 s; emptied, three events wait about 1.5 s in all.
    enterprise_set(organization=workspace.organization, overrides={"rate_limit_logs_events_per_minute": 120})
    events = [event() for _ in range(3)]

    async def run():
        communicator, accepted = await open_stream(workspace, user_key)
        assert accepted["type"] == "websocket.accept"
        await database_sync_to_async(services.consume)(workspace.organization, "logs_events", 120)
        began = time.monotonic()
        for e in events:
            await communicator.send_input({"type": "websocket.receive", "text": orjson.dumps(e).decode()})
        await asyncio.sleep(0.2)
        early = await database_sync_to_async(stored)(workspace)
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=10)
        return early, time.monotonic() - began, communicator.output_queue.empty()

    early, took, nothing_sent = async_to_sync(run)()
    assert early == []  # the first event still waits for its unit: nothing stored yet
    assert 1.3 < took < 5.0
    assert nothing_sent  # waited, not closed
    assert stored(workspace) == sorted(e["id"] for e in events)
    assert logs_events(workspace.organization).remaining == 0


@pytest.mark.django_db(transaction=True)
def test_http_logs_and_the_socket_share_one_bucket(authed_client, workspace, user_key, tiny_limits):
    logs = f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/logs/"
    line = {"name": "prefect.flow_runs", "level": 20, "message": "hi", "timestamp": datetime.now(UTC).isoformat()}
    assert authed_client.post(logs, [line] * 6, format="json").status_code == 201
    events = [event() for _ in range(4)]
    replies = stream(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [r["type"] for r in replies] == ["websocket.accept"]
    assert len(stored(workspace)) == 4
    # 6 log lines + 4 events took all 10 units: the next log line is refused.
    refused = authed_client.post(logs, [line], format="json")
    assert refused.status_code == 429 and refused["RateLimit-Limit"] == "10"


@pytest.mark.django_db(transaction=True)
def test_a_wait_past_the_maximum_closes_1013_and_keeps_what_was_read(
    authed_client, workspace, user_key, tiny_limits, monkeypatch
):
    from apps.engine.api.events_stream import EventsInConsumer

    monkeypatch.setattr(EventsInConsumer, "max_wait", 0.3)  # 15 s in production
    events = [event() for _ in range(3)]
    first = orjson.dumps(events[0]).decode()

    # The first event takes one unit; a log batch of 40 lines (drawn as POST logs/ draws it) takes the 9 left
    # and leaves the bucket 31 in debt: the next unit is 32 x 6 s = 192 s away, past what one event may wait.
    async def run():
        communicator, accepted = await open_stream(workspace, user_key)
        assert accepted["type"] == "websocket.accept"
        await communicator.send_input({"type": "websocket.receive", "text": first})
        for _ in range(50):  # the first event is stored once its unit is drawn
            if await database_sync_to_async(stored)(workspace):
                break
            await asyncio.sleep(0.02)
        await database_sync_to_async(services.consume)(workspace.organization, "logs_events", 40, batch=True)
        began = time.monotonic()
        for e in events[1:]:  # read by the server before it decides to close: kept, each counted
            await communicator.send_input({"type": "websocket.receive", "text": orjson.dumps(e).decode()})
        closed = await communicator.receive_output(timeout=5)
        waited = time.monotonic() - began
        await communicator.send_input({"type": "websocket.disconnect", "code": 1013})
        await communicator.wait(timeout=5)
        return closed, waited

    since = time.monotonic()  # before the first unit is drawn: the refill runs from then
    closed, waited = async_to_sync(run)()
    assert 0.3 <= waited < 3  # waited the maximum for the second event's unit, then closed
    assert closed == {"type": "websocket.close", "code": 1013, "reason": "Rate limit exceeded: try again later."}
    assert stored(workspace) == sorted(e["id"] for e in events)
    assert logs_events(workspace.organization).remaining == 0
    # 10 - 1 - 40 - 2 forced = 33 in debt: the next unit is 34 x 6 s away, less what has refilled since.
    assert_next_unit_after(workspace.organization, 34, since)

    # The client reconnects and resends what it holds unconfirmed: the new socket waits, closes with 1013 again
    # and keeps what it read; resends already stored are skipped and, read off a closing socket, not counted.
    replies, read = stream_until_closed(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [(r["type"], r.get("code")) for r in replies] == [("websocket.accept", None), ("websocket.close", 1013)]
    assert read == 3
    assert stored(workspace) == sorted(e["id"] for e in events)
    assert_next_unit_after(workspace.organization, 34, since)


# --- giving up on a unit: the consumer drains what the client already sent before it closes with 1013 ------
#
# The prefect 2.20 client resends unconfirmed events only when a later send fails: events it wrote before
# our close and that the server never read are lost when it has nothing more to send (the end of its run).


def in_debt(organization) -> float:
    """A log batch of 50 lines from the full bucket of 10: 40 in debt, the next unit 41 x 6 s away. Returns the
    monotonic time just before the draw, from which the bucket refills."""
    since = time.monotonic()
    assert services.consume(organization, "logs_events", 50, batch=True).allowed
    return since


def assert_next_unit_after(organization, units: int, since: float) -> None:
    """The next unit of logs_events (tiny_limits: 10 a minute, one per 6 s) is `units` x 6 s from the draws that
    put the bucket in debt, less the refill since `since` (taken before the first of them): exact in the units,
    whatever time a loaded machine took between the draws and this check. Draws one more unit if allowed."""
    wait = services.consume(organization, "logs_events", 1).retry_after
    elapsed = time.monotonic() - since
    assert units * 6 - elapsed - 0.1 <= wait <= units * 6 + 0.1, (wait, units, elapsed)


@pytest.fixture
def debt(workspace, tiny_limits) -> float:
    """The bucket 40 in debt (in_debt); the moment the refill runs from."""
    return in_debt(workspace.organization)


@pytest.fixture
def giving_up(workspace, tiny_limits, debt, monkeypatch):
    """The consumer, its bucket in debt, gives up on a unit after 0.2 s and closes after 0.3 s of quiet;
    returns the consumer class for a test to tune its drain bounds further."""
    from apps.engine.api.events_stream import EventsInConsumer

    monkeypatch.setattr(EventsInConsumer, "max_wait", 0.2)
    monkeypatch.setattr(EventsInConsumer, "drain_quiet", 0.3)
    return EventsInConsumer


@pytest.mark.django_db(transaction=True)
def test_the_tail_sent_before_the_close_is_stored_once_and_counted_then_one_1013(
    workspace, user_key, giving_up, debt
):
    events = [event() for _ in range(6)]
    # Back to back, then the client sends nothing more (it is done): the first event waits 0.2 s in vain; the
    # five behind it, still unread (uvicorn paused reading), are read and stored before the close. Closing at
    # once lost them: uvicorn stops reading at the close, and the client, done, never resends them.
    replies, read = stream_until_closed(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [(r["type"], r.get("code")) for r in replies] == [("websocket.accept", None), ("websocket.close", 1013)]
    assert read == 6
    assert stored(workspace) == sorted(e["id"] for e in events)
    # All six counted, in debt: 40 + 6 = 46, the next unit 47 x 6 s away.
    assert_next_unit_after(workspace.organization, 47, debt)

    # The client resends them all on a new socket (it never had a pong for them): stored once, not counted again.
    replies, read = stream_until_closed(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [(r["type"], r.get("code")) for r in replies] == [("websocket.accept", None), ("websocket.close", 1013)]
    assert read == 6
    assert stored(workspace) == sorted(e["id"] for e in events)
    assert_next_unit_after(workspace.organization, 47, debt)


@pytest.mark.django_db(transaction=True)
def test_a_client_closing_during_the_drain_gets_no_1013_and_leaves_no_timer(workspace, user_key, giving_up):
    events = [event() for _ in range(3)]

    async def run():
        communicator, accepted = await open_stream(workspace, user_key)
        for e in events:
            await communicator.send_input({"type": "websocket.receive", "text": orjson.dumps(e).decode()})
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})  # the client is done
        await communicator.wait(timeout=10)
        await asyncio.sleep(0.5)  # past the quiet period: a leaked timer would have tried to close by now
        timers = [t for t in asyncio.all_tasks() if "_close_when_quiet" in repr(t.get_coro())]
        return communicator.output_queue.empty(), timers

    nothing_sent, timers = async_to_sync(run)()
    assert nothing_sent  # the client closed first: no 1013 after it
    assert timers == []  # the disconnect cancelled the quiet timer
    assert stored(workspace) == sorted(e["id"] for e in events)


@pytest.mark.django_db(transaction=True)
def test_a_client_that_never_pauses_is_closed_after_the_most_messages(workspace, user_key, giving_up, monkeypatch):
    monkeypatch.setattr(giving_up, "drain_quiet", 30.0)  # never quiet long enough within this test
    monkeypatch.setattr(giving_up, "drain_most", 5)
    events = [event() for _ in range(8)]
    replies, read = stream_until_closed(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [(r["type"], r.get("code")) for r in replies] == [("websocket.accept", None), ("websocket.close", 1013)]
    # Closed once the event in hand and four more were drained; one more that uvicorn read while the fifth was
    # being stored, if it did (it depends on the scheduling), came before the close and is stored too; the rest
    # were never read (the client resends them when its next send fails on the closed socket).
    assert read in (5, 6)
    assert stored(workspace) == sorted(e["id"] for e in events[:read])


@pytest.mark.django_db(transaction=True)
def test_a_client_that_never_pauses_is_closed_after_the_longest_drain(workspace, user_key, giving_up, monkeypatch):
    monkeypatch.setattr(giving_up, "drain_quiet", 30.0)  # never quiet long enough within this test
    monkeypatch.setattr(giving_up, "drain_longest", 0.5)
    events = [event() for _ in range(400)]
    # One every 50 ms (20 s in all), each re-arming the quiet timer: the socket closes while they still come.
    replies, read = stream_until_closed(workspace, user_key, [orjson.dumps(e).decode() for e in events], gap=0.05)
    assert [(r["type"], r.get("code")) for r in replies] == [("websocket.accept", None), ("websocket.close", 1013)]
    assert 2 <= read < 400
    assert stored(workspace) == sorted(e["id"] for e in events[:read])


@pytest.mark.django_db(transaction=True)
def test_with_redis_down_the_socket_fails_open_onto_the_in_process_limiter(
    workspace, user_key, tiny_limits, settings, caplog
):
    with socket.socket() as sock:  # a port nothing listens on: Redis is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.PRAETOR_RATELIMIT_REDIS_URL = f"redis://127.0.0.1:{port}/0"
    events = [event() for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="apps.ratelimit.limiter"):
        replies = stream(workspace, user_key, [orjson.dumps(e).decode() for e in events])
    assert [r["type"] for r in replies] == ["websocket.accept"]
    assert stored(workspace) == sorted(e["id"] for e in events)
    assert logs_events(workspace.organization).remaining == 10 - 3  # still counted, in this process
    assert "Rate limiter: Redis unavailable" in caplog.text
