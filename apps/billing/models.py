"""Billing data: the tier catalog (limits and features as rows), each organization's subscription
state as last read from Stripe, and the Stripe events we have received (stored by id, processed once).

Source of truth for "which tier is in force": `Organization.tier`, written only by
`apps.billing.services` (from Stripe state, or by an operator for Enterprise). `Subscription` keeps
the Stripe side (customer, subscription, status, period, grace) that decides it.
"""

from __future__ import annotations

from django.db import models

from apps.core.models import OrganizationScopedModel, TimeStampedModel


class RolesLevel(models.TextChoices):
    NONE = "none", "Organization roles only"
    SYSTEM = "system", "Built-in workspace roles"
    CUSTOM = "custom", "Custom workspace roles"


class Plan(TimeStampedModel):
    """One tier of the catalog. `None` in a limit means "no limit"."""

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField(help_text="Order from the lowest tier to the highest.")
    purchasable = models.BooleanField(default=False, help_text="Bought through Stripe (Starter, Growth).")
    # Price of one seat (member) per month, in the smallest currency unit.
    price_per_seat_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3, default="usd")
    # Per environment: written by `manage.py billing_sync_stripe` for the Stripe account in use.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True, help_text="Stripe plan/price id.")

    max_members = models.PositiveIntegerField(null=True, blank=True, help_text="Seats; empty = unlimited.")
    max_workspaces = models.PositiveIntegerField(null=True, blank=True, help_text="Empty = unlimited.")
    roles = models.CharField(max_length=16, choices=RolesLevel.choices, default=RolesLevel.NONE)
    run_retention_days = models.PositiveIntegerField()
    audit_trail = models.BooleanField(default=False)
    audit_retention_days = models.PositiveIntegerField(default=0)
    rate_limit_api_per_minute = models.PositiveIntegerField()
    rate_limit_logs_events_per_minute = models.PositiveIntegerField()
    features = models.JSONField(default=list, blank=True, help_text="Feature names shown on the Billing page.")

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class SubscriptionStatus(models.TextChoices):
    NONE = "none", "None"  # never subscribed, or the subscription ended
    INCOMPLETE = "incomplete", "Incomplete"
    ACTIVE = "active", "Active"
    TRIALING = "trialing", "Trialing"
    PAST_DUE = "past_due", "Past due"
    UNPAID = "unpaid", "Unpaid"
    CANCELED = "canceled", "Canceled"


class Subscription(OrganizationScopedModel):
    """The organization's billing state: Stripe customer and subscription, as last read from Stripe.

    One row per organization, created the first time billing touches it.
    """

    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    stripe_customer_id = models.CharField(max_length=255, blank=True, db_index=True)
    stripe_subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.NONE)
    quantity = models.PositiveIntegerField(default=0)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # When a payment failed: the paid tier stays in force until `grace_until`, then Free.
    past_due_since = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    # Enterprise: set by an operator, never by Stripe. Overrides apply on top of the plan's limits.
    operator_managed = models.BooleanField(default=False)
    limit_overrides = models.JSONField(default=dict, blank=True)

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization"], name="billing_subscription_one_per_org")]

    def __str__(self) -> str:
        return f"{self.organization_id}: {self.status}"


class StripeEvent(TimeStampedModel):
    """A webhook event, stored by its Stripe id so a redelivery is recognised and not applied twice."""

    stripe_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=128)
    payload = models.JSONField()
    processed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"
