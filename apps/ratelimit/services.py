"""Drawing from rate-limit buckets: each organization's `api` and `logs_events` buckets, and the
buckets of traffic that belongs to no organization (a user's /api/me calls, anonymous clients per IP,
failed API key authentications per IP).

The engine calls `enforce` for log messages and `consume` for events (apps/ratelimit/streams.py); the request hook in
`apps.ratelimit.middleware` draws every API request once.
"""

from __future__ import annotations

import time
import uuid
from uuid import UUID

from django.conf import settings

from apps.core.errors import NotFound
from apps.organizations.models import Organization
from apps.ratelimit import store
from apps.ratelimit.errors import RateLimited
from apps.ratelimit.limiter import Decision
from apps.ratelimit.selectors import (
    API,
    BUCKETS,
    LOGS_EVENTS,
    PERIOD_SECONDS,
    organization_limits,
    organization_limits_until,
)
from apps.ratelimit.store import bucket_key, current

AUTH_FAILURES = "auth_failures"

_WHAT = {
    API: "{limit} API requests per minute",
    LOGS_EVENTS: "{limit} log messages and events per minute",
}


def _unlimited(limit: int) -> Decision:
    return Decision(True, limit, limit, 0.0, 0.0)  # (allowed, limit, remaining, reset_after, retry_after)


def _draw(key: str, *, limit: int, n: int, peek: bool = False, debt: bool = False, lease: bool = False,
          force: bool = False) -> Decision:
    limiting = store._current or current()  # current(), without its call when built
    if not limiting.enabled:
        return _unlimited(limit)
    if lease and n == 1 and not peek and not debt and not force:
        # One request: from this process's lease of the bucket (no round trip for most requests).
        return limiting.leased.consume_one(key, limit=limit, period=PERIOD_SECONDS)
    return limiting.limiter.consume(key, limit=limit, period=PERIOD_SECONDS, cost=n, peek=peek, debt=debt, force=force)


def _organization(organization: Organization | uuid.UUID | str) -> Organization:
    if isinstance(organization, Organization):
        return organization
    found = Organization.objects.filter(pk=organization).only("id", "tier").first()
    if found is None:
        raise NotFound("Account not found.")
    return found


def consume(organization: Organization | uuid.UUID | str, bucket: str, n: int = 1, *,
            batch: bool = False, force: bool = False) -> Decision:
    """Draw `n` units from the organization's `bucket` ("api" or "logs_events") if they are there.

    All or nothing: a denied draw takes nothing. `n` above the whole per-minute limit is allowed
    only from a full bucket and leaves it in debt (a big log batch is delayed, never refused for
    good). A `batch` (a batch of log messages) is allowed whenever the bucket is not empty and may
    leave it in debt, so events drawn one by one cannot starve it (see apps/ratelimit/limiter.py).
    A `force` draw is always allowed and may leave the bucket in debt: for units that can no longer be
    refused (events read off a websocket the server is closing; apps/ratelimit/streams.py).
    `organization` is the Organization or its id (an id costs one query for its tier).
    Never raises for an empty bucket: look at `Decision.allowed` (the events websocket does).
    """
    if bucket not in BUCKETS:
        raise ValueError(f"Unknown rate-limit bucket {bucket!r}; expected one of {BUCKETS}.")
    if n < 0:
        raise ValueError("Cannot draw a negative number of units.")
    org = organization if type(organization) is Organization else _organization(organization)
    limit = organization_limits(org)[bucket]
    return _draw(bucket_key(bucket, "org", org.pk), limit=limit, n=n, peek=n == 0, debt=batch,
                 lease=bucket == API, force=force)


_API_DRAWS_MAX = 10_000


def organization_api_consume(organization: Organization) -> Decision:
    """`consume(organization, API)` for an Organization: one unit of its api bucket, as every API request under an
    account's URL draws (apps/ratelimit/middleware.py `api_request_draw`). The limit and the bucket key are
    remembered together per (id, tier) with the settings in force (`_Current.api_draws`), for exactly as long as
    `organization_limits` remembers the limits they come from (its `until`): one memo lookup instead of the limits
    memo's and the bucket-key memo's, and no call of `consume`, `_draw`, `organization_limits`, `bucket_key`."""
    limiting = store._current or current()  # current(), without its call when built
    if not limiting.enabled:
        return consume(organization, API)
    pk = organization.id  # its pk (tests/ratelimit/test_api_draw.py), read without the `pk` property's two calls
    # as selectors.organization_limits_until's memo key (a UUID by its int: its own hash is Python)
    memo_key = (pk.int, organization.tier, UUID) if type(pk) is UUID else (pk, organization.tier)
    memo = limiting.api_draws
    found = memo.get(memo_key)
    if found is None or found[0] <= time.monotonic():
        until, limits = organization_limits_until(organization)
        found = (until, limits[API], bucket_key(API, "org", pk))
        if len(memo) >= _API_DRAWS_MAX:
            memo.clear()
        memo[memo_key] = found
    return limiting.leased.consume_one(found[2], limit=found[1], period=PERIOD_SECONDS)


def enforce(organization: Organization | uuid.UUID | str, bucket: str, n: int = 1, *,
            batch: bool = False) -> Decision:
    """`consume`, raising RateLimited (429 with Retry-After) when the bucket cannot cover `n`."""
    decision = consume(organization, bucket, n, batch=batch)
    if not decision.allowed:
        what = _WHAT[bucket].format(limit=decision.limit)
        raise RateLimited(
            f"Rate limit exceeded: this account may make {what}. "
            f"Retry in {decision.retry_after_seconds} seconds.",
            decision=decision,
        )
    return decision


def user_consume(user_id, n: int = 1) -> Decision:
    """A user's requests outside any account URL (/api/me…): a bucket of that user, since a user may
    belong to several organizations and none of them is named by the request."""
    return _draw(bucket_key(API, "user", user_id), limit=settings.PRAETOR_RATELIMIT_USER_PER_MINUTE, n=n, lease=True)


def anonymous_consume(ip: str, n: int = 1) -> Decision:
    """Unauthenticated requests, per client IP, so a flood from one address cannot starve others."""
    return _draw(bucket_key(API, "ip", ip), limit=settings.PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE, n=n)


def auth_failure_record(ip: str) -> Decision:
    """Count one failed API key authentication from `ip`."""
    return _draw(bucket_key(AUTH_FAILURES, "ip", ip), limit=settings.PRAETOR_RATELIMIT_AUTH_FAILURES_PER_MINUTE, n=1)


def auth_failures_exhausted(ip: str) -> Decision | None:
    """The failure bucket of `ip` when it is empty (the caller answers 429 before looking at the key),
    else None. Draws nothing."""
    decision = _draw(
        bucket_key(AUTH_FAILURES, "ip", ip), limit=settings.PRAETOR_RATELIMIT_AUTH_FAILURES_PER_MINUTE, n=1, peek=True
    )
    return None if decision.allowed else decision
