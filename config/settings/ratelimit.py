"""API rate limiting: on by default; per-tier limits live in the tier catalog (apps/billing)."""

from config.env import env

PRAETOR_RATELIMIT_ENABLED = env("PRAETOR_RATELIMIT_ENABLED", True, cast=bool)
# Unauthenticated traffic is limited per client IP.
PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE = env("PRAETOR_RATELIMIT_ANONYMOUS_PER_MINUTE", 10_000, cast=int)
