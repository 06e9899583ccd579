"""The one error this app raises: a bucket is empty (429 with Retry-After and RateLimit-* headers)."""

from __future__ import annotations

from apps.core.errors import DomainError
from apps.ratelimit.limiter import Decision


def ratelimit_header_entries(decision: Decision) -> dict[str, tuple[str, str]]:
    """`ratelimit_headers` as a response's header store holds them (`ResponseHeaders._store`: lowercased name ->
    (name, value)), for the lean route's finish (apps/core/lean_middleware.py `_finish_plain`)."""
    return {
        "ratelimit-limit": ("RateLimit-Limit", str(decision.limit)),
        "ratelimit-remaining": ("RateLimit-Remaining", str(decision.remaining)),
        "ratelimit-reset": ("RateLimit-Reset", str(decision.reset_seconds)),
    }


def ratelimit_headers(decision: Decision) -> dict[str, str]:
    """RateLimit-Limit/-Remaining/-Reset (IETF httpapi draft): the bucket's size, what is left, and
    the seconds until it is full again."""
    return dict(ratelimit_header_entries(decision).values())


class RateLimited(DomainError):
    """A request (or a batch of log messages/events) found its bucket empty."""

    status_code = 429
    default_code = "rate_limited"

    def __init__(self, detail: str, *, decision: Decision):
        super().__init__(detail)
        self.decision = decision
        self.headers = {**ratelimit_headers(decision), "Retry-After": str(decision.retry_after_seconds)}
