"""Over the limit after a downgrade: which workspaces and members become read-only, and the refusal the
request path raises for their writes.

`organization_limits_apply` decides and writes the denormalised flags (`Workspace.read_only`,
`Membership.read_only`); every change of tier, workspaces or members calls it, in the same transaction.
The request path then only reads columns it loads anyway (`read_only_check`), so being under the limits
costs nothing per request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, IntegerField, Value, When

from apps.access.catalog import READ_KEYS
from apps.audit.services import audit_record
from apps.billing.catalog import LIMIT_LABELS, Limit
from apps.billing.selectors import (
    organization_entitlements,
    organization_member_count,
    organization_workspace_count,
    plan_lifting,
)
from apps.core import authcache
from apps.core.errors import LimitExceeded
from apps.organizations.models import Membership, Organization, OrganizationRole
from apps.workspaces.models import Workspace

# What a read-only workspace (or a read-only member) may still do besides reading: reveal a block's
# secrets (a read through POST) and cancel runs (stops work, never starts any).
READ_ONLY_STILL_ALLOWED = READ_KEYS | {"blocks:read_secrets", "flow_runs:cancel"}


@dataclass(frozen=True)
class LimitsApplied:
    """The outcome of `organization_limits_apply`: who is read-only now, and whether anything changed."""

    read_only_workspace_ids: frozenset
    read_only_membership_ids: frozenset
    changed: bool


def organization_lock(*, organization) -> None:
    """Lock the organization's row. Changes that can move an organization across a limit take it before
    locking any of its other rows, so they and `organization_limits_apply` (which updates workspace and
    membership rows under it) always lock in the same order and cannot deadlock."""
    Organization.objects.select_for_update().filter(pk=getattr(organization, "pk", organization)).values_list(
        "pk").first()


def _beyond(ordered_ids: list, allowed: int | None) -> list:
    return [] if allowed is None else ordered_ids[allowed:]


@transaction.atomic
def organization_limits_apply(*, organization, actor=None) -> LimitsApplied:
    """Make what is over the tier's limits read-only, and everything else writable again. Idempotent.

    - Workspaces: the oldest `max_workspaces` (by creation, then id) stay writable; the ones created
      last are read-only. Deleting one, or a higher tier, lifts the flag at once.
    - Members: `max_members` seats are kept by join order, Owners first (an Owner is never read-only:
      Owners are who brings the organization back under); the members who joined last are read-only.
      Pending invitations hold seats for `entitlement_check` but never make an existing member read-only.
    Locks the organization row first, so concurrent changes of one organization apply one after another.
    Records `praetor.organization.limits_applied` only when a flag changed.
    """
    organization_id = getattr(organization, "pk", organization)
    organization = Organization.objects.select_for_update().get(pk=organization_id)
    entitlements = organization_entitlements(organization)

    workspaces = Workspace.objects.for_organization(organization)
    workspace_ids = list(workspaces.order_by("created", "id").values_list("id", flat=True))
    over_workspaces = _beyond(workspace_ids, entitlements.max_workspaces)

    memberships = Membership.objects.for_organization(organization)
    owners_first = Case(When(role=OrganizationRole.OWNER, then=Value(0)), default=Value(1),
                        output_field=IntegerField())
    members = list(memberships.annotate(rank=owners_first).order_by("rank", "created", "id")
                   .values_list("id", "role"))
    over_members = [pk for pk, role in _beyond(members, entitlements.max_members)
                    if role != OrganizationRole.OWNER]

    changed = 0
    changed += workspaces.filter(pk__in=over_workspaces, read_only=False).update(read_only=True)
    changed += workspaces.filter(read_only=True).exclude(pk__in=over_workspaces).update(read_only=False)
    changed += memberships.filter(pk__in=over_members, read_only=False).update(read_only=True)
    changed += memberships.filter(read_only=True).exclude(pk__in=over_members).update(read_only=False)
    if changed:
        authcache.access_changed()  # the flags ride on the cached workspace and access (apps/core/authcache.py)
        handles = list(workspaces.filter(pk__in=over_workspaces).order_by("handle").values_list("handle", flat=True))
        emails = list(memberships.filter(pk__in=over_members).order_by("user__email")
                      .values_list("user__email", flat=True))
        audit_record(action="praetor.organization.limits_applied", actor=actor, organization_id=organization.pk,
                     target=organization, target_type="organization",
                     details={"tier": entitlements.tier, "read_only_workspaces": handles,
                              "read_only_members": emails})
    return LimitsApplied(frozenset(over_workspaces), frozenset(over_members), bool(changed))


def organization_workspaces_changed(*, organization, actor=None) -> LimitsApplied:
    """Called by the workspace services after a workspace is created or deleted (same transaction)."""
    return organization_limits_apply(organization=organization, actor=actor)


def _over_limit_error(*, organization, limit: Limit, what: str, remedy: str) -> LimitExceeded:
    """The 402 for a write refused because `limit` is exceeded (a query or two: refusals only)."""
    entitlements = organization_entitlements(organization)
    allowed = getattr(entitlements, limit.value)
    used = (organization_workspace_count if limit == Limit.MAX_WORKSPACES else organization_member_count)(
        organization=organization)
    singular, plural = LIMIT_LABELS[limit]
    lifting = plan_lifting(predicate=lambda e: getattr(e, limit.value) is None or getattr(e, limit.value) >= used)
    detail = (
        f"{what} is read-only: the {entitlements.tier_name} tier allows {allowed} "
        f"{singular if allowed == 1 else plural} and this organization has {used}. "
        + (f"{remedy} or upgrade to {lifting.name} to make it writable again." if lifting
           else f"{remedy} to make it writable again.")
    )
    return LimitExceeded(detail, code="workspace_read_only" if limit == Limit.MAX_WORKSPACES else "member_read_only",
                         extra={"limit": limit.value, "tier": entitlements.tier, "allowed": allowed, "used": used,
                                "upgrade_tier": lifting.slug if lifting else None})


def read_only_reason(*, workspace, access) -> LimitExceeded | None:
    """Why this workspace is read-only for this caller (the workspace is over the workspace limit, or the
    caller's membership is over the seat limit), as the error a write would get; None when writable.
    Free unless read-only: it reads flags already loaded with the workspace and the caller's access."""
    if workspace is not None and workspace.read_only:
        return _over_limit_error(organization=workspace.organization, limit=Limit.MAX_WORKSPACES,
                                 what=f"The workspace {workspace.name}",
                                 remedy="An Owner or Admin can delete workspaces")
    if workspace is not None and access is not None and getattr(access, "read_only", False):
        return _over_limit_error(organization=workspace.organization, limit=Limit.MAX_MEMBERS,
                                 what="Your membership of this organization",
                                 remedy="An Owner can remove members")
    return None


def read_only_check(*, workspace, access, permission: str | None,
                    work_under_way: Callable[[], bool] | bool = False) -> None:
    """Refuse (LimitExceeded, 402) a write to a read-only workspace, or by a read-only member.

    Reads (including Prefect's read-only POSTs: `…/filter`, `…/count`, `…/history`, `…/paginate`, which
    declare a read permission), revealing block secrets and cancelling runs stay allowed. `work_under_way`
    (a bool, or a callable asked only when the workspace or member is read-only) marks the requests that
    let runs already under way finish (their states, task runs, logs, events, artifacts, concurrency
    slots, anonymous result-storage blocks, worker polls and heartbeats): those stay allowed too.
    Costs nothing on a writable workspace: two attribute reads.
    """
    if not (workspace.read_only or getattr(access, "read_only", False)):
        return
    if permission is None or permission in READ_ONLY_STILL_ALLOWED:
        return
    if work_under_way() if callable(work_under_way) else work_under_way:
        return
    raise read_only_reason(workspace=workspace, access=access)
