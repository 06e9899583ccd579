"""The `events/in` websocket: the client in Cloud mode streams one JSON event per text message.

The upgrade is authenticated like the HTTP API (`Authorization: bearer <key>`) and scoped by the same
rules (no access to the workspace, or no `events:write` → the handshake is refused). Each event draws one
unit of the organization's `logs_events` bucket before it is stored (docs/ratelimit.md): while the bucket
is empty the consumer waits before it handles the next message, and closes with 1013 when one event has
waited `max_wait` in vain (apps/ratelimit/streams.py).

The client's pings are websocket control frames, answered by uvicorn as it reads them off the socket,
after every earlier message was read and queued for this consumer but not necessarily stored yet: a pong
confirms receipt by this process, not storage. uvicorn pauses reading after each read that brought a
message and reads on when this consumer has taken them all, so while the consumer waits, later pings wait.

Giving up on a unit does not close the socket at once: the client counts events as delivered only when
the pong of the ping after every 20th returns, and resends the others only when a later send fails, so
events it already wrote (unread by us: uvicorn stops reading at our close) would be lost when it has
nothing more to send (the end of its run). The consumer drains instead: it stores the event in hand and
every message that arrives next, each with a forced draw (counted, in debt), and closes with 1013 only
once no message has come for `drain_quiet` seconds, or `drain_longest` seconds or `drain_most` messages
after it gave up, whichever comes first (a client streaming without pause cannot dodge the limit). A task
closes the socket (Channels hands this consumer one message at a time): each drained message re-arms it.
What the client resends after its reconnection is skipped by event id: nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from functools import partial

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.core.api.parsers import has_nul
from apps.core.api.views import workspace_context
from apps.core.errors import NotFound
from apps.engine.services.events import event_record_from_stream
from apps.identity.services import api_key_authenticate
from apps.ratelimit.streams import STREAM_MAX_WAIT_SECONDS, stream_admit
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)
WRITE = "events:write"
# 1013 "Try Again Later": the prefect 2.20 client reconnects and resends the events it holds unconfirmed.
TRY_AGAIN_LATER = 1013
# Built once: the draw and the insert run together on asgiref's thread, one hop per event.
_record = database_sync_to_async(event_record_from_stream)


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
    return None


def stream_workspace_for(scope) -> Workspace | None:
    """The workspace this upgrade may write events to, or None (refuse): unknown key, not a member,
    or no events:write. Another tenant's workspace looks exactly like a missing one."""
    secret = _bearer(scope)
    if secret is None:
        return None
    try:
        key = api_key_authenticate(secret)
    except NotFound:
        return None
    kwargs = scope["url_route"]["kwargs"]
    try:
        org_id, ws_id = uuid.UUID(kwargs["account_id"]), uuid.UUID(kwargs["workspace_id"])
        workspace, access = workspace_context(key.owner, org_id, ws_id)  # as every HTTP request resolves it
    except (ValueError, NotFound):
        return None
    if not access.has(WRITE):
        return None
    return workspace


