"""Billing writes and rules: entitlement checks other apps call, and tier changes.

Other apps call `entitlement_check(organization=..., feature_or_limit=...)` before an action a tier
may refuse; it raises `LimitExceeded` (HTTP 402) naming the limit and the tier that lifts it.
"""

from __future__ import annotations

from django.db import transaction

from apps.audit.services import audit_record
from apps.billing.catalog import FEATURE_LABELS, LIMIT_LABELS, Feature, Limit, TierSlug
from apps.billing.models import Plan, Subscription
from apps.billing.selectors import (
    OVERRIDABLE,
    entitlements_invalidate,
    organization_entitlements,
    organization_seats_used,
    organization_workspace_count,
    plan_lifting,
)
from apps.billing.services.limits import organization_limits_apply
from apps.core import authcache
from apps.core.errors import Invalid, LimitExceeded
from apps.organizations.models import Organization

_USAGE = {
    Limit.MAX_MEMBERS: organization_seats_used,
    Limit.MAX_WORKSPACES: organization_workspace_count,
}


def entitlement_check(*, organization, feature_or_limit: str, adding: int = 1, current: int | None = None) -> None:
    """Refuse (LimitExceeded, 402) what the organization's tier does not allow.

    - A limit (`"max_members"`, `"max_workspaces"`): refused when `current + adding` would pass the
      tier's value. `current` defaults to the organization's usage now (seats count pending
      invitations). Being over already (after a downgrade) refuses every further add: that is how
      "over the limit is read-only" is enforced: nothing is deleted, nothing more is created.
    - A feature (`"workspace_roles"`, `"custom_roles"`, `"audit_trail"`): refused unless included.
    Anything else is a programming error (ValueError), never silently allowed.
    """
    entitlements = organization_entitlements(organization)
    if feature_or_limit in Limit._value2member_map_:
        limit = Limit(feature_or_limit)
        allowed = getattr(entitlements, limit.value)
        if allowed is None:
            return
        if current is None and transaction.get_connection().in_atomic_block:
            # Serialize adds per organization so two concurrent invitations cannot both take the last seat.
            Organization.objects.select_for_update().filter(pk=organization.pk).values_list("pk").first()
        used = _USAGE[limit](organization=organization) if current is None else current
        if used + adding <= allowed:
            return
        singular, plural = LIMIT_LABELS[limit]
        noun = singular if allowed == 1 else plural
        needed = used + adding
        lifting = plan_lifting(predicate=lambda e: getattr(e, limit.value) is None or getattr(e, limit.value) >= needed)
        detail = (
            f"The {entitlements.tier_name} tier allows {allowed} {noun}; this organization uses {used}. "
            + (f"Upgrade to {lifting.name} to add more." if lifting else "No tier allows more.")
        )
        raise LimitExceeded(
            detail,
            code=f"{limit.value}_exceeded",
            extra={"limit": limit.value, "tier": entitlements.tier, "allowed": allowed, "used": used,
                   "upgrade_tier": lifting.slug if lifting else None},
        )
    if feature_or_limit in Feature._value2member_map_:
        feature = Feature(feature_or_limit)
        if getattr(entitlements, feature.value):
            return
        lifting = plan_lifting(predicate=lambda e: getattr(e, feature.value))
        detail = f"{FEATURE_LABELS[feature]} not included in the {entitlements.tier_name} tier." + (
            f" Upgrade to {lifting.name} to get this feature." if lifting else ""
        )
        raise LimitExceeded(
            detail,
            code=f"{feature.value}_not_included",
            extra={"limit": feature.value, "tier": entitlements.tier,
                   "upgrade_tier": lifting.slug if lifting else None},
        )
    raise ValueError(f"Unknown limit or feature {feature_or_limit!r}.")


def subscription_get_or_create(*, organization) -> Subscription:
    """The organization's billing row, created on first use (locked for update when in a transaction)."""
    subscription, _ = Subscription.objects.for_organization(organization).get_or_create(organization=organization)
    return subscription


@transaction.atomic
def organization_tier_set(*, organization: Organization, tier: str, actor=None, reason: str = "") -> Organization:
    """Put `tier` in force for the organization (the one place `Organization.tier` is written).

    Invalidates cached entitlements. A lower tier deletes nothing: what is over its limits stays,
    further additions are refused by `entitlement_check` until usage is back under, and the workspaces
    and members beyond the limits become read-only (`organization_limits_apply`, here, in the same
    transaction; a higher tier makes them writable again at once).
    """
    authcache.access_changed()
    if not Plan.objects.filter(slug=tier).exists():
        raise Invalid(f"Unknown tier {tier!r}.", loc=["body", "tier"], code="unknown_tier")
    previous = organization.tier
    if previous != tier:
        Organization.objects.filter(pk=organization.pk).update(tier=tier)
        organization.tier = tier
        audit_record(action="praetor.organization.tier_changed", actor=actor, organization_id=organization.pk,
                     target=organization, target_type="organization",
                     details={"tier": tier, "previous_tier": previous, "reason": reason})
    # Forget now and again after commit, so a read racing this transaction cannot keep old values.
    entitlements_invalidate(organization_ids=[organization.pk])
    transaction.on_commit(lambda: entitlements_invalidate(organization_ids=[organization.pk]))
    # Also when the tier is unchanged: an operator's override of a limit arrives this way too.
    organization_limits_apply(organization=organization, actor=actor)
    return organization


@transaction.atomic
def enterprise_set(*, organization: Organization, overrides: dict | None = None, actor=None) -> Subscription:
    """Operator action: put the organization on Enterprise, with optional per-organization limits.

    Stripe never changes an operator-managed organization's tier (webhooks and reconcile skip it).
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise Invalid(f"Unknown limits: {', '.join(unknown)}.", loc=["body", "overrides"], code="unknown_limit")
    subscription = subscription_get_or_create(organization=organization)
    subscription.operator_managed = True
    subscription.limit_overrides = overrides
    subscription.save(update_fields=["operator_managed", "limit_overrides", "updated"])
    organization_tier_set(organization=organization, tier=TierSlug.ENTERPRISE, actor=actor, reason="operator")
    return subscription


@transaction.atomic
def enterprise_unset(*, organization: Organization, actor=None) -> Subscription:
    """Operator action: end Enterprise; the organization returns to Free (or its paid Stripe tier)."""
    subscription = subscription_get_or_create(organization=organization)
    subscription.operator_managed = False
    subscription.limit_overrides = {}
    subscription.save(update_fields=["operator_managed", "limit_overrides", "updated"])
    # `plan` is the Stripe-bought plan; it applies again if its subscription is still live.
    live = subscription.status in ("active", "trialing", "past_due")
    paid = subscription.plan if subscription.plan and live else None
    organization_tier_set(organization=organization, tier=paid.slug if paid else TierSlug.FREE, actor=actor,
                          reason="operator")
    return subscription


def plan_changed(*, plan: Plan) -> None:
    """After a catalog edit: forget cached entitlements of every organization on that tier, and apply
    its (maybe lower or higher) limits to each: one short transaction per organization. A catalog edit
    can change what a role grants (the tier's workspace or custom roles), so cached access is forgotten too
    (after the entitlements, so no request can cache access computed from the old ones)."""
    org_ids = list(Organization.objects.filter(tier=plan.slug).order_by("pk").values_list("pk", flat=True))
    entitlements_invalidate(organization_ids=org_ids, tiers=[plan.slug])
    authcache.access_changed()
    for org_id in org_ids:
        organization_limits_apply(organization=org_id)
