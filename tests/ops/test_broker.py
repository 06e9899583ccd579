"""The embedded mode's broker (apps/core/broker.py): kombu's filesystem transport, driven through kombu
as Celery drives it, with a message never visible half-written, a file that is not a message skipped,
send order kept across a digit boundary, and a full prefetch window handed back to the caller at once."""

from __future__ import annotations

import logging
import time
from queue import Empty

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.transport.virtual import BrokerState

from apps.core import broker

QUEUE = "jobs"


@pytest.fixture
def connection(tmp_path, monkeypatch):
    # kombu keeps the filesystem transport's bindings per process; each test has its own folders.
    monkeypatch.setattr(broker.Transport, "global_state", BrokerState())
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "control_folder": str(tmp_path / "control"),
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "processed_folder": str(tmp_path / "processed"),
        "store_processed": False,
        "polling_interval": 1.0,
    }
    with Connection("filesystem://", transport="apps.core.broker:Transport", transport_options=options) as conn:
        conn.folder = folder
        yield conn


def _queue(conn) -> Queue:
    queue = Queue(QUEUE, Exchange(QUEUE, type="direct"), routing_key=QUEUE)
    queue(conn.default_channel).declare()
    return queue


def _publish(conn, body) -> None:
    Producer(conn.default_channel).publish(body, exchange=QUEUE, routing_key=QUEUE, serializer="json")


def test_the_connection_uses_this_transport(connection):
    assert isinstance(connection.transport, broker.Transport)


def test_a_message_being_written_is_invisible_to_the_consumer(connection, monkeypatch):
    _queue(connection)
    channel = connection.default_channel
    seen_mid_write = []
    real_write = broker._write

    def write_in_two_halves(path, data):
        # What another process polling between the writer's first and last byte would find.
        half = len(data) // 2
        real_write(path, data[:half])
        try:
            seen_mid_write.append(channel._get(QUEUE))
        except Empty:
            seen_mid_write.append(None)
        with open(path, "ab") as f:
            f.write(data[half:])

    monkeypatch.setattr(broker, "_write", write_in_two_halves)
    _publish(connection, {"n": 1})
    assert seen_mid_write == [None]
    assert channel._get(QUEUE)["body"]  # the whole message, once it is complete
    assert list(connection.folder.iterdir()) == []


def test_a_file_that_is_not_a_message_is_logged_and_skipped(connection, caplog):
    _queue(connection)
    (connection.folder / f"{0:020d}_broken.{QUEUE}.msg").write_bytes(b'{"body": "trunc')
    _publish(connection, {"n": 2})
    received = []
    consumer = Consumer(
        connection.default_channel,
        [_queue(connection)],
        callbacks=[lambda body, m: received.append(body)],
        accept=["json"],
        no_ack=True,
    )
    with consumer, caplog.at_level(logging.ERROR, logger="apps.core.broker"):
        connection.drain_events(timeout=2)
    assert received == [{"n": 2}]
    assert [r.getMessage() for r in caplog.records] == [
        f"Dropped {0:020d}_broken.{QUEUE}.msg from queue '{QUEUE}': not a message (15 bytes)."
    ]


def test_messages_keep_send_order_when_the_clock_gains_a_digit(connection, monkeypatch):
    _queue(connection)
    clock = iter([10**18 - 2, 10**18 - 1, 10**18, 10**18 + 1])  # monotonic_ns() gains a digit
    monkeypatch.setattr(broker.time, "monotonic_ns", lambda: next(clock))
    for n in range(4):
        _publish(connection, {"n": n})
    monkeypatch.undo()
    received = []
    with Consumer(
        connection.default_channel,
        [_queue(connection)],
        callbacks=[lambda body, m: received.append(body)],
        accept=["json"],
        no_ack=True,
    ):
        for _ in range(4):
            connection.drain_events(timeout=2)
    assert received == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}]


def test_a_full_prefetch_window_returns_to_the_caller_at_once(connection):
    """Celery's loop acks finished tasks between two drain_events(timeout=2.0) calls: the transport must not
    sit out the 2 s while the window is full of tasks that are done but not yet acked."""
    queue = _queue(connection)
    for n in range(3):
        _publish(connection, {"n": n})
    delivered = []
    with Consumer(
        connection.default_channel,
        [queue],
        callbacks=[lambda body, m: delivered.append(m)],
        accept=["json"],
        prefetch_count=1,
    ):
        connection.drain_events(timeout=2)
        assert len(delivered) == 1
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            connection.drain_events(timeout=2)  # the window (1) holds an unacked message
        waited = time.monotonic() - started
        assert waited < 1.0, waited
        delivered[0].ack()  # what Celery's loop does next
        connection.drain_events(timeout=2)
        assert [m.payload for m in delivered] == [{"n": 0}, {"n": 1}]
