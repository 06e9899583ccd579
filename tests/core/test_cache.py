"""apps/core/cache.py: Django's RedisCache with its redis.Redis kept per connection pool and a shorter key check;
what reaches Redis, and what comes back, as with Django's backend (docs/performance.md, "Fifteenth step")."""

from __future__ import annotations

import secrets
import threading
import warnings

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache as DjangosRedisCache

from apps.core.cache import RedisCache


def _pair(**options):
    """This project's backend and Django's on the same Redis, with the same key prefix (one of this test's own)."""
    location = settings.CACHES["default"]["LOCATION"]
    params = {"KEY_PREFIX": f"praetor-test-cache-{secrets.token_hex(4)}", "OPTIONS": options}
    return RedisCache(location, params), DjangosRedisCache(location, params)


def test_the_configured_cache_is_this_backend():
    assert settings.CACHES["default"]["BACKEND"] == "apps.core.cache.RedisCache"
    assert type(cache._cache).__module__ == "apps.core.cache"  # (the connection proxy's backend)


def test_one_client_per_connection_pool():
    ours, _ = _pair()
    client = ours._cache.get_client("k")
    assert ours._cache.get_client("other") is client  # Django's makes a new redis.Redis every time
    assert ours._cache.get_client("k", write=True) is client  # one server: reads and writes share its pool
    assert client.connection_pool is ours._cache._get_connection_pool(False)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(ours._cache.get_client())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(found is client for found in seen)


def test_servers_of_their_own_have_clients_of_their_own():
    location = settings.CACHES["default"]["LOCATION"]
    ours = RedisCache([location, location], {})  # a primary and a replica: two pools
    written, read = ours._cache.get_client(write=True), ours._cache.get_client()
    assert written is not read and written.connection_pool is not read.connection_pool
    assert ours._cache.get_client() is read and ours._cache.get_client(write=True) is written


def test_values_go_and_come_back_as_with_djangos_backend():
    ours, django = _pair()
    try:
        values = {"int": 7, "bool": True, "str": "ü", "dict": {"a": [1, 2.5, None]}, "none": None, "big": 10**30}
        for name, value in values.items():
            ours.set(name, value)
            assert django.get(name, "missing") == value and ours.get(name, "missing") == value
            raw = ours._cache.get_client().get(ours.make_key(name))
            assert raw == django._cache.get_client().get(django.make_key(name))  # the same bytes stored
        assert ours.add("counter", 0) and not ours.add("counter", 5)
        assert ours.incr("counter") == 1 and django.incr("counter") == 2 and ours.get("counter") == 2
        with pytest.raises(ValueError):
            ours.incr("absent")
        ours.set_many({"m1": 1, "m2": "two"})
        assert ours.get_many(["m1", "m2", "m3"]) == django.get_many(["m1", "m2", "m3"]) == {"m1": 1, "m2": "two"}
        assert ours.delete("m1") and not django.has_key("m1") and not ours.delete("m1")
        assert ours.get("m3", "default") == "default"
    finally:
        ours.clear()


def _warnings(backend, key) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend.validate_key(key)
    return [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("key", [
    "praetor:authcache:epoch", ":1:praetor-test:billing:entitlements:x", "", "a" * 250, "a" * 251, "a" * 400,
    "with space", "tab\there", "nul\x00", "del\x7f", "\x1f", "!", "~", "é", "\x80", "\x9f", "\u2028", "a" * 251 + " ",
])
def test_key_warnings_are_djangos(key):
    ours, django = _pair()
    assert _warnings(ours, key) == _warnings(django, key)


def test_every_character_warns_as_under_django():
    ours, django = _pair()
    for code in range(0, 400):
        key = f"key{chr(code)}end"
        assert _warnings(ours, key) == _warnings(django, key), code
