"""Stripe: keys and API base from the environment (the tests point STRIPE_API_BASE at localstripe)."""

from config.env import env

STRIPE_API_KEY = env("STRIPE_API_KEY", "")
STRIPE_PUBLISHABLE_KEY = env("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_JS_URL = env("STRIPE_JS_URL", "https://js.stripe.com/v3/")

# A failed renewal keeps the paid tier this many days (Stripe's own retries run meanwhile), then Free.
PRAETOR_BILLING_GRACE_DAYS = env("PRAETOR_BILLING_GRACE_DAYS", 7, cast=int)
# Outgoing Stripe calls: timeout (seconds) and the library's own retries (each reusing its idempotency key).
STRIPE_TIMEOUT_SECONDS = env("STRIPE_TIMEOUT_SECONDS", 20, cast=int)
STRIPE_MAX_NETWORK_RETRIES = env("STRIPE_MAX_NETWORK_RETRIES", 2, cast=int)
PRAETOR_BILLING_RECONCILE_SECONDS = env("PRAETOR_BILLING_RECONCILE_SECONDS", 15 * 60, cast=int)

from config.settings.celery import CELERY_BEAT_SCHEDULE  # noqa: E402

CELERY_BEAT_SCHEDULE.update({
    "praetor.billing.reconcile_subscriptions": {
        "task": "praetor.billing.reconcile_subscriptions",
        "schedule": PRAETOR_BILLING_RECONCILE_SECONDS,
    },
})
