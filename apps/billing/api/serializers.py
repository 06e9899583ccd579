"""Billing API input and output shapes (separate classes)."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer


class SubscriptionBuyInput(StrictInputSerializer):
    tier = serializers.CharField(max_length=32)
    payment_method_id = serializers.CharField(max_length=255, required=False, allow_null=True)
    idempotency_key = serializers.CharField(max_length=64, required=False, allow_null=True)


class IdempotencyInput(StrictInputSerializer):
    idempotency_key = serializers.CharField(max_length=64, required=False, allow_null=True)


class PaymentMethodInput(StrictInputSerializer):
    payment_method_id = serializers.CharField(max_length=255)
    idempotency_key = serializers.CharField(max_length=64, required=False, allow_null=True)


class PlanOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    purchasable = serializers.BooleanField()
    price_per_seat_cents = serializers.IntegerField()
    currency = serializers.CharField()
    max_members = serializers.IntegerField(allow_null=True)
    max_workspaces = serializers.IntegerField(allow_null=True)
    roles = serializers.CharField()
    run_retention_days = serializers.IntegerField()
    audit_trail = serializers.BooleanField()
    audit_retention_days = serializers.IntegerField()
    rate_limit_api_per_minute = serializers.IntegerField()
    rate_limit_logs_events_per_minute = serializers.IntegerField()
    features = serializers.ListField(child=serializers.CharField())


class EntitlementsOutput(serializers.Serializer):
    tier = serializers.CharField()
    tier_name = serializers.CharField()
    max_members = serializers.IntegerField(allow_null=True)
    max_workspaces = serializers.IntegerField(allow_null=True)
    roles = serializers.CharField()
    run_retention_days = serializers.IntegerField()
    audit_trail = serializers.BooleanField()
    audit_retention_days = serializers.IntegerField()
    rate_limit_api_per_minute = serializers.IntegerField()
    rate_limit_logs_events_per_minute = serializers.IntegerField()
    usage = serializers.DictField(child=serializers.IntegerField())


class CardOutput(serializers.Serializer):
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()


class InvoiceOutput(serializers.Serializer):
    id = serializers.CharField()
    created = serializers.DateTimeField(allow_null=True)
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.CharField()


class UpcomingInvoiceOutput(serializers.Serializer):
    date = serializers.DateTimeField(allow_null=True)
    amount_cents = serializers.IntegerField()
    currency = serializers.CharField()


class BillingOutput(serializers.Serializer):
    tier = serializers.CharField()
    tier_name = serializers.CharField()
    status = serializers.CharField()
    seats = serializers.IntegerField()
    current_period_end = serializers.DateTimeField(allow_null=True)
    cancel_at_period_end = serializers.BooleanField()
    grace_until = serializers.DateTimeField(allow_null=True)
    operator_managed = serializers.BooleanField()
    card = CardOutput(allow_null=True)
    upcoming_invoice = UpcomingInvoiceOutput(allow_null=True)
    invoices = InvoiceOutput(many=True)
