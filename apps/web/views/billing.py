"""The organization's Billing page (Owners): compare the tiers of the catalog, buy one with a card entered
in Stripe.js, change or cancel it; and its Usage page (Owners and Admins): seats, workspaces and API
rate-limit buckets against the tier's limits.

The card never reaches us: the page asks for a SetupIntent (`billing-setup`), Stripe.js confirms it with
the card straight at Stripe, and the form posts only the resulting `pm_…` id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.http import JsonResponse
from django.shortcuts import redirect, render

from apps.billing import selectors as billing_selectors
from apps.billing import services as billing_services
from apps.billing.errors import PaymentProviderError
from apps.billing.models import SubscriptionStatus
from apps.core.errors import DomainError
from apps.ratelimit.selectors import organization_usage as ratelimit_usage
from apps.web.pages import OrganizationPageView
from apps.web.templatetags.web_billing import money

OWN = "organization:own"
MANAGE = "organization:manage"
LIVE = ("active", "trialing", "past_due")
BUCKET_LABELS = {"api": "API requests", "logs_events": "Log lines and events"}


def _count(value) -> str:
    return "Unlimited" if value is None else intcomma(value)


def _price(plan) -> str:
    if plan.purchasable:
        return f"{money(plan.price_per_seat_cents, plan.currency)} per seat per month"
    return "Free" if plan.price_per_seat_cents == 0 and plan.position == 0 else "By agreement"


def comparison_rows(plans) -> list[dict]:
    """The comparison table, one row per limit or feature, every value read from the catalog's rows."""
    def audit(plan):
        return f"Included, kept {plan.audit_retention_days} days" if plan.audit_trail else "Not included"

    rows = [
        ("Price", _price),
        ("Seats (members)", lambda p: _count(p.max_members)),
        ("Workspaces", lambda p: _count(p.max_workspaces)),
        ("Workspace roles", lambda p: p.get_roles_display()),
        ("Run history kept", lambda p: f"{p.run_retention_days} days"),
        ("Audit trail", audit),
        ("API requests per minute", lambda p: intcomma(p.rate_limit_api_per_minute)),
        ("Log lines and events per minute", lambda p: intcomma(p.rate_limit_logs_events_per_minute)),
    ]
    table = [{"label": label, "values": [value(p) for p in plans]} for label, value in rows]
    table.append({"label": "Features", "lists": [list(p.features) for p in plans]})
    return table


LIMITS = (("max_members", "Seats (members and pending invitations)"), ("max_workspaces", "Workspaces"))


def limit_rows(organization, usage: dict[str, int] | None = None) -> list[dict]:
    """Seats and workspaces in use against the tier's limits; `over` when a downgrade left more than allowed."""
    entitlements = billing_selectors.organization_entitlements(organization)
    usage = usage if usage is not None else billing_selectors.organization_usage(organization=organization)
    rows = []
    for key, label in LIMITS:
        allowed = getattr(entitlements, key)
        used = usage[key]
        rows.append({"key": key, "label": label, "used": used, "allowed": allowed,
                     "over": allowed is not None and used > allowed,
                     "full": allowed is not None and used >= allowed})
    return rows


def _over_after(plan, usage: dict[str, int]) -> list[str]:
    """What a move to `plan` would leave over its limits (kept, but nothing more of it can be added)."""
    return [f"{label}: {usage[key]} in use, {plan.name} allows {getattr(plan, key)}"
            for key, label in LIMITS if getattr(plan, key) is not None and usage[key] > getattr(plan, key)]


def _render(request, *, error: DomainError | None = None, status: int = 200):
    organization = request.organization
    plans = list(billing_selectors.plan_list())
    usage = billing_selectors.organization_usage(organization=organization)
    overview = None
    provider_error = None
    try:
        overview = billing_selectors.billing_overview(organization=organization)
    except PaymentProviderError as exc:
        provider_error = exc.detail
    live = overview is not None and overview.status in LIVE
    current_plan = overview.plan if live else None
    members = overview.seats if overview else billing_selectors.organization_member_count(organization=organization)
    seats = max(1, members)
    wanted = request.GET.get("tier", "")
    context = {
        "organization": organization,
        "plans": plans,
        "comparison": comparison_rows(plans),
        "tier": organization.tier,
        "overview": overview,
        "live": live,
        "status_label": SubscriptionStatus(overview.status).label if overview else "",
        "current_plan": current_plan,
        "seats": seats,
        # Tiers one can buy or move to, each with what it would cost for the seats in use now.
        "offers": [
            {"plan": p, "monthly": money(p.price_per_seat_cents * seats, p.currency),
             "upgrade": current_plan is None or p.position > current_plan.position, "over": _over_after(p, usage)}
            for p in plans if p.purchasable and (current_plan is None or p.pk != current_plan.pk)
        ],
        "wanted_tier": wanted if any(p.slug == wanted and p.purchasable for p in plans) else "",
        # Arrived from an upgrade prompt naming a tier that is not sold here (Enterprise).
        "wanted_arranged": next((p for p in plans if p.slug == wanted and not p.purchasable and p.position > 0), None),
        "limits": limit_rows(organization, usage),
        "error": error,
        "provider_error": provider_error,
        # Paid tiers need Stripe keys and the catalog's plans in Stripe (manage.py billing_sync_stripe);
        # without them (the embedded quick start) the page says so instead of showing a card form.
        "stripe_ready": bool(settings.STRIPE_PUBLISHABLE_KEY and settings.STRIPE_API_KEY)
        and all(p.stripe_price_id for p in plans if p.purchasable),
        "stripe_js_url": settings.STRIPE_JS_URL,
        "stripe_publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
        # One key per rendered form: a double submit (or a retry after a timeout) cannot buy twice.
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "web/billing.html", context, status=status)


