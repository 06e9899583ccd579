"""A per-process cache of who a request is and what it may do (API key → owner; actor + workspace →
workspace row and effective access), so a hot API request pays no query for them.

Why it is safe, and how fast a change is seen:
- Every service that changes what a key or an actor may reach (key revoked, member removed or
  re-roled, grant or team changed, custom role edited, service account changed, workspace or
  organization deleted, tier changed) calls `access_changed()`. That empties this process's cache at
  once and, when the transaction commits, bumps a shared epoch in the cache backend (Redis).
- Every process reads that epoch at most once per `EPOCH_POLL_SECONDS` (1 s) and empties its cache
  when it moved: a change made through a service is in force in the process that made it at once and
  in every other process within about one second.
- Every entry also expires after `PRAETOR_AUTH_CACHE_SECONDS` (default 5 s), which bounds what no
  service announced (an edit in the admin or in SQL). 0 turns the cache off.
- Expiry of a key is checked on every request against the cached row (it is a time, not a change).
Only successes are cached: an unknown key or a non-member costs its queries every time.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

logger = logging.getLogger(__name__)

EPOCH_POLL_SECONDS = 1.0
_clock = time.monotonic  # a module attribute so tests can move it
_MAX_ENTRIES = 10_000


def _epoch_key() -> str:
    return f"{getattr(settings, 'PRAETOR_REDIS_PREFIX', 'praetor:')}authcache:epoch"


class _Cache:
    def __init__(self) -> None:
        self._entries: dict = {}
        self._lock = threading.Lock()
        self._epoch = None
        self._epoch_checked = 0.0
        self._ttl_seconds: float | None = None  # PRAETOR_AUTH_CACHE_SECONDS, read once (`_settings_changed`)

    def _ttl(self) -> float:
        ttl = self._ttl_seconds
        if ttl is None:
            ttl = self._ttl_seconds = float(getattr(settings, "PRAETOR_AUTH_CACHE_SECONDS", 5.0))
        return ttl

    def _check_epoch(self, now: float) -> None:
        self._epoch_checked = now
        try:
            epoch = cache.get(_epoch_key())
        except Exception:  # the cache backend is down: the TTL alone bounds staleness
            logger.warning("Auth cache: cannot read the shared epoch; entries expire by age only.", exc_info=True)
            return
        if epoch != self._epoch:
            with self._lock:
                self._entries.clear()
                self._epoch = epoch

    def get(self, key):
        ttl = self._ttl_seconds
        if ttl is None:
            ttl = self._ttl()
        if ttl <= 0:
            return None
        now = _clock()
        if now - self._epoch_checked >= EPOCH_POLL_SECONDS:
            self._check_epoch(now)
        entry = self._entries.get(key)
        if entry is None or now - entry[0] >= ttl:
            return None
        return entry[1]

    def set(self, key, value) -> None:
        if self._ttl() <= 0:
            return
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (_clock(), value)

    def derive(self, key, of, make) -> None:
        """Make `key` answer `make(what of answers)`, for as long as `of`'s entry lives (its age, emptied with it),
        if `of` has one. `make` is called under the lock: it must be cheap and query nothing."""
        with self._lock:
            entry = self._entries.get(of)
            if entry is not None and len(self._entries) < _MAX_ENTRIES:
                self._entries[key] = (entry[0], make(entry[1]))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _Cache()


@receiver(setting_changed)
def _settings_changed(*, setting, **kwargs) -> None:
    """PRAETOR_AUTH_CACHE_SECONDS is read once, not per lookup (a settings read is a LazyObject lookup): read
    again after a change (override_settings, pytest-django's settings fixture; nothing changes it in a server)."""
    if setting == "PRAETOR_AUTH_CACHE_SECONDS":
        _cache._ttl_seconds = None
get = _cache.get
put = _cache.set
derive = _cache.derive
clear = _cache.clear


def _bump_epoch() -> None:
    _cache.clear()
    try:
        key = _epoch_key()
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # other processes then see the change when their entries expire (the TTL)
        logger.warning("Auth cache: cannot bump the shared epoch; other processes rely on the TTL.", exc_info=True)


def access_changed() -> None:
    """Call from any service that changes what an API key or an actor may reach. Empties this
    process's cache now (the change is seen by the next request here, even inside the transaction)
    and, once the transaction commits, tells every other process (shared epoch)."""
    _cache.clear()
    transaction.on_commit(_bump_epoch)
