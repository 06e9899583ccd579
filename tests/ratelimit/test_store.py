"""The limiting of the settings in force (apps/ratelimit/store.py): built once from settings, not read per draw,
and built again when one of them changes (setting_changed), so a draw always follows the settings in force."""

from __future__ import annotations

import pytest

from apps.ratelimit import store
from apps.ratelimit.limiter import FailOpenLimiter, LeasedLimiter, LocalLimiter


def test_a_draw_reads_no_setting_until_one_changes(settings, monkeypatch):
    settings.PRAETOR_RATELIMIT_ENABLED = True
    built = store.current()

    class Unreadable:
        def __getattr__(self, name):
            raise AssertionError(f"settings.{name} read on a draw")

    monkeypatch.setattr(store, "settings", Unreadable())
    assert store.current() is built and store.enabled() is True
    assert store.get_limiter() is built.limiter and store.get_leased_limiter() is built.leased
    assert store.bucket_key("api", "org", "o") == f"{built.key_prefix}api:org:o"


@pytest.mark.parametrize("redis", [True, False])
def test_a_change_of_a_setting_is_in_force_at_the_next_draw(settings, redis):
    settings.PRAETOR_RATELIMIT_ENABLED, settings.PRAETOR_RATELIMIT_LEASE_MAX = True, 32
    if not redis:
        settings.PRAETOR_RATELIMIT_REDIS_URL = ""
    limiter = store.get_limiter()
    assert isinstance(limiter, FailOpenLimiter if redis else LocalLimiter)
    assert store.get_leased_limiter().limiter is limiter and store.get_leased_limiter().max_tokens == 32
    settings.PRAETOR_RATELIMIT_NAMESPACE = "changed:"
    assert store.bucket_key("api", "org", "o") == f"{settings.PRAETOR_REDIS_PREFIX}rl:changed:api:org:o"
    settings.PRAETOR_REDIS_PREFIX = "other:"
    assert store.bucket_key("api", "user", 7) == "other:rl:changed:api:user:7"
    assert store.get_limiter() is limiter  # the same configuration: the same limiter (its buckets, in-process)
    settings.PRAETOR_RATELIMIT_LEASE_MAX = 8
    leased = store.get_leased_limiter()
    assert isinstance(leased, LeasedLimiter) and leased.max_tokens == 8 and leased.limiter is limiter
    settings.PRAETOR_RATELIMIT_ENABLED = False
    assert store.enabled() is False and store.current().enabled is False
    settings.PRAETOR_RATELIMIT_ENABLED = True
    assert store.enabled() is True
    settings.PRAETOR_RATELIMIT_REDIS_URL = "" if redis else "redis://127.0.0.1:6379/15"
    assert isinstance(store.get_limiter(), LocalLimiter if redis else FailOpenLimiter)
    assert store.get_leased_limiter().limiter is store.get_limiter()


def test_a_bucket_key_is_remembered_per_id_and_follows_a_change_of_prefix(settings):
    import uuid

    settings.PRAETOR_RATELIMIT_ENABLED = True
    org = uuid.uuid4()
    first = store.bucket_key("api", "org", org)
    assert first == f"{store.current().key_prefix}api:org:{org}"
    assert store.bucket_key("api", "org", org) is first  # remembered
    assert store.bucket_key("api", "org", str(org)) == first  # the id's text: the same key
    assert store.bucket_key("logs_events", "org", org) == f"{store.current().key_prefix}logs_events:org:{org}"
    assert store.bucket_key("api", "user", org) == f"{store.current().key_prefix}api:user:{org}"
    settings.PRAETOR_RATELIMIT_NAMESPACE = "moved:"
    assert store.bucket_key("api", "org", org) == f"{settings.PRAETOR_REDIS_PREFIX}rl:moved:api:org:{org}"


def test_the_bucket_key_memo_is_bounded(settings, monkeypatch):
    settings.PRAETOR_RATELIMIT_ENABLED = True
    monkeypatch.setattr(store, "_KEYS_MAX", 3)
    keys = [store.bucket_key("api", "ip", f"10.0.0.{i}") for i in range(10)]
    assert keys == [f"{store.current().key_prefix}api:ip:10.0.0.{i}" for i in range(10)]
    assert len(store.current().keys) <= 3
