"""The per-request draw's own costs (docs/performance.md, "Sixteenth step: the rate-limit draw's objects made
positionally ... (branch draw5)"): what it builds on every API request is built without a keyword dict, and the
RateLimit-* headers of a lean success are handed over as the response's header store holds them."""

from __future__ import annotations

import ast
import inspect
import itertools

import pytest
from django.test import RequestFactory

from apps.ratelimit import limiter, middleware, services
from apps.ratelimit.errors import ratelimit_headers
from apps.ratelimit.limiter import Decision, LeasedLimiter, LocalLimiter

# The hot path's functions, and the classes they make on every draw (a lease hand-out, a lease drawn, a draw
# from the limiter, a request's draw state, the unlimited answer).
_HOT = [limiter._decision, LeasedLimiter.consume_one, services._unlimited,
        middleware._state, middleware.api_request_draw]
_CLASSES = {"Decision", "_Lease", "_RequestDraw"}


def test_the_draws_objects_are_made_without_keywords():
    """CPython 3.11 calls a class with keywords by packing them into a dict and unpacking it again for __init__
    (_PyStack_AsDict, _PyStack_UnpackDict): several thousand instructions a request under callgrind. Positional
    calls hand the same values over."""
    made = []
    for function in _HOT:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CLASSES:
                made.append((function.__qualname__, node.func.id, [k.arg for k in node.keywords]))
    assert {(name, cls) for name, cls, _ in made} >= {
        ("_decision", "Decision"), ("LeasedLimiter.consume_one", "_Lease"),
        ("LeasedLimiter.consume_one", "Decision"), ("_unlimited", "Decision"), ("_state", "_RequestDraw"),
        ("api_request_draw", "_RequestDraw")}
    assert [entry for entry in made if entry[2]] == []


def test_the_positional_decisions_carry_each_field():
    """The positional calls in field order: a lease drawn, then handed out, then the bucket emptied and refused
    (the limiter's own draw), field by field."""
    now = [100.0]
    shared = LocalLimiter(clock=lambda: now[0], wall_clock=lambda: 1_000_000.0)
    leased = LeasedLimiter(shared, max_tokens=4, clock=lambda: now[0])
    first = leased.consume_one("k", limit=400, period=60)
    assert (first.allowed, first.limit, first.remaining, first.retry_after) == (True, 400, 399, 0.0)
    assert first.reset_after == pytest.approx(4 * 60 / 400)
    now[0] += 0.25
    second = leased.consume_one("k", limit=400, period=60)
    assert (second.allowed, second.limit, second.remaining, second.retry_after) == (True, 400, 398, 0.0)
    assert second.reset_after == pytest.approx(4 * 60 / 400 - 0.25)
    lease = leased._leases["k"]
    assert (lease.limit, lease.left, lease.remaining) == (400, 2, 396)
    assert (lease.reset_at, lease.until) == (pytest.approx(100.0 + 4 * 60 / 400), 160.0)
    tiny = LocalLimiter(clock=lambda: now[0], wall_clock=lambda: 1_000_000.0)
    tiny.consume("t", limit=2, period=60, cost=2)
    refused = tiny.consume("t", limit=2, period=60)
    assert (refused.allowed, refused.limit, refused.remaining) == (False, 2, 0)
    assert (refused.reset_after, refused.retry_after) == (pytest.approx(60.0), pytest.approx(30.0))
    assert services._unlimited(7) == Decision(allowed=True, limit=7, remaining=7, reset_after=0.0, retry_after=0.0)
    assert middleware._state(RequestFactory().get("/api/me/", REMOTE_ADDR="10.1.2.3")).ip == "10.1.2.3"


@pytest.mark.parametrize(("limit", "remaining", "reset_after"),
                         list(itertools.product([1, 600, 10**9], [0, 7, 599], [0.0, 0.4, 59.000000001, 61.5])))
def test_the_plain_headers_are_ratelimit_headers_as_the_store_holds_them(settings, limit, remaining, reset_after):
    """keyed_plain_headers hands the lean finish `ratelimit_headers`' names and values as ResponseHeaders stores
    them (lowercased name -> (name, value)), in their order, so `_finish_plain` puts them in by one update."""
    settings.PRAETOR_RATELIMIT_ENABLED = True
    request = RequestFactory().get("/api/me/")
    decision = Decision(True, limit, remaining, reset_after, 0.0)
    middleware._state(request).decision = decision
    expected = {name.lower(): (name, value) for name, value in ratelimit_headers(decision).items()}
    assert list(middleware.keyed_plain_headers(request).items()) == list(expected.items())


def test_the_plain_headers_of_an_undrawn_request_or_without_limiting(settings):
    settings.PRAETOR_RATELIMIT_ENABLED = True
    assert middleware.keyed_plain_headers(RequestFactory().get("/api/me/")) is None
    settings.PRAETOR_RATELIMIT_ENABLED = False
    assert middleware.keyed_plain_headers(RequestFactory().get("/api/me/")) == {}
