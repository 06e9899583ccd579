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


def test_a_uuid_and_an_int_of_its_value_have_their_own_bucket_keys(settings):
    import uuid

    settings.PRAETOR_RATELIMIT_ENABLED = True
    ident = uuid.UUID(int=5)
    for _ in range(2):  # the second from the memo
        assert store.bucket_key("api", "org", ident) == f"{store.current().key_prefix}api:org:{ident}"
        assert store.bucket_key("api", "org", 5) == f"{store.current().key_prefix}api:org:5"
        assert store.bucket_key("api", "org", str(ident)) == f"{store.current().key_prefix}api:org:{ident}"


@pytest.mark.django_db
def test_an_api_draw_hashes_no_uuid_once_remembered(settings, organization):
    """An organization's API draw finds its limits and its bucket key without `UUID.__hash__` (Python, ~3 k
    instructions under callgrind, twice a request before); the limits memo keeps organizations apart (and a tier
    change reaches the limit at once)."""
    import sys

    from apps.ratelimit import selectors, services
    from tests.factories.organizations import OrganizationFactory

    settings.PRAETOR_RATELIMIT_ENABLED = True
    services.consume(organization, "api")
    hashed = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "__hash__":
            hashed.append(frame.f_code.co_filename)

    sys.setprofile(profile)
    try:
        decision = services.consume(organization, "api")
    finally:
        sys.setprofile(None)
    assert decision.allowed and hashed == []
    other = OrganizationFactory()
    assert selectors.organization_limits(other) is not selectors.organization_limits(organization)
    assert selectors.organization_limits(organization) is selectors.organization_limits(organization)
