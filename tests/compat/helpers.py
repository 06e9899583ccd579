"""Helpers shared by the compat tests: the events consumer's sockets as the server sees them, and a client
flow paused for typed input, run in the background while the test resumes it through the API."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest


def record_event_streams(monkeypatch, *, before_connect: Callable[[dict], Awaitable[None]] | None = None,
                         on_close: Callable[[dict], None] | None = None) -> dict:
    """What the events consumer sees, recorded on the server side: upgrades accepted and close codes, in the
    dict returned (`{"accepted": 0, "closed": []}` to start with). `before_connect(seen)`, when given, is
    awaited as each socket opens, before the consumer's own connect; `on_close(seen)` is called as each
    socket's close is recorded."""
    from apps.engine.api.events_stream import EventsInConsumer

    seen = {"accepted": 0, "closed": []}
    connect, disconnect = EventsInConsumer.connect, EventsInConsumer.websocket_disconnect

    async def counted_connect(self):
        if before_connect is not None:
            await before_connect(seen)
        await connect(self)
        if self.workspace is not None:  # a refused upgrade is closed before it is accepted
            seen["accepted"] += 1

    async def recorded_disconnect(self, message):
        seen["closed"].append(message.get("code"))
        if on_close is not None:
            on_close(seen)
        await disconnect(self, message)

    monkeypatch.setattr(EventsInConsumer, "connect", counted_connect)
    monkeypatch.setattr(EventsInConsumer, "websocket_disconnect", recorded_disconnect)
    return seen


_APPROVAL_GATE = """\
from prefect import flow, pause_flow_run
from prefect.context import get_run_context
from prefect.input import RunInput
from prefect.input.run_input import receive_input, send_input

class Approval(RunInput):
    approved: bool
    note: str = ""

@flow
def gate():
    answer = pause_flow_run(wait_for_input=Approval, timeout=240, poll_interval=1)
{then}

gate()
"""


def approval_gate(then: str) -> str:
    """A client script whose flow `gate` pauses for an `Approval` input (`approved: bool`, `note: str = ""`),
    then runs `then` (statements of the flow's body, with the input it got as `answer`); the script runs
    the flow once."""
    return _APPROVAL_GATE.format(then=textwrap.indent(textwrap.dedent(then).strip("\n"), "    "))


def _paused_run(praetor, client: threading.Thread, outcome: dict, within: float = 240.0) -> dict:
    """The first paused flow run of the workspace, as the API returns it, once the client has paused it and, when
    it waits for input, stored that input's schema: the 2.20 client saves the schema only after the server has
    accepted the Paused state, and a resume with input before then is aborted ("Run input schema not found")."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not client.is_alive():
            pytest.fail(f"the client ended before pausing: {outcome}")
        status, runs = praetor.api("POST", "flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}})
        assert status == 200, runs
        if runs and _input_schema_stored(praetor, runs[0]):
            return runs[0]
        time.sleep(0.5)
    pytest.fail(f"no run was paused (with its input schema stored) within {within}s")


def _input_schema_stored(praetor, run: dict) -> bool:
    """Whether the schema key of the paused `run`'s input keyset is stored (True when it waits for no input)."""
    keyset = run["state"]["state_details"].get("run_input_keyset")
    if not keyset:
        return True
    body = {"prefix": keyset["schema"], "limit": 1}
    status, stored = praetor.api("POST", f"flow_runs/{run['id']}/input/filter", body)
    assert status == 200, stored
    return bool(stored)


@contextmanager
def client_paused(praetor, script: str, *, timeout: float = 300) -> Iterator[tuple[dict, dict]]:
    """Run client `script` in a thread until it pauses a flow run; yield that run (as the API returns it) and
    the `outcome` dict, whose "run" is the client's result once the block has ended. Leaving the block waits
    for the client to exit, and fails if it raised."""
    outcome: dict = {}

    def run_client():
        try:
            outcome["run"] = praetor.run(script, timeout=timeout)
        except BaseException as exc:  # pytest.fail inside the harness: reported by the test thread
            outcome["error"] = exc

    client = threading.Thread(target=run_client)
    client.start()
    try:
        yield _paused_run(praetor, client, outcome), outcome
    finally:
        client.join(timeout + 30)
    assert "error" not in outcome, outcome["error"]
