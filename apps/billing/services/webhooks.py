"""Stripe webhooks: verified, stored by event id, processed once, applied by re-reading Stripe.

We never trust the event's copy of the object: we re-read the subscription it concerns, so a late
or reordered delivery applies the current state, not a stale one.
"""

from __future__ import annotations

import json

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.billing import stripe_gateway as gateway
from apps.billing.errors import BadWebhookSignature
from apps.billing.models import StripeEvent
from apps.billing.services.subscriptions import subscription_refresh

SUBSCRIPTION_EVENTS = {"customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted"}
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"}


def _invoice_subscription_id(invoice) -> str:
    """The subscription an invoice bills (top-level in older API versions, under `parent` in newer ones)."""
    sub = invoice.get("subscription")
    if not sub:
        details = ((invoice.get("parent") or {}).get("subscription_details") or {})
        sub = details.get("subscription")
    if isinstance(sub, dict):
        sub = sub.get("id")
    return sub or ""


def _process(event) -> bool:
    """Apply one event; False when its type is not one we act on."""
    obj = event["data"]["object"]
    if event["type"] in SUBSCRIPTION_EVENTS:
        subscription_refresh(subscription_id=obj["id"], customer_id=obj.get("customer") or "",
                             organization_id=(obj.get("metadata") or {}).get("organization_id") or "")
        return True
    if event["type"] in INVOICE_EVENTS:
        subscription_id = _invoice_subscription_id(obj)
        if subscription_id:
            subscription_refresh(subscription_id=subscription_id, customer_id=obj.get("customer") or "")
        return True
    return False


def stripe_event_receive(*, payload: bytes, signature: str) -> str:
    """Verify and apply a webhook delivery. Returns "processed", "ignored" or "duplicate".

    A bad signature raises BadWebhookSignature (400) before anything is read or stored. The event
    row and its effects commit together; if applying fails (Stripe unreachable), nothing is stored
    and Stripe delivers again later.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise BadWebhookSignature("Stripe webhooks are not configured here (STRIPE_WEBHOOK_SECRET is unset).")
    try:
        event = gateway.event_construct(payload=payload, signature=signature or "", secret=secret)
    except (ValueError, stripe.SignatureVerificationError):
        raise BadWebhookSignature("The Stripe-Signature header does not match this payload.") from None
    with transaction.atomic():
        row, _ = StripeEvent.objects.get_or_create(
            stripe_id=event["id"], defaults={"type": event["type"], "payload": json.loads(payload)}
        )
        row = StripeEvent.objects.select_for_update().get(pk=row.pk)
        if row.processed_at is not None:
            return "duplicate"
        handled = _process(event)
        row.processed_at = timezone.now()
        row.save(update_fields=["processed_at", "updated"])
    return "processed" if handled else "ignored"
