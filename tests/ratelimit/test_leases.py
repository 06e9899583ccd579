"""Per-process leases of API tokens (apps/ratelimit/limiter.py `LeasedLimiter`): most requests cost no Redis
round trip, a lease is never more than PRAETOR_RATELIMIT_LEASE_MAX tokens nor 1% of the limit, the limit
holds across processes, and the 429 and its Retry-After are decided by the shared bucket as before."""

from __future__ import annotations

import math
import multiprocessing
import time
import uuid

import pytest
from django.conf import settings

from apps.ratelimit.limiter import LeasedLimiter, LocalLimiter, RedisLimiter
from apps.ratelimit.store import bucket_key, get_limiter

# Nothing here imports models at module level: the multi-process test's children import this module.


def probe(workspace) -> str:
    return f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/probe"


class Counting:
    """The shared limiter, counting round trips."""

    def __init__(self, limiter):
        self.limiter, self.calls = limiter, 0

    def consume(self, *args, **kwargs):
        self.calls += 1
        return self.limiter.consume(*args, **kwargs)


@pytest.fixture(params=["redis", "local"])
def shared(request):
    return Counting(RedisLimiter(settings.PRAETOR_RATELIMIT_REDIS_URL) if request.param == "redis" else LocalLimiter())


@pytest.fixture
def key():
    return f"{settings.PRAETOR_REDIS_PREFIX}rl-test:{uuid.uuid4().hex}"


def test_a_lease_is_at_most_the_maximum_and_one_percent_of_the_limit():
    leased = LeasedLimiter(LocalLimiter(), max_tokens=32)
    assert [leased.lease_size(limit) for limit in (5, 199, 200, 1000, 3199, 3200, 10**9)] == [0, 1, 2, 10, 31, 32, 32]
    assert LeasedLimiter(LocalLimiter(), max_tokens=0).lease_size(10**9) == 0


def test_one_round_trip_per_lease(shared, key):
    leased = LeasedLimiter(shared, max_tokens=32)
    decisions = [leased.consume_one(key, limit=100_000, period=10**7) for _ in range(320)]  # no refill
    assert all(d.allowed for d in decisions) and shared.calls == 10
    # Remaining counts down by one per request, as without leases (one process).
    assert [d.remaining for d in decisions[:40]] == list(range(99_999, 99_959, -1))


def test_exactly_the_limit_then_429_with_the_same_retry_after(shared, key):
    leased = LeasedLimiter(shared, max_tokens=32)
    decisions = [leased.consume_one(key, limit=500, period=3600) for _ in range(501)]  # leases of 5
    assert [d.allowed for d in decisions] == [True] * 500 + [False]
    assert [d.remaining for d in decisions] == [*range(499, -1, -1), 0]
    denied = decisions[-1]
    assert 6 < denied.retry_after <= 7.2 and denied.retry_after_seconds == math.ceil(denied.retry_after)
    assert shared.calls == 100 + 2  # 100 leases, then a refused lease and the single draw that decides


def test_a_refused_lease_is_not_counted_as_denied_usage(key):
    shared = RedisLimiter(settings.PRAETOR_RATELIMIT_REDIS_URL)
    leased = LeasedLimiter(shared, max_tokens=32)
    shared.consume(key, limit=300, period=3600, cost=298)
    assert [leased.consume_one(key, limit=300, period=3600).allowed for _ in range(3)] == [True, True, False]
    assert sum(r.allowed for r in shared.usage(key, minutes=1)) == 300
    assert sum(r.denied for r in shared.usage(key, minutes=1)) == 1


def test_a_changed_limit_or_an_expired_lease_draws_anew(key):
    now = [0.0]
    shared = Counting(LocalLimiter(clock=lambda: now[0]))
    leased = LeasedLimiter(shared, max_tokens=32, clock=lambda: now[0])
    leased.consume_one(key, limit=1000, period=60)
    leased.consume_one(key, limit=1000, period=60)
    assert shared.calls == 1
    assert leased.consume_one(key, limit=2000, period=60).limit == 2000 and shared.calls == 2
    now[0] = 60.0
    leased.consume_one(key, limit=2000, period=60)
    assert shared.calls == 3


def _hammer(url: str, key: str, attempts: int, start, results) -> None:
    leased = LeasedLimiter(RedisLimiter(url), max_tokens=32)
    start.wait(timeout=30)
    allowed = sum(leased.consume_one(key, limit=400, period=3600).allowed for _ in range(attempts))
    results.put(allowed)


def test_concurrent_processes_never_exceed_the_limit(key):
    """Leases of 4 (1% of 400) in 4 processes: never more than the limit (nothing refills within the few
    seconds: one token per 9 s), and at most the processes' unspent leases short of it."""
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    url = settings.PRAETOR_RATELIMIT_REDIS_URL
    procs = [ctx.Process(target=_hammer, args=(url, key, 150, start, results)) for _ in range(4)]
    for proc in procs:
        proc.start()
    began = time.monotonic()
    start.set()
    totals = [results.get(timeout=60) for _ in procs]
    refill_bound = int((time.monotonic() - began) * 400 / 3600)
    for proc in procs:
        proc.join(timeout=30)
    assert 400 - 4 * 3 <= sum(totals) <= 400 + refill_bound


@pytest.mark.django_db
@pytest.mark.urls("tests.ratelimit.urls")
def test_an_empty_bucket_answers_429_with_the_retry_after_of_one_token(authed_client, workspace):
    """The Free tier's 250 per minute gives leases of 2. Once the bucket is empty (here: in debt, about a
    minute's worth) no lease is drawn and each request is decided by the shared bucket: 429, Retry-After
    until one token is there, one denied unit per request."""
    key = bucket_key("api", "org", workspace.organization_id)
    limiter = get_limiter()
    limiter.consume(key, limit=250, period=60, cost=250 + 240, debt=True)
    denied_before = sum(r.denied for r in limiter.usage(key, minutes=1))
    answers = [authed_client.get(probe(workspace)) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 429]
    expected = limiter.consume(key, limit=250, period=60, peek=True).retry_after_seconds
    assert {a["RateLimit-Remaining"] for a in answers} == {"0"}
    assert {int(a["Retry-After"]) for a in answers} <= {expected, expected + 1} and 55 <= expected <= 60
    assert sum(r.denied for r in limiter.usage(key, minutes=1)) - denied_before == 3


@pytest.mark.django_db
@pytest.mark.urls("tests.ratelimit.urls")
def test_lease_max_zero_draws_every_request_from_redis(authed_client, workspace, settings):
    settings.PRAETOR_RATELIMIT_LEASE_MAX = 0
    key = bucket_key("api", "org", workspace.organization_id)
    for left in (249, 248, 247):
        assert authed_client.get(probe(workspace))["RateLimit-Remaining"] == str(left)
        assert get_limiter().consume(key, limit=250, period=60, peek=True).remaining == left
