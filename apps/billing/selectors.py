"""Reads for billing: the tier catalog, an organization's entitlements (cached), usage and subscription.

`organization_entitlements(organization)` is on every API request (the rate limiter reads its
limits), so it costs no query on a cache hit and one on a miss. The cache key carries the
organization's current tier, so a tier change is seen at once in every process; catalog or
override edits delete the keys they affect (`entitlements_invalidate`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet, Subquery
from django.utils import timezone

from apps.billing.catalog import DEFAULT_TIERS
from apps.billing.models import Plan, Subscription
from apps.organizations.models import Invitation, Membership
from apps.workspaces.models import Workspace

ENTITLEMENTS_TTL_SECONDS = 300
_CACHE_VERSION = 1

# Limits an operator may override per organization (Subscription.limit_overrides).
OVERRIDABLE = (
    "max_members",
    "max_workspaces",
    "roles",
    "run_retention_days",
    "audit_trail",
    "audit_retention_days",
    "rate_limit_api_per_minute",
    "rate_limit_logs_events_per_minute",
)


@dataclass(frozen=True)
class Entitlements:
    """What an organization's tier allows. `None` for a count limit means unlimited."""

    tier: str
    tier_name: str
    max_members: int | None
    max_workspaces: int | None
    roles: str  # "none" | "system" | "custom"
    run_retention_days: int
    audit_trail: bool
    audit_retention_days: int
    rate_limit_api_per_minute: int
    rate_limit_logs_events_per_minute: int

    @property
    def workspace_roles(self) -> bool:
        return self.roles in ("system", "custom")

    @property
    def custom_roles(self) -> bool:
        return self.roles == "custom"


def _cache_key(organization_id, tier: str) -> str:
    prefix = getattr(settings, "PRAETOR_REDIS_PREFIX", "praetor:")
    return f"{prefix}billing:entitlements:v{_CACHE_VERSION}:{organization_id}:{tier}"


def entitlements_from_plan(plan: Plan, overrides: dict | None = None) -> Entitlements:
    values = {f.name: getattr(plan, f.name) for f in fields(Entitlements) if f.name not in ("tier", "tier_name")}
    for name, value in (overrides or {}).items():
        if name in OVERRIDABLE:
            values[name] = value
    return Entitlements(tier=plan.slug, tier_name=plan.name, **values)


def organization_entitlements(organization) -> Entitlements:
    """The limits and features in force for `organization` (its `tier`, plus operator overrides).

    At most one query (plan row and this organization's overrides in one statement); cached.
    """
    key = _cache_key(organization.pk, organization.tier)
    cached = cache.get(key)
    if cached is not None:
        return cached
    overrides = Subscription.all_organizations.filter(organization_id=organization.pk).values("limit_overrides")[:1]
    plan = Plan.objects.annotate(overrides=Subquery(overrides)).filter(slug=organization.tier).first()
    if plan is None:
        # The tier's row is missing (an operator deleted it, or a test flushed the table): use the
        # seeded defaults for that tier, or Free's for an unknown one, rather than fail every request.
        defaults = {tier["slug"]: tier for tier in DEFAULT_TIERS}
        plan = Plan(**defaults.get(organization.tier, defaults["free"]))
        plan.overrides = (Subscription.all_organizations.filter(organization_id=organization.pk)
                          .values_list("limit_overrides", flat=True).first())
    entitlements = entitlements_from_plan(plan, plan.overrides)
    cache.set(key, entitlements, ENTITLEMENTS_TTL_SECONDS)
    return entitlements


def entitlements_invalidate(*, organization_ids, tiers=None) -> None:
    """Forget cached entitlements of these organizations (for every tier, unless `tiers` is given)."""
    tiers = tiers or [p for p in Plan.objects.values_list("slug", flat=True)]
    cache.delete_many([_cache_key(org_id, tier) for org_id in organization_ids for tier in tiers])


def plan_list() -> QuerySet[Plan]:
    """The catalog, lowest tier first."""
    return Plan.objects.order_by("position")


def plan_get(*, slug: str) -> Plan | None:
    return Plan.objects.filter(slug=slug).first()


def plan_lifting(*, predicate) -> Plan | None:
    """The lowest tier of the catalog whose entitlements satisfy `predicate`, or None."""
    for plan in plan_list():
        if predicate(entitlements_from_plan(plan)):
            return plan
    return None


def subscription_get(*, organization) -> Subscription | None:
    return Subscription.objects.for_organization(organization).select_related("plan").first()


def organization_seats_used(*, organization) -> int:
    """Seats in use: members plus pending, unexpired invitations (an invitation holds a seat)."""
    members = Membership.objects.for_organization(organization).count()
    pending = (
        Invitation.objects.for_organization(organization)
        .filter(status=Invitation.Status.PENDING, expires_at__gt=timezone.now())
        .count()
    )
    return members + pending


def organization_member_count(*, organization) -> int:
    return Membership.objects.for_organization(organization).count()


def organization_workspace_count(*, organization) -> int:
    return Workspace.objects.for_organization(organization).count()


def organization_usage(*, organization) -> dict[str, int]:
    return {
        "max_members": organization_seats_used(organization=organization),
        "max_workspaces": organization_workspace_count(organization=organization),
    }


def organizations_with_subscription_ids() -> QuerySet[Subscription]:
    """Every subscription known to Stripe (sweep: spans organizations on purpose)."""
    return Subscription.all_organizations.exclude(stripe_subscription_id="").order_by("pk")



@dataclass(frozen=True)
class BillingOverview:
    """What the Billing page and GET …/billing show: the tier in force and the Stripe side of it."""

    tier: str
    tier_name: str
    status: str
    seats: int
    current_period_end: object
    cancel_at_period_end: bool
    grace_until: object
    operator_managed: bool
    card: object
    upcoming_invoice: object
    invoices: list
    plan: Plan | None


def billing_overview(*, organization) -> BillingOverview:
    """The organization's billing state; card, next invoice and past invoices are read from Stripe."""
    from apps.billing import stripe_gateway as gateway

    entitlements = organization_entitlements(organization)
    row = subscription_get(organization=organization)
    card = upcoming = None
    invoices: list = []
    if row is not None and row.stripe_customer_id:
        card = gateway.default_card(row.stripe_customer_id)
        invoices = gateway.invoices_of_customer(row.stripe_customer_id)
        live = row.status in ("active", "trialing", "past_due")
        if live and row.stripe_subscription_id and not row.cancel_at_period_end:
            upcoming = gateway.upcoming_invoice(customer_id=row.stripe_customer_id,
                                                subscription_id=row.stripe_subscription_id)
    return BillingOverview(
        tier=entitlements.tier,
        tier_name=entitlements.tier_name,
        status=row.status if row else "none",
        seats=row.quantity if row and row.status != "none" else organization_member_count(organization=organization),
        current_period_end=row.current_period_end if row else None,
        cancel_at_period_end=bool(row and row.cancel_at_period_end),
        grace_until=row.grace_until if row else None,
        operator_managed=bool(row and row.operator_managed),
        card=card,
        upcoming_invoice=upcoming,
        invoices=invoices,
        plan=row.plan if row else None,
    )
