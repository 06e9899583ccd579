"""Billing's domain errors (mapped to HTTP once, in apps/core/api/errors.py) and their stable codes."""

from __future__ import annotations

from enum import StrEnum

from apps.core.errors import DomainError


class BillingErrorCode(StrEnum):
    UNKNOWN_TIER = "unknown_tier"
    NOT_PURCHASABLE = "tier_not_purchasable"
    ALREADY_ON_TIER = "already_on_tier"
    OWNER_REQUIRED = "owner_required"
    OPERATOR_MANAGED = "operator_managed"
    NO_SUBSCRIPTION = "no_subscription"
    PAYMENT_METHOD_REQUIRED = "payment_method_required"
    INVALID_PAYMENT_METHOD = "invalid_payment_method"
    CARD_DECLINED = "card_declined"
    PROVIDER_ERROR = "payment_provider_error"
    BAD_SIGNATURE = "bad_signature"


class PaymentDeclined(DomainError):
    """The card was refused: nothing was bought."""

    status_code = 402
    default_code = BillingErrorCode.CARD_DECLINED


class PaymentProviderError(DomainError):
    """Stripe could not be reached or answered with an error we cannot act on."""

    status_code = 502
    default_code = BillingErrorCode.PROVIDER_ERROR


class BadWebhookSignature(DomainError):
    status_code = 400
    default_code = BillingErrorCode.BAD_SIGNATURE
