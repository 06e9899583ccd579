"""Reads: the limits in force for an organization, and its current usage against them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID

from apps.billing.selectors import organization_entitlements
from apps.ratelimit.limiter import MinuteUsage
from apps.ratelimit.store import bucket_key, get_limiter

API = "api"
LOGS_EVENTS = "logs_events"
BUCKETS = (API, LOGS_EVENTS)
PERIOD_SECONDS = 60


@dataclass(frozen=True)
class BucketUsage:
    """One bucket of an organization as it stands now, plus its last hour minute by minute."""

    bucket: str
    limit: int
    remaining: int
    reset_seconds: int
    minutes: list[MinuteUsage]

    @property
    def used(self) -> int:
        return self.limit - self.remaining

    @property
    def denied_last_hour(self) -> int:
        return sum(m.denied for m in self.minutes)

    @property
    def allowed_last_hour(self) -> int:
        return sum(m.allowed for m in self.minutes)


# In-process memo of limits, so the hot path costs no cache round trip: keyed by the organization's
# current tier (read with the organization on every request), so a tier change applies at once; an
# operator's override of an Enterprise limit applies within LIMITS_MEMO_SECONDS.
LIMITS_MEMO_SECONDS = 10.0
_MEMO_MAX = 10_000
_limits_memo: dict[tuple, tuple[float, dict[str, int]]] = {}


def organization_limits(organization) -> dict[str, int]:
    """Per-minute limits of the organization's buckets, {"api": n, "logs_events": m}: its tier's, from
    the catalog, with any operator override (Enterprise). The one place limits are read."""
    return organization_limits_until(organization)[1]


def organization_limits_until(organization) -> tuple[float, dict[str, int]]:
    """(until, limits): `organization_limits`' answer and the time (time.monotonic) until which it is remembered
    (the API draw remembers what it derives from the limits exactly as long: services.organization_api_consume)."""
    pk = organization.pk
    # A UUID's hash is Python (`UUID.__hash__`: hash(self.int), ~3 k instructions under callgrind), its int's is C:
    # a UUID is remembered by its int, marked so that no other id (an int) shares its key.
    memo_key = (pk.int, organization.tier, UUID) if type(pk) is UUID else (pk, organization.tier)
    now = time.monotonic()
    memo = _limits_memo.get(memo_key)
    if memo is not None and memo[0] > now:
        return memo
    entitlements = organization_entitlements(organization)
    limits = {API: entitlements.rate_limit_api_per_minute, LOGS_EVENTS: entitlements.rate_limit_logs_events_per_minute}
    if len(_limits_memo) >= _MEMO_MAX:
        _limits_memo.clear()
    memo = _limits_memo[memo_key] = (now + LIMITS_MEMO_SECONDS, limits)
    return memo


def organization_usage(*, organization) -> list[BucketUsage]:
    """Each bucket's limit and what is left of it right now (nothing is drawn), with per-minute
    counts of units allowed and denied over the last 60 minutes."""
    limiter = get_limiter()
    limits = organization_limits(organization)
    rows = []
    for bucket in BUCKETS:
        key = bucket_key(bucket, "org", organization.pk)
        now = limiter.consume(key, limit=limits[bucket], period=PERIOD_SECONDS, cost=1, peek=True)
        rows.append(
            BucketUsage(
                bucket=bucket,
                limit=limits[bucket],
                remaining=now.remaining,
                reset_seconds=now.reset_seconds,
                minutes=limiter.usage(key, minutes=60),
            )
        )
    return rows
