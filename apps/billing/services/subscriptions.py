"""Buying, changing and cancelling a tier through Stripe, and applying Stripe's subscription state.

State comes from Stripe: the response of our own call, a verified webhook (which makes us re-read
the subscription, so delivery order does not matter), or the periodic reconcile. Each applies the
object with `subscription_apply`, which decides the tier in force:

- active / trialing → the plan's tier;
- past_due → the plan's tier until `grace_until` (PRAETOR_BILLING_GRACE_DAYS after the first
  failure), then Free; paid again → back to active and the plan's tier;
- anything else (canceled, unpaid, incomplete…) → Free. Operator-managed (Enterprise) organizations
  keep their tier whatever Stripe says.

Concurrency: every write locks the organization's Subscription row first, so a buy, a seat change,
a webhook and the reconcile for one organization run one after another. Stripe writes carry
idempotency keys, so a retried request cannot buy twice.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing import stripe_gateway as gateway
from apps.billing.catalog import TierSlug
from apps.billing.errors import BillingErrorCode, PaymentProviderError
from apps.billing.models import Plan, Subscription, SubscriptionStatus
from apps.billing.selectors import organization_member_count
from apps.billing.services.entitlements import organization_tier_set
from apps.billing.services.limits import organization_limits_apply
from apps.core.errors import Conflict, Invalid, PermissionDenied
from apps.organizations.models import Membership, Organization, OrganizationRole

logger = logging.getLogger(__name__)

LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
_PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,250}$")
_IDEMPOTENCY_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")


def _require_owner(*, organization: Organization, actor) -> None:
    is_owner = (
        actor is not None
        and getattr(actor, "actor_type", "user") == "user"
        and getattr(actor, "is_authenticated", False)
        and Membership.objects.for_organization(organization)
        .filter(user_id=actor.pk, role=OrganizationRole.OWNER)
        .exists()
    )
    if not is_owner:
        raise PermissionDenied("Only an Owner of the organization can change its billing.",
                               code=BillingErrorCode.OWNER_REQUIRED)


def _purchasable_plan(tier: str) -> Plan:
    plan = Plan.objects.filter(slug=tier).first() if isinstance(tier, str) else None
    if plan is None:
        raise Invalid(f"Unknown tier {tier!r}: choose starter or growth.", loc=["body", "tier"],
                      code=BillingErrorCode.UNKNOWN_TIER)
    if not plan.purchasable:
        detail = ("Enterprise is arranged with us, not bought online." if plan.slug == TierSlug.ENTERPRISE
                  else "To go back to Free, cancel the subscription.")
        raise Invalid(f"The {plan.name} tier cannot be bought. {detail}", loc=["body", "tier"],
                      code=BillingErrorCode.NOT_PURCHASABLE)
    if not plan.stripe_price_id:
        raise Conflict(f"The {plan.name} tier is not set up in Stripe yet (manage.py billing_sync_stripe).",
                       code=BillingErrorCode.NOT_PURCHASABLE)
    return plan


def _validate_payment_method(payment_method_id) -> str:
    if not isinstance(payment_method_id, str) or not _PAYMENT_METHOD_ID.match(payment_method_id):
        # Only Stripe.js payment method ids are accepted: never card numbers.
        raise Invalid("payment_method_id must be a Stripe payment method id (pm_…) made by Stripe.js.",
                      loc=["body", "payment_method_id"], code=BillingErrorCode.INVALID_PAYMENT_METHOD)
    return payment_method_id


def _token(idempotency_key) -> str:
    if idempotency_key is None:
        return uuid.uuid4().hex
    if not isinstance(idempotency_key, str) or not _IDEMPOTENCY_TOKEN.match(idempotency_key):
        raise Invalid("idempotency_key is 8 to 64 letters, digits, '-' or '_'.", loc=["body", "idempotency_key"])
    return idempotency_key


def _locked_row(organization) -> Subscription:
    Subscription.objects.for_organization(organization).get_or_create(organization=organization)
    return (
        Subscription.objects.for_organization(organization).select_for_update(of=("self",)).select_related("plan")
        .get(organization=organization)
    )


def _seats(organization) -> int:
    return max(1, organization_member_count(organization=organization))


def _tier_for(subscription: Subscription, now: datetime) -> str:
    plan = subscription.plan
    if plan is None:
        return TierSlug.FREE
    if subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        return plan.slug
    in_grace = subscription.grace_until is not None and now < subscription.grace_until
    if subscription.status == SubscriptionStatus.PAST_DUE and in_grace:
        return plan.slug
    return TierSlug.FREE


def subscription_apply(*, subscription: Subscription, remote: gateway.StripeSubscription | None,
                       now: datetime | None = None, organization: Organization | None = None) -> Subscription:
    """Write Stripe's view of the subscription to our (locked) row and put the implied tier in force.

    A `remote` of another subscription than the row's live one is stale (an old, replaced
    subscription) and is ignored, so late events for it cannot undo a newer purchase.
    """
    now = now or timezone.now()
    if remote is not None:
        replaced = (subscription.stripe_subscription_id and remote.id != subscription.stripe_subscription_id
                    and subscription.status in LIVE and remote.status not in LIVE)
        if not replaced:
            known = {s.value for s in SubscriptionStatus}
            subscription.stripe_subscription_id = remote.id
            subscription.stripe_customer_id = remote.customer_id
            subscription.status = remote.status if remote.status in known else SubscriptionStatus.CANCELED
            subscription.plan = Plan.objects.filter(stripe_price_id=remote.plan_id).first() or subscription.plan
            subscription.quantity = remote.quantity
            subscription.current_period_end = remote.current_period_end
            subscription.cancel_at_period_end = remote.cancel_at_period_end
    if subscription.status == SubscriptionStatus.PAST_DUE:
        if subscription.past_due_since is None:
            subscription.past_due_since = now
            subscription.grace_until = now + timedelta(days=settings.PRAETOR_BILLING_GRACE_DAYS)
    else:
        subscription.past_due_since = None
        subscription.grace_until = None
    subscription.save()
    if not subscription.operator_managed:
        if organization is None or organization.pk != subscription.organization_id:
            organization = Organization.objects.get(pk=subscription.organization_id)
        organization_tier_set(organization=organization, tier=_tier_for(subscription, now), reason="stripe")
    return subscription


def _ensure_customer(*, organization: Organization, actor) -> str:
    """The organization's Stripe customer, created once (committed on its own, so a failure later
    never loses the link to a customer Stripe already has)."""
    with transaction.atomic():
        row = _locked_row(organization)
        if row.stripe_customer_id:
            return row.stripe_customer_id
        customer_id = gateway.customer_create(
            organization_id=str(organization.pk), name=organization.name, email=getattr(actor, "email", ""),
            idempotency_key=f"org:{organization.pk}:customer",
        )
        row.stripe_customer_id = customer_id
        row.save(update_fields=["stripe_customer_id", "updated"])
        return customer_id


def subscription_buy(*, organization: Organization, actor, tier: str, payment_method_id: str | None = None,
                     idempotency_key: str | None = None) -> Subscription:
    """Buy `tier` (Starter or Growth) for the organization, paying with a Stripe.js payment method.

    Seats = current members. With a live subscription on another tier this is a tier change
    (prorated). Refused, with nothing charged: a non-Owner (403), an unknown or non-purchasable
    tier (422), the tier already held or an operator-managed organization (409), a declined card (402).
    """
    _require_owner(organization=organization, actor=actor)
    plan = _purchasable_plan(tier)
    token = _token(idempotency_key)
    current = Subscription.objects.for_organization(organization).select_related("plan").first()
    if current is not None and current.operator_managed:
        raise Conflict("This organization's tier is managed by an operator (Enterprise).",
                       code=BillingErrorCode.OPERATOR_MANAGED)
    if current is not None and current.status in LIVE:
        if payment_method_id is not None:
            payment_method_update(organization=organization, actor=actor, payment_method_id=payment_method_id,
                                  idempotency_key=token)
        return subscription_change_tier(organization=organization, actor=actor, tier=tier, idempotency_key=token)
    if payment_method_id is None:
        raise Invalid("Enter a card to buy a tier.", loc=["body", "payment_method_id"],
                      code=BillingErrorCode.PAYMENT_METHOD_REQUIRED)
    payment_method_id = _validate_payment_method(payment_method_id)
    customer_id = _ensure_customer(organization=organization, actor=actor)
    with transaction.atomic():
        row = _locked_row(organization)
        if row.status in LIVE:  # bought meanwhile by a concurrent request
            raise Conflict(f"This organization is already on {row.plan.name if row.plan else 'a paid tier'}.",
                           code=BillingErrorCode.ALREADY_ON_TIER)
        key = f"org:{organization.pk}:buy:{plan.slug}:{token}"
        gateway.payment_method_set_default(customer_id=customer_id, payment_method_id=payment_method_id,
                                           idempotency_key=key)
        remote = gateway.subscription_create(customer_id=customer_id, plan_id=plan.stripe_price_id,
                                             quantity=_seats(organization), organization_id=str(organization.pk),
                                             idempotency_key=key)
        row.stripe_subscription_id = ""  # a new subscription replaces any ended one
        return subscription_apply(subscription=row, remote=remote, organization=organization)


def _live_row(organization) -> Subscription:
    row = _locked_row(organization)
    if row.operator_managed:
        raise Conflict("This organization's tier is managed by an operator (Enterprise).",
                       code=BillingErrorCode.OPERATOR_MANAGED)
    if row.status not in LIVE or not row.stripe_subscription_id:
        raise Conflict("This organization has no paid subscription.", code=BillingErrorCode.NO_SUBSCRIPTION)
    return row


@transaction.atomic
def subscription_change_tier(*, organization: Organization, actor, tier: str,
                             idempotency_key: str | None = None) -> Subscription:
    """Move a live subscription to another paid tier (upgrade or downgrade), prorated by Stripe.
    A downgrade deletes nothing: what is over the new limits can no longer grow."""
    _require_owner(organization=organization, actor=actor)
    plan = _purchasable_plan(tier)
    token = _token(idempotency_key)
    row = _live_row(organization)
    if row.plan_id == plan.pk:
        raise Conflict(f"This organization is already on {plan.name}.", code=BillingErrorCode.ALREADY_ON_TIER)
    current = gateway.subscription_retrieve(row.stripe_subscription_id)
    remote = gateway.subscription_modify(
        row.stripe_subscription_id, items=[{"id": current.item_id, "plan": plan.stripe_price_id,
                                            "quantity": _seats(organization)}],
        idempotency_key=f"org:{organization.pk}:change:{plan.slug}:{token}",
    )
    return subscription_apply(subscription=row, remote=remote, organization=organization)


@transaction.atomic
def subscription_cancel(*, organization: Organization, actor, idempotency_key: str | None = None) -> Subscription:
    """Cancel at the end of the paid period: the tier stays until then, then Free."""
    _require_owner(organization=organization, actor=actor)
    row = _live_row(organization)
    if row.cancel_at_period_end:
        raise Conflict("The subscription is already set to end with this period.", code="already_canceled")
    remote = gateway.subscription_modify(row.stripe_subscription_id, cancel_at_period_end=True,
                                         idempotency_key=f"org:{organization.pk}:cancel:{_token(idempotency_key)}")
    return subscription_apply(subscription=row, remote=remote, organization=organization)


@transaction.atomic
def subscription_resume(*, organization: Organization, actor, idempotency_key: str | None = None) -> Subscription:
    """Undo a cancellation before the period ends."""
    _require_owner(organization=organization, actor=actor)
    row = _live_row(organization)
    if not row.cancel_at_period_end:
        raise Conflict("The subscription is not set to end.", code="not_canceled")
    remote = gateway.subscription_modify(row.stripe_subscription_id, cancel_at_period_end=False,
                                         idempotency_key=f"org:{organization.pk}:resume:{_token(idempotency_key)}")
    return subscription_apply(subscription=row, remote=remote, organization=organization)


def payment_method_update(*, organization: Organization, actor, payment_method_id: str,
                          idempotency_key: str | None = None) -> None:
    """Replace the card invoices are charged to (a Stripe.js payment method id)."""
    _require_owner(organization=organization, actor=actor)
    payment_method_id = _validate_payment_method(payment_method_id)
    customer_id = _ensure_customer(organization=organization, actor=actor)
    gateway.payment_method_set_default(customer_id=customer_id, payment_method_id=payment_method_id,
                                       idempotency_key=f"org:{organization.pk}:card:{_token(idempotency_key)}")


def payment_setup_start(*, organization: Organization, actor) -> str:
    """Start entering a card in the browser (Owners only): a Stripe SetupIntent whose client secret
    Stripe.js confirms with the card. Returns the client secret; the card itself goes from the browser
    to Stripe, and only the resulting `pm_…` id comes back to us (`subscription_buy`, `payment_method_update`).
    Nothing is charged and nothing of ours changes."""
    _require_owner(organization=organization, actor=actor)
    return gateway.setup_intent_create(organization_id=str(organization.pk),
                                       idempotency_key=f"org:{organization.pk}:setup:{uuid.uuid4().hex}")


@transaction.atomic
def subscription_sync_seats(*, organization_id, idempotency_key: str) -> Subscription | None:
    """Keep the subscription quantity equal to the member count (at least 1). No Stripe call when
    there is no live Stripe subscription, or the quantity already matches."""
    organization = Organization.objects.filter(pk=organization_id).first()
    if organization is None:
        return None
    row = (Subscription.objects.for_organization(organization).select_for_update(of=("self",))
           .select_related("plan").first())
    if row is None or row.operator_managed or row.status not in LIVE or not row.stripe_subscription_id:
        return row
    seats = _seats(organization)
    if row.quantity == seats:
        return row
    current = gateway.subscription_retrieve(row.stripe_subscription_id)
    remote = gateway.subscription_modify(
        row.stripe_subscription_id, items=[{"id": current.item_id, "quantity": seats}],
        idempotency_key=f"org:{organization.pk}:seats:{seats}:{idempotency_key}",
    )
    return subscription_apply(subscription=row, remote=remote, organization=organization)


def organization_seats_changed(*, organization, actor=None) -> None:
    """Called by membership changes (join, leave, role change), inside their transaction: members beyond
    the seat limit become read-only (or writable again) now; after commit, the subscription's seats are
    brought in step (a task)."""
    from apps.billing.tasks import sync_seats

    organization_limits_apply(organization=organization, actor=actor)
    organization_id = str(getattr(organization, "pk", organization))
    transaction.on_commit(lambda: sync_seats.delay(organization_id))


@transaction.atomic
def subscription_refresh(*, subscription_id: str = "", customer_id: str = "", organization_id: str = "",
                         now: datetime | None = None) -> Subscription | None:
    """Re-read a subscription from Stripe and apply it (webhooks and the reconcile call this)."""
    row = None
    if subscription_id:
        row = Subscription.all_organizations.filter(stripe_subscription_id=subscription_id).first()
    if row is None and customer_id:
        row = Subscription.all_organizations.filter(stripe_customer_id=customer_id).first()
    if row is None and organization_id:
        row = Subscription.all_organizations.filter(organization_id=organization_id).first()
    if row is None:
        return None
    row = Subscription.all_organizations.select_for_update(of=("self",)).select_related("plan").get(pk=row.pk)
    remote = None
    if subscription_id:
        remote = gateway.subscription_retrieve(subscription_id)
    elif row.stripe_subscription_id:
        remote = gateway.subscription_retrieve(row.stripe_subscription_id)
    elif row.stripe_customer_id:
        # Our call may have failed after Stripe created the subscription: find it by customer.
        found = sorted(gateway.subscriptions_of_customer(row.stripe_customer_id),
                       key=lambda s: s.status in LIVE, reverse=True)
        remote = found[0] if found else None
    return subscription_apply(subscription=row, remote=remote, now=now)


def subscriptions_reconcile(*, now: datetime | None = None, batch_size: int = 100) -> int:
    """Re-read every Stripe-backed subscription (covers events Stripe or localstripe did not send,
    and ends grace periods). One short transaction per subscription; returns how many were read."""
    count = 0
    last_pk = None
    while True:
        page = Subscription.all_organizations.exclude(stripe_customer_id="").order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        rows = list(page.values_list("pk", "stripe_subscription_id", "stripe_customer_id")[:batch_size])
        if not rows:
            return count
        for pk, subscription_id, customer_id in rows:
            last_pk = pk
            try:
                subscription_refresh(subscription_id=subscription_id, customer_id=customer_id, now=now)
            except PaymentProviderError:
                # One unreachable read must not stop the sweep; the next run retries it.
                logger.warning("billing reconcile: Stripe read failed for subscription row %s", pk, exc_info=True)
                continue
            count += 1
