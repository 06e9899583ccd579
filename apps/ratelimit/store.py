"""The limiter this process uses, built from settings: Redis with an in-process fallback, or only
in-process when no Redis is configured (the embedded quick start).

The settings they depend on are read once, not on every draw (each read of `settings.X` is a LazyObject
lookup, about a tenth of the calls a hot request makes outside its view): `_current` holds what was built
from them and is emptied whenever one of them changes (Django's `setting_changed` signal: override_settings and
pytest-django's settings fixture send it; Django empties its own password hashers and caches the same way).
Nothing changes these settings in a running server.
"""

from __future__ import annotations

import threading
from uuid import UUID

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from apps.ratelimit.limiter import FailOpenLimiter, LeasedLimiter, LocalLimiter, RedisLimiter

_limiters: dict[tuple, FailOpenLimiter | LocalLimiter | LeasedLimiter] = {}
_lock = threading.Lock()
# The settings `_current` is built from; a change of any of them empties it.
_SETTINGS = frozenset({
    "PRAETOR_RATELIMIT_ENABLED", "PRAETOR_RATELIMIT_REDIS_URL", "PRAETOR_RATELIMIT_REDIS_TIMEOUT",
    "PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS", "PRAETOR_RATELIMIT_LEASE_MAX", "PRAETOR_REDIS_PREFIX",
    "PRAETOR_RATELIMIT_NAMESPACE",
})


class _Current:
    """What the draws of the settings in force use: whether limiting is on, the limiter, its leased twin, and
    the start of every bucket key."""

    __slots__ = ("api_draws", "enabled", "key_prefix", "keys", "leased", "limiter")

    def __init__(self) -> None:
        self.enabled = bool(settings.PRAETOR_RATELIMIT_ENABLED)
        config = (
            settings.PRAETOR_RATELIMIT_REDIS_URL,
            settings.PRAETOR_RATELIMIT_REDIS_TIMEOUT,
            settings.PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS,
        )
        # One limiter per configuration per process (connection pools are per process), kept across changes so
        # a configuration seen again gets its limiter (and its buckets, in-process) back.
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
            lease_config = ("leased", settings.PRAETOR_RATELIMIT_LEASE_MAX)
            leased = _limiters.get(lease_config)
            if leased is None or leased.limiter is not limiter:
                leased = _limiters[lease_config] = LeasedLimiter(limiter, max_tokens=lease_config[1])
        self.limiter, self.leased = limiter, leased
        prefix = getattr(settings, "PRAETOR_REDIS_PREFIX", "praetor:")
        self.key_prefix = f"{prefix}rl:{settings.PRAETOR_RATELIMIT_NAMESPACE}"
        self.keys: dict[tuple, str] = {}  # (bucket, kind, id) -> its key under this prefix (`bucket_key`)
        # the organization's limits memo key -> (until, its api limit, its api bucket key): what an API request's
        # draw derives from them (services.organization_api_consume), remembered as long as the limits are
        self.api_draws: dict[tuple, tuple[float, int, str]] = {}


_current: _Current | None = None


def current() -> _Current:
    """The limiting of the settings in force (built at the first draw, and again after a change of them)."""
    global _current
    built = _current
    if built is None:
        built = _current = _Current()
    return built


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs) -> None:
    global _current
    if setting in _SETTINGS:
        _current = None


def enabled() -> bool:
    """PRAETOR_RATELIMIT_ENABLED."""
    return (_current or current()).enabled


def get_limiter() -> FailOpenLimiter | LocalLimiter:
    """One limiter per configuration per process (connection pools are per process)."""
    return (_current or current()).limiter


def get_leased_limiter() -> LeasedLimiter:
    """Single-token draws through per-process leases of `get_limiter()`'s tokens (PRAETOR_RATELIMIT_LEASE_MAX
    tokens at most, never more than 1% of a bucket's limit; 0 turns leases off)."""
    return (_current or current()).leased


_KEYS_MAX = 10_000


def bucket_key(bucket: str, kind: str, ident) -> str:
    """`{PRAETOR_REDIS_PREFIX}rl:{namespace}{bucket}:{kind}:{id}`, e.g. `praetor:rl:api:org:<uuid>`. Remembered per
    (bucket, kind, id) with the settings in force (every API request draws by one; an organization's id is a UUID,
    whose `str` is Python and costs several times a lookup). A UUID is remembered by its int (its own hash is
    Python, the int's C), marked so that no other id (an int) shares its entry."""
    limiting = _current or current()
    memo = limiting.keys
    memo_key = (bucket, kind, ident.int, UUID) if type(ident) is UUID else (bucket, kind, ident)
    key = memo.get(memo_key)
    if key is None:
        key = f"{limiting.key_prefix}{bucket}:{kind}:{ident}"
        if len(memo) >= _KEYS_MAX:
            memo.clear()
        memo[memo_key] = key
    return key
