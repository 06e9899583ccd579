"""Every call we make to Stripe, in one place: configured from settings (`STRIPE_API_BASE` points the
tests at localstripe), each write with an idempotency key, Stripe's errors turned into ours.

We use Stripe *plans* (not Prices) for subscription items: both real Stripe and localstripe accept
them. Card data never reaches us: the browser's Stripe.js turns the card into a `pm_…` id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import stripe
from django.conf import settings

from apps.billing.errors import BillingErrorCode, PaymentDeclined, PaymentProviderError

_configured: tuple | None = None


def _stripe():
    """The `stripe` module, configured from the current settings (cheap when unchanged)."""
    global _configured
    wanted = (settings.STRIPE_API_KEY, settings.STRIPE_API_BASE, settings.STRIPE_MAX_NETWORK_RETRIES,
              settings.STRIPE_TIMEOUT_SECONDS)
    if _configured != wanted:
        stripe.api_key = settings.STRIPE_API_KEY
        stripe.api_base = settings.STRIPE_API_BASE.rstrip("/")
        stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
        stripe.default_http_client = stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS)
        _configured = wanted
    return stripe


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except stripe.CardError as exc:
        raise PaymentDeclined(exc.user_message or "Your card was declined.") from exc
    except stripe.InvalidRequestError as exc:
        if exc.param in ("payment_method", "default_payment_method") or "payment method" in str(exc).lower():
            raise PaymentDeclined("That card cannot be used: enter it again.",
                                  code=BillingErrorCode.INVALID_PAYMENT_METHOD) from exc
        raise PaymentProviderError(f"Stripe refused the request: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        raise PaymentProviderError("Stripe could not be reached; nothing was changed. Try again.") from exc


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


@dataclass(frozen=True)
class StripeSubscription:
    """The fields of a Stripe subscription we act on, whatever the API version's shape."""

    id: str
    customer_id: str
    status: str
    plan_id: str
    item_id: str
    quantity: int
    current_period_end: datetime | None
    cancel_at_period_end: bool
    organization_id: str | None

    @classmethod
    def from_stripe(cls, obj) -> StripeSubscription:
        item = obj["items"]["data"][0]
        plan = item.get("plan") or item.get("price") or {}
        # Newer API versions keep the period on the item; older ones (and localstripe) on the subscription.
        period_end = obj.get("current_period_end") or item.get("current_period_end")
        customer = obj["customer"]
        return cls(
            id=obj["id"],
            customer_id=customer if isinstance(customer, str) else customer["id"],
            status=obj["status"],
            plan_id=plan.get("id", ""),
            item_id=item["id"],
            quantity=int(item.get("quantity") or obj.get("quantity") or 1),
            current_period_end=_ts(period_end),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
            organization_id=(obj.get("metadata") or {}).get("organization_id"),
        )


def customer_create(*, organization_id: str, name: str, email: str, idempotency_key: str) -> str:
    customer = _call(_stripe().Customer.create, name=name, email=email,
                     metadata={"organization_id": organization_id}, idempotency_key=idempotency_key)
    return customer["id"]


def payment_method_set_default(*, customer_id: str, payment_method_id: str, idempotency_key: str) -> None:
    """Attach a Stripe.js-made payment method to the customer and make it the one invoices charge."""
    s = _stripe()
    _call(s.PaymentMethod.attach, payment_method_id, customer=customer_id,
          idempotency_key=f"{idempotency_key}:attach")
    _call(s.Customer.modify, customer_id, invoice_settings={"default_payment_method": payment_method_id},
          idempotency_key=f"{idempotency_key}:default")


def setup_intent_create(*, organization_id: str, idempotency_key: str) -> str:
    """A SetupIntent for saving a card off-session; returns its client secret, which Stripe.js confirms
    with the card (`confirmCardSetup`) and which yields the `pm_…` id the browser sends us."""
    intent = _call(_stripe().SetupIntent.create, usage="off_session", payment_method_types=["card"],
                   metadata={"organization_id": organization_id}, idempotency_key=idempotency_key)
    return intent["client_secret"]


def subscription_create(*, customer_id: str, plan_id: str, quantity: int, organization_id: str,
                        idempotency_key: str) -> StripeSubscription:
    # error_if_incomplete: a declined first payment fails the call; no half-bought subscription stays behind.
    obj = _call(_stripe().Subscription.create, customer=customer_id,
                items=[{"plan": plan_id, "quantity": quantity}], payment_behavior="error_if_incomplete",
                metadata={"organization_id": organization_id}, idempotency_key=idempotency_key)
    return StripeSubscription.from_stripe(obj)


