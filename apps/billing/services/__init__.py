"""Billing's public write surface. Other apps call `entitlement_check`, `organization_seats_changed`."""

from apps.billing.services.entitlements import (
    enterprise_set,
    enterprise_unset,
    entitlement_check,
    organization_tier_set,
    plan_changed,
    subscription_get_or_create,
)
from apps.billing.services.retention import run_retention_apply, run_retention_cutoff
from apps.billing.services.subscriptions import (
    organization_seats_changed,
    payment_method_update,
    payment_setup_start,
    subscription_apply,
    subscription_buy,
    subscription_cancel,
    subscription_change_tier,
    subscription_refresh,
    subscription_resume,
    subscription_sync_seats,
    subscriptions_reconcile,
)
from apps.billing.services.webhooks import stripe_event_receive

__all__ = [
    "enterprise_set",
    "enterprise_unset",
    "entitlement_check",
    "organization_seats_changed",
    "organization_tier_set",
    "payment_method_update",
    "payment_setup_start",
    "plan_changed",
    "run_retention_apply",
    "run_retention_cutoff",
    "stripe_event_receive",
    "subscription_apply",
    "subscription_buy",
    "subscription_cancel",
    "subscription_change_tier",
    "subscription_get_or_create",
    "subscription_refresh",
    "subscription_resume",
    "subscription_sync_seats",
    "subscriptions_reconcile",
]
