"""API rate limiting: on by default; per-tier limits live in the tier catalog (apps/billing).

See docs/ratelimit.md for the buckets, the headers and what happens when Redis fails.
"""

from config.env import env

PRAETOR_RATELIMIT_ENABLED = env("PRAETOR_RATELIMIT_ENABLED", True, cast=bool)
# Unauthenticated traffic is limited per client IP.
PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE = env("PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE", 10_000, cast=int)
# A user's requests outside any organization's URLs (/api/me…) draw from a bucket of that user.
PRAETOR_RATELIMIT_USER_PER_MINUTE = env("PRAETOR_RATELIMIT_USER_PER_MINUTE", 250, cast=int)
# Requests whose API key fails authentication, per client IP; beyond it every keyed request is 429.
PRAETOR_RATELIMIT_AUTH_FAILURES_PER_MINUTE = env("PRAETOR_RATELIMIT_AUTH_FAILURES_PER_MINUTE", 30, cast=int)
# The limiter's Redis (default: REDIS_URL). Empty = in-process limiter (the embedded quick start).
PRAETOR_RATELIMIT_REDIS_URL = env("PRAETOR_RATELIMIT_REDIS_URL", env("REDIS_URL", ""))
# Seconds to wait for Redis before falling back to the in-process limiter, and between retries of it.
PRAETOR_RATELIMIT_REDIS_TIMEOUT = env("PRAETOR_RATELIMIT_REDIS_TIMEOUT", 0.25, cast=float)
PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS = env("PRAETOR_RATELIMIT_REDIS_RETRY_SECONDS", 5.0, cast=float)
# Tokens a process draws ahead from an API bucket in one Redis round trip and hands out itself (never
# more than 1% of the bucket's per-minute limit; 0 = one round trip per request). docs/ratelimit.md.
PRAETOR_RATELIMIT_LEASE_MAX = env("PRAETOR_RATELIMIT_LEASE_MAX", 32, cast=int)
# Extra key segment; the test suite sets one per test so buckets never leak between tests.
PRAETOR_RATELIMIT_NAMESPACE = ""
