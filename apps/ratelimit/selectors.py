"""Reads: the limits in force for an organization, and its current usage against them."""

from __future__ import annotations

from dataclasses import dataclass

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


def organization_limits(organization) -> dict[str, int]:
    """Per-minute limits of the organization's buckets, {"api": n, "logs_events": m}: its tier's, from
    the catalog, with any operator override (Enterprise). The one place limits are read."""
    entitlements = organization_entitlements(organization)
    return {API: entitlements.rate_limit_api_per_minute, LOGS_EVENTS: entitlements.rate_limit_logs_events_per_minute}


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
