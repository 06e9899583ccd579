"""Billing routes: the API under /api/accounts/{account_id}/, and Stripe's webhook at /webhooks/stripe
(outside /api/: Stripe authenticates by signature, and its deliveries are not an organization's API traffic)."""

from django.urls import path

from apps.billing.api import views

account_urlpatterns = [
    path("plans", views.PlanListView.as_view(), name="billing-plans"),
    path("entitlements", views.EntitlementsView.as_view(), name="billing-entitlements"),
    path("billing", views.BillingView.as_view(), name="billing"),
    path("billing/subscription", views.SubscriptionView.as_view(), name="billing-subscription"),
    path("billing/subscription/cancel", views.SubscriptionCancelView.as_view(), name="billing-cancel"),
    path("billing/subscription/resume", views.SubscriptionResumeView.as_view(), name="billing-resume"),
    path("billing/payment_method", views.PaymentMethodView.as_view(), name="billing-payment-method"),
]

webhook_urlpatterns = [
    path("stripe", views.stripe_webhook, name="billing-stripe-webhook"),
]