class EventsInConsumer(AsyncWebsocketConsumer):
    max_wait = STREAM_MAX_WAIT_SECONDS  # seconds one event may wait for the bucket before the 1013 close
    # The drain after giving up on a unit (module docstring): the 1013 close comes once no message has
    # arrived for `drain_quiet` seconds, or `drain_longest` seconds or `drain_most` messages after the
    # decision, whichever first.
    drain_quiet = 0.5
    drain_longest = 2.0
    drain_most = 1000
    closing = False  # gave up on a unit: every message is stored with a forced draw from now on
    close_sent = False
    _close_timer: asyncio.Task | None = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:  # however the consumer ends (a disconnect, a cancelled application): no timer outlives it
            self._stop_close_timer()

    async def dispatch(self, message):
        """Channels' dispatch without its per-message `aclose_old_connections()`, a thread hop of its own
        before every handler: each handler here reaches the database only through
        `database_sync_to_async`, which closes old connections before and after the call on the thread
        that owns them (and disconnect closes them once more), so the extra hop did nothing but cost
        CPU on every event (bench/events_in.py --in-process, docs/performance.md)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        # No rate-limit check here, even with the bucket deep in debt: the 2.20 client does not retry its
        # first connection (a 1013 right after the accept fails its events worker with every pending event).
        self.workspace = await database_sync_to_async(stream_workspace_for)(self.scope)
        if self.workspace is None:
            await self.close()  # before accept: the server answers the upgrade with 403
            return
        await self.accept()

    async def disconnect(self, code):
        self._stop_close_timer()

    async def receive(self, text_data=None, bytes_data=None):
        if self.closing:
            await self._drain(text_data, bytes_data)
            return
        raw = self._parse(text_data, bytes_data)
        if raw is None:
            return
        if await stream_admit(partial(_record, workspace=self.workspace, raw=raw), max_wait=self.max_wait):
            return
        # Gave up on this event's unit: drain what the client already sent, then close (module docstring).
        self.closing = True
        loop = asyncio.get_running_loop()
        self._drain_until = loop.time() + self.drain_longest
        self._drained = 0
        await self._drain(text_data, bytes_data, raw=raw)

    def _parse(self, text_data, bytes_data):
        message = text_data if text_data is not None else bytes_data
        try:
            raw = orjson.loads(message)
        except orjson.JSONDecodeError:
            logger.warning("dropped a non-JSON message on the events stream of workspace %s", self.workspace.pk)
            return None
        if has_nul(message):
            # PostgreSQL's jsonb refuses U+0000: storing it would fail and close the stream, and the client
            # would reconnect and resend it forever. Dropped as a malformed event is (services/events.py).
            logger.warning("dropped an event holding U+0000 on the events stream of workspace %s", self.workspace.pk)
            return None
        return raw

    async def _drain(self, text_data, bytes_data, raw=None):
        """Store one message of a closing stream with a forced draw (the client may count it delivered),
        then close at once if the drain's bound is reached, else re-arm the quiet timer."""
        if not self.close_sent:
            self._stop_close_timer()  # not quiet: this message came
        if raw is None:
            raw = self._parse(text_data, bytes_data)
        if raw is not None:
            await _record(workspace=self.workspace, raw=raw, force=True)
        self._drained += 1
        if self.close_sent:
            return  # read before our close went out: stored, and the close is already on its way
        left = self._drain_until - asyncio.get_running_loop().time()
        if self._drained >= self.drain_most or left <= 0:
            await self._close_try_again_later()
        else:
            # Quiet counted from the end of this store: uvicorn reads on only once we took the last message.
            self._close_timer = asyncio.create_task(self._close_when_quiet(min(self.drain_quiet, left)))

    async def _close_when_quiet(self, delay: float):
        await asyncio.sleep(delay)
        # Still referenced by `_close_timer` (a task nobody references may vanish mid-close); `close_sent`, set
        # before the close is awaited, keeps a message arriving meanwhile from cancelling it.
        await self._close_try_again_later()

    async def _close_try_again_later(self):
        if self.close_sent:
            return
        self.close_sent = True
        logger.info(
            "events stream of workspace %s closed with 1013: no logs_events unit for %s s "
            "(then %d messages drained, each new event stored in debt)",
            self.workspace.pk,
            self.max_wait,
            self._drained,
        )
        try:
            await self.close(code=TRY_AGAIN_LATER, reason="Rate limit exceeded: try again later.")
        except OSError:  # uvicorn's ClientDisconnected: the client closed first, its disconnect is queued
            logger.debug("events stream of workspace %s: the client closed first", self.workspace.pk)

    def _stop_close_timer(self):
        timer, self._close_timer = self._close_timer, None
        if timer is not None and not timer.done():
            timer.cancel()
