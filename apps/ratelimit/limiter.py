"""The token-bucket limiter: one atomic Redis round trip per decision, an in-process twin for the
embedded mode, and a fail-open wrapper that falls back to the in-process limiter while Redis is down.

Plain Python (no Django) so benchmarks and multi-process tests can drive it directly.

A bucket holds `limit` tokens and refills continuously at `limit` per `period` seconds, so a full
bucket allows exactly `limit` requests at once and then one every `period / limit` seconds. A cost
larger than the whole bucket (a log batch bigger than the per-minute allowance) is accepted only
from a full bucket and leaves it in debt, so the long-run rate still holds and no batch is stuck
forever.

A batch drawn with `debt=True` (log messages, which arrive in batches while events trickle in one
at a time) needs only one token: it is allowed whenever the bucket is not empty and may leave it in
debt. Without this, single-unit draws that take each token as it refills would starve a batch that
waits for n tokens at once; with it, the long-run rate still holds (the debt is repaid before anything
else is allowed) and a client that sleeps the Retry-After it was given gets through.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis

logger = logging.getLogger(__name__)

# Float slack when comparing token counts: refill arithmetic must not turn 1.0 into 0.9999999.
_EPSILON = 1e-9
_LUA = (Path(__file__).parent / "token_bucket.lua").read_text()


@dataclass(slots=True)
class Decision:
    """The outcome of one draw from a bucket, with what the RateLimit-* headers report. Never changed once made
    (not `frozen`: a frozen dataclass's `__init__` sets each field by `object.__setattr__`, about twice the cost
    of a plain one, and every API request makes one)."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float  # seconds until the bucket is full again
    retry_after: float  # seconds until this draw would be allowed; 0 when allowed

    @property
    def retry_after_seconds(self) -> int:
        """Retry-After as whole seconds, at least 1, rounded up so a client that obeys it succeeds."""
        return max(1, math.ceil(self.retry_after - _EPSILON))

    @property
    def reset_seconds(self) -> int:
        return max(0, math.ceil(self.reset_after - _EPSILON))


@dataclass(frozen=True, slots=True)
class MinuteUsage:
    """Units allowed and denied in one bucket during one wall-clock minute (epoch minute)."""

    minute: int
    allowed: int
    denied: int


