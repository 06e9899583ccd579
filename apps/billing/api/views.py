"""Billing API: catalog, entitlements and usage, the subscription (Owners), and the Stripe webhook."""

from __future__ import annotations

from dataclasses import asdict

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.billing import selectors, services
from apps.billing.api.serializers import (
    BillingOutput,
    EntitlementsOutput,
    IdempotencyInput,
    PaymentMethodInput,
    PlanOutput,
    SubscriptionBuyInput,
)
from apps.billing.errors import BadWebhookSignature, PaymentProviderError
from apps.core.api.views import AccountAPIView

READ = "organization:read"
OWN = "organization:own"


def _billing_response(organization, status: int = 200) -> Response:
    overview = selectors.billing_overview(organization=organization)
    data = BillingOutput({
        **{k: v for k, v in asdict(overview).items() if k not in ("card", "upcoming_invoice", "invoices", "plan")},
        "card": asdict(overview.card) if overview.card else None,
        "upcoming_invoice": asdict(overview.upcoming_invoice) if overview.upcoming_invoice else None,
        "invoices": [asdict(i) for i in overview.invoices],
    }).data
    return Response(data, status=status)


class PlanListView(AccountAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=PlanOutput(many=True))
    def get(self, request, account_id):
        return Response(PlanOutput(selectors.plan_list(), many=True).data)


class EntitlementsView(AccountAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=EntitlementsOutput)
    def get(self, request, account_id):
        entitlements = selectors.organization_entitlements(self.organization)
        usage = selectors.organization_usage(organization=self.organization)
        return Response(EntitlementsOutput({**asdict(entitlements), "usage": usage}).data)


class BillingView(AccountAPIView):
    required_permissions = {"GET": OWN}

    @extend_schema(responses=BillingOutput)
    def get(self, request, account_id):
        return _billing_response(self.organization)


class SubscriptionView(AccountAPIView):
    """PUT {tier, payment_method_id?}: buy a tier, or move a live subscription to another (prorated)."""

    required_permissions = {"PUT": OWN}

    @extend_schema(request=SubscriptionBuyInput, responses=BillingOutput)
    def put(self, request, account_id):
        data = SubscriptionBuyInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.subscription_buy(organization=self.organization, actor=request.user, **data.validated_data)
        return _billing_response(self.organization)


class SubscriptionCancelView(AccountAPIView):
    required_permissions = {"POST": OWN}

    @extend_schema(request=IdempotencyInput, responses=BillingOutput)
    def post(self, request, account_id):
        data = IdempotencyInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.subscription_cancel(organization=self.organization, actor=request.user, **data.validated_data)
        return _billing_response(self.organization)


class SubscriptionResumeView(AccountAPIView):
    required_permissions = {"POST": OWN}

    @extend_schema(request=IdempotencyInput, responses=BillingOutput)
    def post(self, request, account_id):
        data = IdempotencyInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.subscription_resume(organization=self.organization, actor=request.user, **data.validated_data)
        return _billing_response(self.organization)


class PaymentMethodView(AccountAPIView):
    required_permissions = {"PUT": OWN}

    @extend_schema(request=PaymentMethodInput, responses=BillingOutput)
    def put(self, request, account_id):
        data = PaymentMethodInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.payment_method_update(organization=self.organization, actor=request.user, **data.validated_data)
        return _billing_response(self.organization)


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's deliveries: no session or key; the Stripe-Signature header is the authentication."""
    try:
        outcome = services.stripe_event_receive(payload=request.body,
                                                signature=request.headers.get("Stripe-Signature", ""))
    except BadWebhookSignature as exc:
        return JsonResponse({"detail": exc.detail, "code": exc.code}, status=400)
    except PaymentProviderError as exc:
        # Not stored: Stripe redelivers later.
        return JsonResponse({"detail": exc.detail, "code": exc.code}, status=503)
    return JsonResponse({"received": True, "outcome": outcome})