def _done(request, org, text: str):
    messages.success(request, text)
    return redirect("web:billing", org=org)


class BillingView(OrganizationPageView):
    required_permissions = {"GET": OWN}

    def get(self, request, org):
        return _render(request)


class BillingSetupView(OrganizationPageView):
    """POST → {"client_secret": …} of a new SetupIntent, for Stripe.js to confirm with the card."""

    required_permissions = {"POST": OWN}

    def post(self, request, org):
        try:
            secret = billing_services.payment_setup_start(organization=request.organization, actor=request.user)
        except DomainError as error:
            return JsonResponse({"detail": error.detail, "code": error.code}, status=error.status_code)
        return JsonResponse({"client_secret": secret})


class BillingSubscribeView(OrganizationPageView):
    """Buy a tier (with a card's pm_ id), or move the live subscription to another tier (prorated)."""

    required_permissions = {"POST": OWN}

    def post(self, request, org):
        organization = request.organization
        before = organization.tier
        try:
            billing_services.subscription_buy(
                organization=organization, actor=request.user, tier=request.POST.get("tier", ""),
                payment_method_id=request.POST.get("payment_method_id") or None,
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        name = billing_selectors.organization_entitlements(organization).tier_name
        verb = "Welcome to" if before == "free" else "Your organization is now on"
        return _done(request, org, f"{verb} {name}. The new limits apply now.")


class BillingCancelView(OrganizationPageView):
    required_permissions = {"POST": OWN}

    def post(self, request, org):
        try:
            row = billing_services.subscription_cancel(organization=request.organization, actor=request.user,
                                                       idempotency_key=request.POST.get("idempotency_key") or None)
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        when = row.current_period_end.strftime("%Y-%m-%d") if row.current_period_end else "the end of the period"
        return _done(request, org, f"The subscription ends on {when}; the organization then returns to Free.")


class BillingResumeView(OrganizationPageView):
    required_permissions = {"POST": OWN}

    def post(self, request, org):
        try:
            billing_services.subscription_resume(organization=request.organization, actor=request.user,
                                                 idempotency_key=request.POST.get("idempotency_key") or None)
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        return _done(request, org, "The subscription continues: it renews at the end of the period.")


class BillingCardView(OrganizationPageView):
    required_permissions = {"POST": OWN}

    def post(self, request, org):
        try:
            billing_services.payment_method_update(
                organization=request.organization, actor=request.user,
                payment_method_id=request.POST.get("payment_method_id", ""),
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
        except DomainError as error:
            return _render(request, error=error, status=error.status_code)
        return _done(request, org, "The new card is on file: the next invoices are charged to it.")


class UsageView(OrganizationPageView):
    """Owners and Admins: the organization's API usage per rate-limit bucket now and over the last hour,
    and its seats and workspaces, against the tier's limits."""

    required_permissions = {"GET": MANAGE}

    def get(self, request, org):
        organization = request.organization
        buckets = []
        for usage in ratelimit_usage(organization=organization):
            active = [{"at": datetime.fromtimestamp(m.minute * 60, tz=UTC), "allowed": m.allowed, "denied": m.denied}
                      for m in reversed(usage.minutes) if m.allowed or m.denied]
            buckets.append({"usage": usage, "label": BUCKET_LABELS.get(usage.bucket, usage.bucket),
                            "peak": max((m.allowed + m.denied for m in usage.minutes), default=0),
                            "active_minutes": active})
        return render(request, "web/usage.html", {
            "organization": organization,
            "tier_name": billing_selectors.organization_entitlements(organization).tier_name,
            "buckets": buckets,
            "limits": limit_rows(organization),
            "is_owner": request.access.has(OWN),
        })
