"""The token-bucket rule on real Redis (and its in-process twin): exact allowance, refill, debt,
isolation, all-or-nothing draws, and concurrent draws from several processes."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest
from django.conf import settings

from apps.ratelimit.limiter import LocalLimiter, RedisLimiter


@pytest.fixture(params=["redis", "local"])
def limiter(request):
    if request.param == "redis":
        return RedisLimiter(settings.PRAETOR_RATELIMIT_REDIS_URL)
    return LocalLimiter()


@pytest.fixture
def key():
    return f"{settings.PRAETOR_REDIS_PREFIX}rl-test:{uuid.uuid4().hex}"


def test_full_bucket_allows_exactly_the_limit_then_denies(limiter, key):
    decisions = [limiter.consume(key, limit=5, period=60) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert [d.limit for d in decisions] == [5] * 6
    denied = decisions[-1]
    # One token per 12 s: the next one is at most 12 s away, and the bucket is full after 60 s.
    assert 11.9 < denied.retry_after <= 12 and denied.retry_after_seconds == 12
    assert 59.9 < denied.reset_after <= 60 and denied.reset_seconds == 60
    assert decisions[0].retry_after == 0 and decisions[0].reset_seconds == 12


def test_denied_draw_takes_nothing(limiter, key):
    for _ in range(3):
        limiter.consume(key, limit=3, period=60)
    assert limiter.consume(key, limit=3, period=60, cost=2).allowed is False
    # Peeking shows the bucket as the denied draw left it: still empty, nothing went negative.
    peek = limiter.consume(key, limit=3, period=60, peek=True)
    assert (peek.allowed, peek.remaining) == (False, 0)
    assert 19.9 < peek.retry_after <= 20


def test_multi_unit_draw_is_all_or_nothing(limiter, key):
    assert limiter.consume(key, limit=10, period=60, cost=7).remaining == 3
    denied = limiter.consume(key, limit=10, period=60, cost=4)
    assert (denied.allowed, denied.remaining) == (False, 3)
    assert 5.9 < denied.retry_after <= 6  # one more unit at 6 s each
    assert limiter.consume(key, limit=10, period=60, cost=3).remaining == 0


def test_refill_adds_one_token_per_interval(limiter, key):
    # 5 per second: one token every 200 ms.
    assert all(limiter.consume(key, limit=5, period=1).allowed for _ in range(5))
    assert limiter.consume(key, limit=5, period=1).allowed is False
    time.sleep(0.25)
    assert limiter.consume(key, limit=5, period=1).allowed is True
    assert limiter.consume(key, limit=5, period=1).allowed is False
    time.sleep(1.05)
    refilled = limiter.consume(key, limit=5, period=1, peek=True)
    assert (refilled.allowed, refilled.remaining, refilled.reset_seconds) == (True, 5, 0)


def test_batch_larger_than_the_limit_runs_from_a_full_bucket_into_debt(limiter, key):
    big = limiter.consume(key, limit=10, period=60, cost=25)
    assert (big.allowed, big.remaining) == (True, 0)
    assert 149.9 < big.reset_after <= 150  # 15 units of debt + 10 to refill, at 6 s each
    after = limiter.consume(key, limit=10, period=60)
    assert after.allowed is False and 95.9 < after.retry_after <= 96


def test_batch_larger_than_the_limit_waits_for_a_full_bucket(limiter, key):
    limiter.consume(key, limit=10, period=60)
    denied = limiter.consume(key, limit=10, period=60, cost=25)
    assert (denied.allowed, denied.remaining) == (False, 9)
    assert 5.9 < denied.retry_after <= 6


def test_buckets_are_isolated_by_key(limiter, key):
    for _ in range(2):
        limiter.consume(key, limit=2, period=60)
    assert limiter.consume(key, limit=2, period=60).allowed is False
    other = limiter.consume(key + ":other", limit=2, period=60)
    assert (other.allowed, other.remaining) == (True, 1)


def test_usage_counts_units_allowed_and_denied_this_minute(limiter, key):
    limiter.consume(key, limit=4, period=60, cost=3)
    limiter.consume(key, limit=4, period=60, cost=2)  # denied: 2 units
    limiter.consume(key, limit=4, period=60)
    limiter.consume(key, limit=4, period=60, peek=True)  # peeks are not usage
    rows = limiter.usage(key, minutes=60)
    assert len(rows) == 60 and rows[-1].minute == int(time.time() // 60)
    assert sum(r.allowed for r in rows) == 4 and sum(r.denied for r in rows) == 2


def test_redis_bucket_key_expires_once_the_bucket_would_be_full(key):
    limiter = RedisLimiter(settings.PRAETOR_RATELIMIT_REDIS_URL)
    limiter.consume(key, limit=10, period=60, cost=4)
    ttl_ms = limiter.client.pttl(key)
    assert 23_900 < ttl_ms <= 24_001  # 4 units at 6 s each


def _hammer(url: str, key: str, attempts: int, start, results) -> None:
    limiter = RedisLimiter(url)
    start.wait(timeout=30)
    allowed = sum(limiter.consume(key, limit=60, period=3600).allowed for _ in range(attempts))
    results.put(allowed)


def test_concurrent_processes_never_exceed_the_limit(key):
    """Bound: at most `limit` plus what refills while the test runs (one token per minute here, so
    nothing within the few seconds it takes) — the draws are exactly the limit."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    url = settings.PRAETOR_RATELIMIT_REDIS_URL
    procs = [ctx.Process(target=_hammer, args=(url, key, 40, start, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    began = time.monotonic()
    start.set()
    totals = [results.get(timeout=60) for _ in procs]
    elapsed = time.monotonic() - began
    for proc in procs:
        proc.join(timeout=30)
    refill_bound = int(elapsed * 60 / 3600)
    assert sum(totals) <= 60 + refill_bound
    assert sum(totals) >= 60  # and no process was denied while tokens were left
    assert RedisLimiter(url).consume(key, limit=60, period=3600, peek=True).remaining == refill_bound


def test_a_raised_limit_applies_at_once(limiter, key):
    for _ in range(5):
        limiter.consume(key, limit=5, period=60)
    assert limiter.consume(key, limit=5, period=60).allowed is False
    upgraded = limiter.consume(key, limit=20, period=60)
    assert (upgraded.allowed, upgraded.remaining) == (True, 14)
    lowered = limiter.consume(key, limit=4, period=60)
    # 6 drawn against a limit of 4: 2 over, plus the unit asked for, at 15 s each.
    assert lowered.allowed is False and 44.9 < lowered.retry_after <= 45


def test_local_limiter_forgets_only_buckets_that_have_refilled():
    clock = [0.0]
    limiter = LocalLimiter(clock=lambda: clock[0], max_keys=2)
    limiter.consume("refilled", limit=10, period=60)
    limiter.consume("in-debt", limit=10, period=60, cost=30)  # full again only after 180 s
    clock[0] = 100.0
    limiter.consume("third", limit=10, period=60)  # over max_keys: prune
    assert set(limiter._buckets) == {"in-debt", "third"}
    assert limiter.consume("in-debt", limit=10, period=60).allowed is False


def test_a_debt_draw_needs_one_token_and_may_leave_the_bucket_in_debt(limiter, key):
    limiter.consume(key, limit=10, period=60, cost=9)
    batch = limiter.consume(key, limit=10, period=60, cost=4, debt=True)  # 1 token left: allowed
    assert (batch.allowed, batch.remaining) == (True, 0)
    assert 77.9 < batch.reset_after <= 78  # 3 units of debt + 10 to refill, at 6 s each
    refused = limiter.consume(key, limit=10, period=60, cost=4, debt=True)
    assert refused.allowed is False
    assert 23.9 < refused.retry_after <= 24  # until the debt is repaid and one token is back
    assert limiter.consume(key, limit=10, period=60).allowed is False  # single draws wait for the debt too


def test_a_forced_draw_is_allowed_even_in_debt_and_counts(limiter, key):
    limiter.consume(key, limit=10, period=60, cost=10)  # empty
    forced = [limiter.consume(key, limit=10, period=60, cost=1, force=True) for _ in range(3)]
    assert all(d.allowed for d in forced) and forced[-1].remaining == 0
    # 3 in debt: the next unit is 4 x 6 s away; the forced units were counted as allowed.
    refused = limiter.consume(key, limit=10, period=60, cost=1)
    assert not refused.allowed and 23.9 < refused.retry_after <= 24
    assert sum(m.allowed for m in limiter.usage(key, minutes=2)) == 13  # two minutes: a boundary may fall between
