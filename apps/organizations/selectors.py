"""Reads for organizations: memberships, invitations, teams and service accounts, each scoped to one
organization. Lists batch their related rows (one query per relation, never per row)."""

from __future__ import annotations

import hashlib
import uuid

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from apps.access.selectors import Access, organization_access
from apps.core.errors import NotFound, PermissionDenied
from apps.identity.models import ApiKey, User
from apps.organizations.models import Invitation, Membership, Organization, ServiceAccount, Team


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def organization_authorize(*, actor, organization, permission: str) -> Access | None:
    """Raise unless `actor` holds `permission` in the organization; `actor=None` is the system.

    The one place services check organization-level rights (the API views check the same declared
    permission first; the browser pages rely on this). A non-member gets NotFound, as in the API.
    """
    if actor is None:
        return None
    access = organization_access(actor, getattr(organization, "pk", organization))
    if not access.is_member:
        raise NotFound("Account not found.")
    if not access.has(permission):
        raise PermissionDenied(f"Missing permission: {permission}.", code="missing_permission",
                               extra={"permission": permission})
    return access


def organization_get(*, organization_id) -> Organization:
    org_id = _uuid_or_none(organization_id)
    organization = Organization.objects.filter(pk=org_id).first() if org_id else None
    if organization is None:
        raise NotFound("Account not found.")
    return organization


def organization_list_for_user(*, user) -> QuerySet[Organization]:
    return Organization.objects.filter(
        pk__in=Membership.all_organizations.filter(user=user).values("organization_id")
    ).order_by("name")


def membership_get(*, organization, user) -> Membership | None:
    return Membership.objects.for_organization(organization).filter(user=user).first()


def membership_list(*, organization, emails: list[str] | None = None, roles: list[str] | None = None
                    ) -> QuerySet[Membership]:
    """Members with their user, ordered by email."""
    qs = Membership.objects.for_organization(organization).select_related("user")
    if emails is not None:
        qs = qs.filter(user__email__in=[e.strip().lower() for e in emails])
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.order_by("user__email")


def membership_get_by_id(*, organization, membership_id) -> Membership:
    mid = _uuid_or_none(membership_id)
    membership = (
        Membership.objects.for_organization(organization).select_related("user").filter(pk=mid).first()
        if mid else None
    )
    if membership is None:
        raise NotFound("Membership not found.")
    return membership


def invitation_list(*, organization, statuses: list[str] | None = None) -> QuerySet[Invitation]:
    """Invitations, newest first, with who sent them."""
    qs = Invitation.objects.for_organization(organization).select_related("invited_by")
    if statuses is not None:
        qs = qs.filter(status__in=statuses)
    return qs.order_by("-created")


def invitation_get(*, organization, invitation_id) -> Invitation:
    iid = _uuid_or_none(invitation_id)
    invitation = Invitation.objects.for_organization(organization).filter(pk=iid).first() if iid else None
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def invitation_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_get_by_token(*, token: str) -> Invitation:
    """The invitation a link's token names, with its organization; NotFound for an unknown token.

    Tokens are global (the link does not name the organization), hence the named cross-tenant manager.
    """
    if not isinstance(token, str) or not token or len(token) > 128:
        raise NotFound("This invitation link is not valid.", code="invitation_invalid")
    invitation = (
        Invitation.all_organizations.select_related("organization", "invited_by")
        .filter(token_digest=invitation_token_digest(token))
        .first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid.", code="invitation_invalid")
    return invitation


def invitation_list_for_user(*, user) -> QuerySet[Invitation]:
    """Pending, unexpired invitations addressed to this user's email, in any organization (the invitee's
    own view, hence the named cross-tenant manager); newest first. Service accounts have none."""
    if not isinstance(user, User):
        return Invitation.all_organizations.none()
    return (
        Invitation.all_organizations.select_related("organization", "invited_by")
        .filter(email__iexact=user.email, status=Invitation.Status.PENDING, expires_at__gt=timezone.now())
        .order_by("-created")
    )


def invitation_get_for_user(*, user, invitation_id) -> Invitation:
    """One invitation addressed to this user's email (any status); anyone else's is NotFound."""
    iid = _uuid_or_none(invitation_id)
    invitation = None
    if iid is not None and isinstance(user, User):
        invitation = (
            Invitation.all_organizations.select_related("organization", "invited_by")
            .filter(pk=iid, email__iexact=user.email)
            .first()
        )
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def service_account_key_list(*, service_account) -> QuerySet[ApiKey]:
    """Every key of the service account, revoked and expired ones included, newest first."""
    return ApiKey.objects.filter(service_account=service_account).order_by("-created")


def _team_members_prefetch() -> Prefetch:
    return Prefetch("members", queryset=User.objects.order_by("email"))


def team_list(*, organization, names: list[str] | None = None) -> QuerySet[Team]:
    """Teams ordered by name, each with its members (one extra query for all teams)."""
    qs = Team.objects.for_organization(organization).prefetch_related(_team_members_prefetch())
    if names is not None:
        qs = qs.filter(name__in=names)
    return qs.annotate(member_count=Count("memberships")).order_by("name")


def team_get(*, organization, team_id) -> Team:
    tid = _uuid_or_none(team_id)
    team = (
        Team.objects.for_organization(organization).prefetch_related(_team_members_prefetch()).filter(pk=tid).first()
        if tid else None
    )
    if team is None:
        raise NotFound("Team not found.")
    return team


def _current_keys_prefetch() -> Prefetch:
    return Prefetch(
        "api_keys",
        queryset=ApiKey.objects.filter(revoked_at__isnull=True).order_by("-created"),
        to_attr="active_api_keys",
    )


def service_account_list(*, organization) -> QuerySet[ServiceAccount]:
    """Service accounts ordered by name, with their unrevoked keys newest first (`active_api_keys`)."""
    return (
        ServiceAccount.objects.for_organization(organization)
        .prefetch_related(_current_keys_prefetch())
        .order_by("name")
    )


def service_account_get(*, organization, service_account_id) -> ServiceAccount:
    sid = _uuid_or_none(service_account_id)
    bot = service_account_list(organization=organization).filter(pk=sid).first() if sid else None
    if bot is None:
        raise NotFound("Service account not found.")
    return bot


def service_account_current_key(service_account: ServiceAccount) -> ApiKey | None:
    """The newest unrevoked, unexpired key (the one Cloud's bot shape reports), from the prefetch if any."""
    keys = getattr(service_account, "active_api_keys", None)
    if keys is None:
        keys = list(service_account.api_keys.filter(revoked_at__isnull=True).order_by("-created"))
    return next((key for key in keys if key.is_usable()), None)
