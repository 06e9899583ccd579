"""The limiter this process uses, built from settings: Redis with an in-process fallback, or only
in-process when no Redis is configured (the embedded quick start)."""

from __future__ import annotations

import threading

from django.conf import settings

from apps.ratelimit.limiter import FailOpenLimiter, LeasedLimiter, LocalLimiter, RedisLimiter

_limiters: dict[tuple, FailOpenLimiter | LocalLimiter | LeasedLimiter] = {}
_lock = threading.Lock()


def get_limiter() -> FailOpenLimiter | LocalLimiter:
    """One limiter per configuration per process (connection pools are per process)."""
    config = (
        settings.PRAETOR_RATELIMIT_REDIS_URL,
        settings.PRAETOR_RATELIMIT_REDIS_TIMEOUT,
        settings.PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS,
    )
    limiter = _limiters.get(config)
    if limiter is None:
        with _lock:
            limiter = _limiters.get(config)
            if limiter is None:
                url, timeout, retry_seconds = config
                if url:
                    limiter = FailOpenLimiter(RedisLimiter(url, timeout=timeout), LocalLimiter(),
                                              retry_seconds=retry_seconds)
                else:
                    limiter = LocalLimiter()
                _limiters[config] = limiter
    return limiter


def get_leased_limiter() -> LeasedLimiter:
    """Single-token draws through per-process leases of `get_limiter()`'s tokens (PRAETOR_RATELIMIT_LEASE_MAX
    tokens at most, never more than 1% of a bucket's limit; 0 turns leases off)."""
    limiter = get_limiter()
    config = ("leased", settings.PRAETOR_RATELIMIT_LEASE_MAX)
    leased = _limiters.get(config)
    if leased is None or leased.limiter is not limiter:
        with _lock:
            leased = _limiters[config] = LeasedLimiter(limiter, max_tokens=settings.PRAETOR_RATELIMIT_LEASE_MAX)
    return leased


def bucket_key(bucket: str, kind: str, ident) -> str:
    """`{PRAETOR_REDIS_PREFIX}rl:{namespace}{bucket}:{kind}:{id}`, e.g. `praetor:rl:api:org:<uuid>`."""
    prefix = getattr(settings, "PRAETOR_REDIS_PREFIX", "praetor:")
    return f"{prefix}rl:{settings.PRAETOR_RATELIMIT_NAMESPACE}{bucket}:{kind}:{ident}"
