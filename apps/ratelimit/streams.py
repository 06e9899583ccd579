"""Rate limiting for streams (the events websocket), where a message cannot be answered 429.

Instead of refusing, the consumer waits for the bucket before it reads on: the client's pings are only
answered once earlier messages are handled, so the client slows down and nothing is dropped.
"""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async

from apps.ratelimit import services


async def stream_units_admit(organization, bucket: str = "logs_events", n: int = 1, *, max_wait: float = 120.0) -> bool:
    """Draw `n` units for a stream message, waiting as long as the bucket asks (Retry-After), up to
    `max_wait` seconds in all. True once drawn; False if the wait would exceed `max_wait` (the caller
    closes the stream with 1013 "try again later", so the client reconnects and resends)."""
    waited = 0.0
    while True:
        decision = await database_sync_to_async(services.consume)(organization, bucket, n)
        if decision.allowed:
            return True
        if waited + decision.retry_after > max_wait:
            return False
        await asyncio.sleep(decision.retry_after)
        waited += decision.retry_after