def _minute(now: float) -> int:
    return int(now // 60)


# Tokens "needed" by a forced draw: below any level a bucket can reach, so the draw is always allowed.
_FORCED = -1e18


def _needed(cost: int, limit: int, debt: bool, force: bool = False) -> float:
    """Tokens that must be there for a draw of `cost`: all of it (a cost above the whole bucket needs a
    full bucket, then runs in debt), with `debt` just one, with `force` none at all."""
    if force:
        return _FORCED
    return min(cost, 1 if debt else limit)


def _decide(tokens: float, limit: int, period: float, cost: int, debt: bool = False,
            force: bool = False) -> tuple[bool, float, float]:
    """The rule both limiters share. Returns (allowed, tokens after, seconds until allowed)."""
    needed = _needed(cost, limit, debt, force)
    if tokens + _EPSILON >= needed:
        return True, tokens - cost, 0.0
    return False, tokens, (needed - tokens) * period / limit


def _decision(allowed: bool, tokens: float, limit: int, period: float, retry_after: float) -> Decision:
    # Positional: a class called with keywords has them packed into a dict and unpacked again (_PyStack_AsDict,
    # _PyStack_UnpackDict), several times the call's own cost; fields in their order (allowed, limit, remaining,
    # reset_after, retry_after).
    return Decision(allowed, limit, max(0, math.floor(tokens + _EPSILON)), max(0.0, (limit - tokens) * period / limit),
                    retry_after)


class LocalLimiter:
    """In-process token buckets (the embedded mode, and the fallback while Redis is down).

    Each process counts on its own: with N processes the effective limit is up to N times higher.
    """

    def __init__(self, *, clock=time.monotonic, wall_clock=time.time, max_keys: int = 100_000):
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        # key -> (level, at, full at): level = units drawn and not yet refilled, so a changed limit
        # applies at once; "full at" lets pruning forget buckets that carry no information any more.
        self._buckets: dict[str, tuple[float, float, float]] = {}
        self._usage: dict[tuple[str, int], list[int]] = {}  # (key, minute) -> [allowed, denied]
        self._max_keys = max_keys

    def _level(self, key: str, limit: int, period: float, now: float) -> float:
        level, at, _ = self._buckets.get(key, (0.0, now, now))
        return max(0.0, level - max(0.0, now - at) * limit / period)

    def consume(self, key: str, *, limit: int, period: float, cost: int = 1, peek: bool = False,
                debt: bool = False, count_denied: bool = True, force: bool = False) -> Decision:
        with self._lock:
            now = self._clock()
            level = self._level(key, limit, period, now)
            tokens = limit - level
            allowed, after, retry_after = _decide(tokens, limit, period, cost, debt, force)
            if peek:
                return _decision(allowed, tokens, limit, period, retry_after)
            if allowed:
                if len(self._buckets) >= self._max_keys:
                    self._prune(now)
                self._buckets[key] = (level + cost, now, now + (level + cost) * period / limit)
            minute = _minute(self._wall_clock())
            counts = self._usage.setdefault((key, minute), [0, 0])
            counts[0 if allowed else 1] += cost if allowed or count_denied else 0
            return _decision(allowed, after, limit, period, retry_after)

    def usage(self, key: str, *, minutes: int) -> list[MinuteUsage]:
        current = _minute(self._wall_clock())
        with self._lock:
            rows = []
            for minute in range(current - minutes + 1, current + 1):
                allowed, denied = self._usage.get((key, minute), (0, 0))
                rows.append(MinuteUsage(minute=minute, allowed=allowed, denied=denied))
            return rows

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely is the same as one never seen: forgetting it changes nothing.
        self._buckets = {k: v for k, v in self._buckets.items() if v[2] > now}
        oldest = _minute(self._wall_clock()) - 60
        self._usage = {k: v for k, v in self._usage.items() if k[1] >= oldest}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._usage.clear()


class RedisLimiter:
    """Token buckets in Redis, each decision one EVALSHA of token_bucket.lua (atomic across processes).

    The script reads Redis's own clock (TIME), so every web process agrees on time.
    """

    USAGE_TTL_SECONDS = 65 * 60

    def __init__(self, url: str, *, timeout: float = 0.25):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        self._script = self.client.register_script(_LUA)

    def consume(self, key: str, *, limit: int, period: float, cost: int = 1, peek: bool = False,
                debt: bool = False, count_denied: bool = True, force: bool = False) -> Decision:
        usage_key = f"{key}:u:{_minute(time.time())}"
        allowed, tokens, retry_after = self._script(
            keys=[key, usage_key],
            args=[limit, int(period * 1_000_000), cost, 1 if peek else 0, self.USAGE_TTL_SECONDS,
                  _needed(cost, limit, debt, force), cost if count_denied else 0],
        )
        return _decision(bool(allowed), float(tokens), limit, period, float(retry_after) / 1_000_000)

    def usage(self, key: str, *, minutes: int) -> list[MinuteUsage]:
        current = _minute(time.time())
        window = range(current - minutes + 1, current + 1)
        pipe = self.client.pipeline(transaction=False)
        for minute in window:
            pipe.hmget(f"{key}:u:{minute}", "a", "d")
        rows = pipe.execute()
        return [
            MinuteUsage(minute=minute, allowed=int(a or 0), denied=int(d or 0))
            for minute, (a, d) in zip(window, rows, strict=True)
        ]


class FailOpenLimiter:
    """Redis first; while Redis fails, an in-process limiter with a logged warning (fail open).

    Why open: an outage of the limiter's store must not take the whole API down with it; each process
    still enforces the limits locally, so a flood is slowed, only less precisely (N processes → up to
    N times the limit). After a failure Redis is retried every `retry_seconds`; requests in between go
    straight to the local limiter instead of each paying a connection timeout.
    """

    def __init__(self, primary: RedisLimiter, fallback: LocalLimiter, *, retry_seconds: float = 5.0,
                 clock=time.monotonic):
        self.primary = primary
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._down_until: float | None = None
        self._lock = threading.Lock()

    @property
    def is_degraded(self) -> bool:
        return self._down_until is not None

    def _call(self, method: str, *args, **kwargs):
        down_until = self._down_until
        if down_until is not None and self._clock() < down_until:
            return getattr(self.fallback, method)(*args, **kwargs)
        try:
            result = getattr(self.primary, method)(*args, **kwargs)
        except redis.RedisError as exc:
            with self._lock:
                if self._down_until is None:
                    logger.warning("Rate limiter: Redis unavailable (%s); limiting in-process until it is back.", exc)
                self._down_until = self._clock() + self.retry_seconds
            return getattr(self.fallback, method)(*args, **kwargs)
        if down_until is not None:
            with self._lock:
                if self._down_until is not None:
                    logger.warning("Rate limiter: Redis is back; limiting in Redis again.")
                self._down_until = None
        return result

    def consume(self, key: str, *, limit: int, period: float, cost: int = 1, peek: bool = False,
                debt: bool = False, count_denied: bool = True, force: bool = False) -> Decision:
        return self._call("consume", key, limit=limit, period=period, cost=cost, peek=peek, debt=debt,
                          count_denied=count_denied, force=force)

    def usage(self, key: str, *, minutes: int) -> list[MinuteUsage]:
        return self._call("usage", key, minutes=minutes)


@dataclass(slots=True)
class _Lease:
    limit: int
    left: int  # tokens drawn ahead and not yet handed out
    remaining: int  # the bucket's tokens right after the lease was drawn (for RateLimit-Remaining)
    reset_at: float  # when the bucket was due to be full again, as seen at the draw
    until: float  # unused tokens are dropped after this (a lease never outlives one period)


class LeasedLimiter:
    """Single-token draws from a shared limiter, served from small leases: one round trip draws up to
    `max_tokens` tokens at once (never more than `share` of the bucket's limit) and this process hands them
    out one per draw, so most requests cost no round trip.

    What stays exact: a process can only hand out tokens it has drawn, so across N processes at most N
    leases (each ≤ 1% of the limit) are drawn ahead and unspent; the long-run rate holds. When a lease
    cannot be drawn (fewer tokens left than a lease), the draw falls back to a single token from the shared
    bucket, so a 429 and its Retry-After are decided there exactly as before. Limits under 2 / `share`
    are not leased at all. Unspent tokens count as allowed in the usage and are dropped after one period.
    """

    def __init__(self, limiter, *, max_tokens: int, share: float = 0.01, clock=time.monotonic):
        self.limiter = limiter
        self.max_tokens = max_tokens
        self.share = share
        self._clock = clock
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}

    def lease_size(self, limit: int) -> int:
        return min(self.max_tokens, math.floor(limit * self.share + _EPSILON))

    def consume_one(self, key: str, *, limit: int, period: float) -> Decision:
        """Draw one token, from this process's lease when it has one."""
        now = self._clock()
        # A lease of this limit exists only if its size (a function of the limit alone) allowed one: no need to
        # work the size out before looking. The hand-out is inline (no call of its own: every API request makes it).
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.limit == limit and lease.left > 0 and now < lease.until:
                lease.left -= 1
                # positional, as `_decision` (allowed, limit, remaining, reset_after, retry_after)
                return Decision(True, limit, min(limit, lease.remaining + lease.left), max(0.0, lease.reset_at - now),
                                0.0)
        size = self.lease_size(limit)
        if size < 2:
            return self.limiter.consume(key, limit=limit, period=period)
        drawn = self.limiter.consume(key, limit=limit, period=period, cost=size, count_denied=False)
        if not drawn.allowed:
            with self._lock:
                self._leases.pop(key, None)
            return self.limiter.consume(key, limit=limit, period=period)
        with self._lock:
            if len(self._leases) >= 10_000:
                self._leases = {k: v for k, v in self._leases.items() if v.until > now and v.left > 0}
            # positional (limit, left, remaining, reset_at, until), as `_decision`'s Decision
            self._leases[key] = _Lease(limit, size - 1, drawn.remaining, now + drawn.reset_after, now + period)
        return Decision(True, limit, min(limit, drawn.remaining + size - 1), drawn.reset_after, 0.0)

    def reset(self) -> None:
        with self._lock:
            self._leases.clear()
