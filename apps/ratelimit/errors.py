"""The one error this app raises: a bucket is empty (429 with Retry-After and RateLimit-* headers)."""

from __future__ import annotations

from apps.core.errors import DomainError
from apps.ratelimit.limiter import Decision


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    """RateLimit-Limit/-Remaining/-Reset (IETF httpapi draft): the bucket's size, what is left, and
    the seconds until it is full again."""
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_seconds),
    }


class RateLimited(DomainError):
    """A request (or a batch of log messages/events) found its bucket empty."""

    status_code = 429
    default_code = "rate_limited"

    def __init__(self, detail: str, *, decision: Decision):
        super().__init__(detail)
        self.decision = decision
        self.headers = {**ratelimit_headers(decision), "Retry-After": str(decision.retry_after_seconds)}