def subscription_retrieve(subscription_id: str) -> StripeSubscription:
    return StripeSubscription.from_stripe(_call(_stripe().Subscription.retrieve, subscription_id))


def subscription_modify(subscription_id: str, *, idempotency_key: str, **params) -> StripeSubscription:
    """Change plan, quantity or cancel_at_period_end. A plan change is prorated (Stripe's default)."""
    obj = _call(_stripe().Subscription.modify, subscription_id, idempotency_key=idempotency_key, **params)
    return StripeSubscription.from_stripe(obj)


def subscriptions_of_customer(customer_id: str) -> list[StripeSubscription]:
    found = _call(_stripe().Subscription.list, customer=customer_id, status="all", limit=10)
    return [StripeSubscription.from_stripe(obj) for obj in found["data"]]


@dataclass(frozen=True)
class Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class InvoiceSummary:
    id: str
    created: datetime | None
    amount_cents: int
    currency: str
    status: str


@dataclass(frozen=True)
class UpcomingInvoice:
    date: datetime | None
    amount_cents: int
    currency: str


def default_card(customer_id: str) -> Card | None:
    s = _stripe()
    customer = _call(s.Customer.retrieve, customer_id)
    pm_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if not pm_id:
        return None
    if not isinstance(pm_id, str):
        pm_id = pm_id["id"]
    card = _call(s.PaymentMethod.retrieve, pm_id).get("card") or {}
    return Card(brand=card.get("brand", ""), last4=card.get("last4", ""), exp_month=int(card.get("exp_month") or 0),
                exp_year=int(card.get("exp_year") or 0))


def invoices_of_customer(customer_id: str, *, limit: int = 24) -> list[InvoiceSummary]:
    found = _call(_stripe().Invoice.list, customer=customer_id, limit=limit)
    rows = [
        InvoiceSummary(id=inv["id"], created=_ts(inv.get("created") or inv.get("date")),
                       amount_cents=int(inv.get("amount_due") or inv.get("total") or 0),
                       currency=inv.get("currency") or "usd", status=inv.get("status") or "")
        for inv in found["data"]
    ]
    return sorted(rows, key=lambda r: r.created or datetime.min.replace(tzinfo=UTC), reverse=True)


def upcoming_invoice(*, customer_id: str, subscription_id: str) -> UpcomingInvoice | None:
    try:
        preview = _stripe().Invoice.create_preview(customer=customer_id, subscription=subscription_id)
    except stripe.InvalidRequestError:
        return None  # nothing upcoming (e.g. canceled at period end)
    except stripe.StripeError as exc:
        raise PaymentProviderError("Stripe could not be reached. Try again.") from exc
    when = preview.get("next_payment_attempt") or preview.get("period_end")
    return UpcomingInvoice(date=_ts(when), amount_cents=int(preview.get("amount_due") or 0),
                           currency=preview.get("currency") or "usd")


def event_construct(*, payload: bytes, signature: str, secret: str):
    """Verify a webhook's Stripe-Signature with the endpoint secret; raise ValueError or SignatureVerificationError."""
    return stripe.Webhook.construct_event(payload, signature, secret)


def _exists(retrieve, object_id: str) -> bool:
    try:
        retrieve(object_id)
        return True
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return False
        raise PaymentProviderError(f"Stripe refused the request: {exc}") from exc
    except stripe.StripeError as exc:
        raise PaymentProviderError("Stripe could not be reached. Try again.") from exc


def product_ensure(*, product_id: str, name: str) -> bool:
    """Create the product unless it exists; True when created."""
    s = _stripe()
    if _exists(s.Product.retrieve, product_id):
        return False
    _call(s.Product.create, id=product_id, name=name, idempotency_key=f"product:{product_id}")
    return True


def plan_ensure(*, plan_id: str, product_id: str, amount_cents: int, currency: str) -> bool:
    """Create the monthly per-seat plan unless it exists; True when created. A plan's price cannot
    change in Stripe: a new price needs a new plan id (ours carry the amount)."""
    s = _stripe()
    if _exists(s.Plan.retrieve, plan_id):
        return False
    _call(s.Plan.create, id=plan_id, product=product_id, amount=amount_cents, currency=currency, interval="month",
          usage_type="licensed", idempotency_key=f"plan:{plan_id}")
    return True
