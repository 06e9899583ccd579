"""Billing's public write surface. Other apps call `entitlement_check`, `organization_seats_changed`,
`organization_workspaces_changed` and (the request path) `read_only_check`."""

from apps.billing.services.entitlements import (
    enterprise_set,
    enterprise_unset,
    entitlement_check,
    organization_tier_set,
    plan_changed,
    subscription_get_or_create,
)
from apps.billing.services.limits import (
    READ_ONLY_STILL_ALLOWED,
    LimitsApplied,
    organization_limits_apply,
    organization_lock,
    organization_workspaces_changed,
    read_only_check,
    read_only_reason,
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
    "READ_ONLY_STILL_ALLOWED",
    "LimitsApplied",
    "enterprise_set",
    "enterprise_unset",
    "entitlement_check",
    "organization_limits_apply",
    "organization_lock",
    "organization_seats_changed",
    "organization_tier_set",
    "organization_workspaces_changed",
    "payment_method_update",
    "payment_setup_start",
    "plan_changed",
    "read_only_check",
    "read_only_reason",
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
