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
"""

from __future__ import annotations

import logging
import uuid
from functools import partial

import orjson
from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

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
    closing = False

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

    async def receive(self, text_data=None, bytes_data=None):
        try:
            raw = orjson.loads(text_data if text_data is not None else bytes_data)
        except orjson.JSONDecodeError:
            logger.warning("dropped a non-JSON message on the events stream of workspace %s", self.workspace.pk)
            return
        if self.closing:
            # Read off the socket before our close: the client may hold a pong for it and never resend it.
            await _record(workspace=self.workspace, raw=raw, force=True)
            return
        if await stream_admit(partial(_record, workspace=self.workspace, raw=raw), max_wait=self.max_wait):
            return
        # Close first, so uvicorn stops reading: only what it has read already still reaches us, and
        # that is stored (counted in debt), this event included; the client resends what it sent after.
        self.closing = True
        logger.info(
            "events stream of workspace %s closed with 1013: no logs_events unit for %s s",
            self.workspace.pk,
            self.max_wait,
        )
        await self.close(code=TRY_AGAIN_LATER, reason="Rate limit exceeded: try again later.")
        await _record(workspace=self.workspace, raw=raw, force=True)
