"""Operator screens: the tier catalog (limits are data) and each organization's billing state."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.billing import services
from apps.billing.models import Plan, StripeEvent, Subscription


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "purchasable", "price_per_seat_cents", "max_members",
                    "max_workspaces", "roles", "run_retention_days", "rate_limit_api_per_minute",
                    "rate_limit_logs_events_per_minute", "stripe_price_id")
    ordering = ("position",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        services.plan_changed(plan=obj)


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("organization", "plan", "status", "quantity", "current_period_end", "cancel_at_period_end",
                    "operator_managed")
    list_filter = ("status", "operator_managed")
    search_fields = ("organization__handle", "stripe_customer_id", "stripe_subscription_id")
    # Stripe state is read from Stripe; an operator changes only Enterprise, through the actions.
    readonly_fields = ("organization", "plan", "stripe_customer_id", "stripe_subscription_id", "status", "quantity",
                       "current_period_end", "cancel_at_period_end", "past_due_since", "grace_until",
                       "operator_managed")
    fields = (*readonly_fields, "limit_overrides")
    actions = ("make_enterprise", "end_enterprise")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        if obj.operator_managed:
            services.enterprise_set(organization=obj.organization, overrides=obj.limit_overrides, actor=request.user)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Put on Enterprise (operator-managed)")
    def make_enterprise(self, request, queryset):
        for subscription in queryset.select_related("organization"):
            services.enterprise_set(organization=subscription.organization,
                                    overrides=subscription.limit_overrides, actor=request.user)
        self.message_user(request, f"{queryset.count()} organization(s) now on Enterprise.", messages.SUCCESS)

    @admin.action(description="End Enterprise (back to the Stripe tier or Free)")
    def end_enterprise(self, request, queryset):
        for subscription in queryset.select_related("organization"):
            services.enterprise_unset(organization=subscription.organization, actor=request.user)
        self.message_user(request, f"{queryset.count()} organization(s) left Enterprise.", messages.SUCCESS)


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("stripe_id", "type", "created", "processed_at")
    search_fields = ("stripe_id", "type")
    readonly_fields = ("stripe_id", "type", "payload", "processed_at")

    def has_add_permission(self, request):
        return False
