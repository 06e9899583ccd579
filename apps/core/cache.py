"""The cache backend of a server with Redis (CACHES in config/settings/base.py): Django's RedisCache, with two of its
per-operation costs paid once.

- Django's RedisCacheClient makes a new `redis.Redis` for every operation (`get_client`), whose constructor builds
  redis-py's table of response callbacks (a CaseInsensitiveDict: ~330 Python `__setitem__` calls and `upper()`s):
  ~0.67 M instructions of the ~0.8 M a `cache.get` costs. Here the client made for a connection pool is kept and
  given again (a `redis.Redis` over a pool is what redis-py documents as thread-safe: each command takes a connection
  from the pool and gives it back; the pool is Django's, made as Django makes it). Django's own comment on
  `get_client` names it as the place a custom client class changes.
- BaseCache.validate_key (memcached's rules, warnings only) runs a generator and a regular expression behind a
  SimpleLazyObject for every key. Here a key that cannot warn (a str of at most 250 characters with none of the
  characters below 33 or 127: one search of a compiled pattern) returns at once; any other key is Django's check,
  which warns as before. Django's documentation names overriding `validate_key` as the way to change key checks.

What reaches Redis, the values and the keys are unchanged. The hot requests do no cache operation; the ones this
makes cheap are the auth cache's epoch read (apps/core/authcache.py, at most once a second a process) and billing's
entitlements read (apps/ratelimit/selectors.py's limits memo, every 10 s an organization): docs/performance.md,
"Fifteenth step". tests/core/test_cache.py.
"""

from __future__ import annotations

import re

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import MEMCACHE_MAX_KEY_LENGTH

# The characters memcache_key_warnings warns about (ord below 33, or 127).
_WARNED = re.compile(r"[\x00-\x20\x7f]")


class RedisCacheClient(django_redis.RedisCacheClient):
    """Django's client, one `redis.Redis` kept per connection pool instead of one made per operation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict = {}  # connection pool -> the redis.Redis over it

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    """django.core.cache.backends.redis.RedisCache with RedisCacheClient above and a shorter key check."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    def validate_key(self, key):
        if type(key) is str and len(key) <= MEMCACHE_MAX_KEY_LENGTH and _WARNED.search(key) is None:
            return  # memcache_key_warnings would yield nothing
        super().validate_key(key)
