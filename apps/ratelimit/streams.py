"""Rate limiting for streams (the events websocket), where a message cannot be answered 429.

Instead of refusing, the consumer waits for the bucket (the Retry-After it was given) before it reads on,
so the client slows down. If one message has waited `max_wait` and its units are still not there, the
consumer gives up: it drains what the client already sent (each message stored and counted with a forced
draw, which may leave the bucket in debt) and closes the socket with 1013 ("try again later") once the
client is quiet or the drain's bound is reached (apps/engine/api/events_stream.py); the client reconnects
and resends the events it holds as unconfirmed. Closing at once would lose events: the ASGI server stops
reading at the close, and the client counts events as delivered once a later ping is answered, resending
the others only when a later send fails (docs/ratelimit.md).

Why wait the whole `max_wait` before closing, even when the Retry-After already says it is too long: the
prefect 2.20 client reconnects at once (then once a second) and gives an event up after 10 failed
reconnections, so an immediate 1013 would burn those in seconds; and each close lets through what was
read (the forced draws), so closing at most once per `max_wait` keeps that bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from apps.ratelimit import services
from apps.ratelimit.limiter import Decision

# How long one stream message may wait for its units before the socket is closed with 1013: below the
# 20 s keepalive ping timeout of the client's websocket library (websockets 13), so our 1013 normally comes
# before the client gives up on a stalled connection itself.
STREAM_MAX_WAIT_SECONDS = 15.0


async def stream_admit(
    attempt: Callable[[], Awaitable[Decision | None]], *, max_wait: float = STREAM_MAX_WAIT_SECONDS
) -> bool:
    """Call `attempt` (which draws the message's units and, when they are there, handles the message in the
    same call: one thread hop per message) until it is allowed, sleeping the Retry-After of each refusal,
    up to `max_wait` seconds in all. `attempt` returns the Decision, or None when there was nothing to draw
    for (a malformed message, dropped). True once handled; False when it is still refused after waiting
    `max_wait` (the caller closes the stream with 1013)."""
    waited = 0.0
    while True:
        decision = await attempt()
        if decision is None or decision.allowed:
            return True
        if waited >= max_wait:
            return False
        pause = min(decision.retry_after, max_wait - waited)
        await asyncio.sleep(pause)
        waited += pause


async def stream_units_admit(
    organization, bucket: str = "logs_events", n: int = 1, *, max_wait: float = STREAM_MAX_WAIT_SECONDS
) -> bool:
    """Draw `n` units for a stream message (a thread hop of its own), waiting as `stream_admit` does.
    True once drawn; False if still refused after `max_wait`."""
    draw = database_sync_to_async(services.consume)
    return await stream_admit(lambda: draw(organization, bucket, n), max_wait=max_wait)
