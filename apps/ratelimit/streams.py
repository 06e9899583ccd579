"""Rate limiting for streams (the events websocket), where a message cannot be answered 429.

Instead of refusing, the consumer waits for the bucket (the Retry-After it was given) before it reads on,
so the client slows down. If one message would have to wait longer than `max_wait`, the consumer closes
the socket with 1013 ("try again later"): the server stops reading at once, and the client reconnects and
resends the events it holds as unconfirmed. Messages the server had already read when it closed are kept
and counted (a forced draw, which may leave the bucket in debt): the ASGI server answers the client's
pings as it reads them, before the consumer handles the messages read before them, so the client may
already count those messages as delivered and would never send them again (docs/ratelimit.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async

from apps.ratelimit import services
from apps.ratelimit.limiter import Decision

# How long one stream message may wait for its units before the socket is closed with 1013.
STREAM_MAX_WAIT_SECONDS = 120.0


async def stream_admit(
    attempt: Callable[[], Awaitable[Decision | None]], *, max_wait: float = STREAM_MAX_WAIT_SECONDS
) -> bool:
    """Call `attempt` (which draws the message's units and, when they are there, handles the message in the
    same call: one thread hop per message) until it is allowed, sleeping the Retry-After of each refusal,
    up to `max_wait` seconds in all. `attempt` returns the Decision, or None when there was nothing to draw
    for (a malformed message, dropped). True once handled; False, at once, if the next wait would take the
    total past `max_wait` (the caller closes the stream with 1013)."""
    waited = 0.0
    while True:
        decision = await attempt()
        if decision is None or decision.allowed:
            return True
        if waited + decision.retry_after > max_wait:
            return False
        await asyncio.sleep(decision.retry_after)
        waited += decision.retry_after


def stream_units_wait(organization, bucket: str = "logs_events", n: int = 1) -> float:
    """Seconds until `n` units of the bucket are there (0 if now); draws nothing. Sync: the caller runs it
    in a thread hop it makes anyway (the events socket: with its authentication, before accepting)."""
    decision = services.consume(organization, bucket, n, peek=True)
    return 0.0 if decision.allowed else decision.retry_after


async def stream_units_admit(
    organization, bucket: str = "logs_events", n: int = 1, *, max_wait: float = STREAM_MAX_WAIT_SECONDS
) -> bool:
    """Draw `n` units for a stream message (a thread hop of its own), waiting as `stream_admit` does.
    True once drawn; False if the wait would exceed `max_wait`."""
    draw = database_sync_to_async(services.consume)
    return await stream_admit(lambda: draw(organization, bucket, n), max_wait=max_wait)
