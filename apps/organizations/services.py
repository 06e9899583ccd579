"""Writes for organizations: the organization itself, memberships, invitations, teams and service accounts.

Every service is keyword-only, runs in one transaction, checks the actor's organization permission through
`organization_authorize` (actor=None is the system) and raises domain errors from apps.core.errors.
Side effects (email) run after commit. Billing limits hook in at the start of the create services.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.billing.services import (
    entitlement_check,
    organization_limits_apply,
    organization_lock,
    organization_seats_changed,
)
from apps.core import authcache
from apps.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from apps.core.validators import validate_handle, validate_name
from apps.identity.models import ApiKey, User
from apps.identity.services import api_key_create, api_key_revoke
from apps.organizations.models import (
    Invitation,
    Membership,
    Organization,
    OrganizationRole,
    ServiceAccount,
    Team,
    TeamMembership,
)
from apps.organizations.selectors import (
    invitation_get_by_token,
    invitation_get_for_user,
    invitation_token_digest,
    organization_authorize,
)

READ = "organization:read"
MANAGE = "organization:manage"
OWN = "organization:own"

DESCRIPTION_MAX = 1000
EMAIL_MAX = 254


def _validate_role(role: str, *, field: str = "role") -> str:
    if role not in OrganizationRole.values:
        raise Invalid(f"Unknown role {role!r}: use one of {', '.join(OrganizationRole.values)}.", loc=["body", field])
    return role


def _validate_description(description: str | None) -> str:
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        raise Invalid(f"description is at most {DESCRIPTION_MAX} characters.", loc=["body", "description"])
    return description


def _require_owner_for(*, actor, organization, role: str) -> None:
    """Only Owners may grant (or take away) the Owner role."""
    if role == OrganizationRole.OWNER:
        organization_authorize(actor=actor, organization=organization, permission=OWN)


# --- organizations ---------------------------------------------------------------------------------------


@transaction.atomic
def organization_create(*, name: str, handle: str, owner: User) -> Organization:
    """Create an organization with `owner` as its first Owner. Handles are unique across organizations."""
    name = validate_name(name)
    validate_handle(handle)
    if Organization.objects.filter(handle=handle).exists():
        raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken")
    try:
        with transaction.atomic():
            organization = Organization.objects.create(name=name, handle=handle)
    except IntegrityError:
        raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken") from None
    Membership.objects.for_organization(organization).create(
        organization=organization, user=owner, role=OrganizationRole.OWNER
    )
    audit_record(action="praetor.membership.created", actor=owner, organization_id=organization.pk, target=owner,
                 target_type="user", details={"role": OrganizationRole.OWNER, "via": "organization_created"})
    return organization


@transaction.atomic
def organization_update(*, organization: Organization, actor, name: str | None = None,
                        handle: str | None = None) -> Organization:
    """Rename an organization or change its handle (Owner/Admin). A taken handle is a Conflict."""
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    fields = []
    if name is not None:
        organization.name = validate_name(name)
        fields.append("name")
    if handle is not None and handle != organization.handle:
        validate_handle(handle)
        if Organization.objects.filter(handle=handle).exclude(pk=organization.pk).exists():
            raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken")
        organization.handle = handle
        fields.append("handle")
    if fields:
        try:
            with transaction.atomic():
                organization.save(update_fields=[*fields, "updated"])
        except IntegrityError:
            raise Conflict(f"The handle {handle!r} is taken.", code="handle_taken") from None
        audit_record(action="praetor.organization.updated", actor=actor, organization_id=organization.pk,
                     target=organization, target_type="organization",
                     details={"changed": fields, "name": organization.name, "handle": organization.handle})
    return organization


@transaction.atomic
def organization_delete(*, organization: Organization, actor) -> None:
    """Delete an organization and everything it owns (workspaces and their data, members' access, keys of its
    service accounts). Owners only."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=organization, permission=OWN)
    Organization.objects.filter(pk=organization.pk).delete()
    # The chain is keyed by the organization's id, not a foreign key: its last event outlives it.
    audit_record(action="praetor.organization.deleted", actor=actor, organization_id=organization.pk,
                 target_type="organization", target_id=str(organization.pk), target_label=organization.handle,
                 details={"name": organization.name, "handle": organization.handle})


# --- memberships -----------------------------------------------------------------------------------------


def _lock_owners(organization) -> list[Membership]:
    """Lock the organization's Owner memberships so two concurrent demotions cannot both pass the
    last-Owner check."""
    return list(
        Membership.objects.for_organization(organization)
        .filter(role=OrganizationRole.OWNER)
        .order_by("pk")
        .select_for_update()
    )


def _ensure_an_owner_remains(*, organization, leaving: Membership) -> None:
    owners = _lock_owners(organization)
    if leaving.role == OrganizationRole.OWNER and [m.pk for m in owners] == [leaving.pk]:
        raise Conflict("An organization must keep at least one Owner: make someone else Owner first.",
                       code="last_owner")


@transaction.atomic
def membership_update_role(*, membership: Membership, role: str, actor) -> Membership:
    """Change a member's organization role. Owner/Admin may change roles; only Owners may grant or revoke
    Owner; the organization always keeps at least one Owner."""
    authcache.access_changed()
    _validate_role(role, field="account_role_id")
    organization = membership.organization
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    organization_lock(organization=organization)  # before the membership rows (billing's lock order)
    membership = Membership.objects.for_organization(organization).select_for_update().get(pk=membership.pk)
    if role == membership.role:
        return membership
    if OrganizationRole.OWNER in (role, membership.role):
        _require_owner_for(actor=actor, organization=organization, role=OrganizationRole.OWNER)
    if membership.role == OrganizationRole.OWNER:
        _ensure_an_owner_remains(organization=organization, leaving=membership)
    previous = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated"])
    # Owners keep their seat first: a new Owner may take a seat from the member who joined last.
    organization_limits_apply(organization=organization, actor=actor)
    audit_record(action="praetor.membership.updated", actor=actor, organization_id=organization.pk,
                 target=membership.user, target_type="user", details={"role": role, "previous_role": previous})
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor) -> None:
    """Remove a member (Owner/Admin), or leave the organization oneself. Removing an Owner takes an Owner,
    and the last Owner cannot leave. The member also leaves the organization's teams."""
    authcache.access_changed()
    organization = membership.organization
    is_self = actor is not None and getattr(actor, "actor_type", None) == "user" and actor.pk == membership.user_id
    organization_authorize(actor=actor, organization=organization, permission=READ if is_self else MANAGE)
    organization_lock(organization=organization)  # before the membership rows (billing's lock order)
    membership = Membership.objects.for_organization(organization).select_for_update().filter(pk=membership.pk).first()
    if membership is None:
        raise NotFound("Membership not found.")
    if membership.role == OrganizationRole.OWNER:
        if not is_self:
            _require_owner_for(actor=actor, organization=organization, role=OrganizationRole.OWNER)
        _ensure_an_owner_remains(organization=organization, leaving=membership)
    TeamMembership.objects.filter(team__organization=organization, user_id=membership.user_id).delete()
    membership.delete()
    organization_seats_changed(organization=organization, actor=actor)
    audit_record(action="praetor.membership.deleted", actor=actor, organization_id=organization.pk,
                 target=membership.user, target_type="user", details={"role": membership.role, "left": is_self})


# --- invitations -----------------------------------------------------------------------------------------


def _invitation_ttl() -> timedelta:
    return timedelta(days=getattr(settings, "PRAETOR_INVITATION_TTL_DAYS", 7))


def invitation_link(token: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/invitations/{token}"


def _send_invitation_email(*, organization_name: str, inviter: str, email: str, link: str, expires_at) -> None:
    send_mail(
        subject=f"You are invited to join {organization_name} on Praetor",
        message=(
            f"{inviter} invited you to join the organization {organization_name} on Praetor.\n\n"
            f"Accept or decline the invitation here:\n{link}\n\n"
            f"The link expires on {expires_at:%Y-%m-%d %H:%M} UTC. "
            "If you did not expect this invitation, you can ignore this email."
        ),
        from_email=None,
        recipient_list=[email],
    )


@transaction.atomic
def invitation_create(*, organization: Organization, email: str, role: str = OrganizationRole.MEMBER,
                      actor) -> tuple[Invitation, str]:
    """Invite an email address to the organization; return the invitation and its token (shown once, only a
    digest is kept). The email with the link is sent after commit. Inviting an Owner takes an Owner; an
    address that is already a member, or has a pending invitation, is a Conflict."""
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    _validate_role(role)
    _require_owner_for(actor=actor, organization=organization, role=role)
    email = (email or "").strip().lower() if isinstance(email, str) else ""
    if not email or "@" not in email or len(email) > EMAIL_MAX:
        raise Invalid("Enter a valid email address.", loc=["body", "email"])
    if Membership.objects.for_organization(organization).filter(user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member of this organization.", code="already_member")
    pending = (
        Invitation.objects.for_organization(organization)
        .select_for_update()
        .filter(status=Invitation.Status.PENDING, email__iexact=email)
        .first()
    )
    now = timezone.now()
    if pending is not None:
        if not pending.is_expired:
            raise Conflict(f"{email} already has a pending invitation: revoke it to send a new one.",
                           code="already_invited")
        # An expired invitation gives way to the new one (one pending invitation per address).
        pending.status = Invitation.Status.REVOKED
        pending.responded_at = now
        pending.save(update_fields=["status", "responded_at", "updated"])
    # A pending invitation holds a seat: refuse past the tier's seat limit (402, names the tier that lifts it).
    entitlement_check(organization=organization, feature_or_limit="max_members")
    token = secrets.token_urlsafe(32)
    inviter = actor if isinstance(actor, User) else None
    try:
        with transaction.atomic():
            invitation = Invitation.objects.for_organization(organization).create(
                organization=organization,
                email=email,
                role=role,
                token_digest=invitation_token_digest(token),
                invited_by=inviter,
                expires_at=now + _invitation_ttl(),
            )
    except IntegrityError:
        raise Conflict(f"{email} already has a pending invitation.", code="already_invited") from None
    mail = {
        "organization_name": organization.name,
        "inviter": (inviter.get_full_name() if hasattr(inviter, "get_full_name") else "") or (
            inviter.email if inviter else organization.name),
        "email": email,
        "link": invitation_link(token),
        "expires_at": invitation.expires_at,
    }
    audit_record(action="praetor.invitation.created", actor=actor, organization_id=organization.pk,
                 target_type="invitation", target_id=str(invitation.pk), target_label=email, details={"role": role})
    transaction.on_commit(lambda: _send_invitation_email(**mail))
    return invitation, token


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor) -> Invitation:
    """Revoke a pending invitation; its link stops working. Only pending invitations can be revoked."""
    organization_authorize(actor=actor, organization=invitation.organization_id, permission=MANAGE)
    invitation = Invitation.objects.for_organization(invitation.organization_id).select_for_update().get(
        pk=invitation.pk)
    if invitation.status != Invitation.Status.PENDING:
        raise Conflict(f"This invitation is already {invitation.status}.", code="invitation_not_pending")
    invitation.status = Invitation.Status.REVOKED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated"])
    audit_record(action="praetor.invitation.revoked", actor=actor, organization_id=invitation.organization_id,
                 target_type="invitation", target_id=str(invitation.pk), target_label=invitation.email)
    return invitation


def _pending_invitation_for(*, token: str | None, invitation_id, user: User) -> Invitation:
    """Lock the invitation (named by its link's token, or by id for the invitee's own API) and check it is
    still answerable by this user. By id, only invitations addressed to the user's email are found: anyone
    else's is NotFound, so ids reveal nothing."""
    if token is not None:
        found = invitation_get_by_token(token=token)
    else:
        found = invitation_get_for_user(user=user, invitation_id=invitation_id)
    invitation = Invitation.all_organizations.select_for_update().select_related("organization").get(pk=found.pk)
    if invitation.status != Invitation.Status.PENDING:
        raise Conflict(f"This invitation has already been {invitation.status}.", code="invitation_not_pending")
    if invitation.is_expired:
        raise Conflict("This invitation has expired: ask for a new one.", code="invitation_expired")
    if user is None or not getattr(user, "is_authenticated", False) or not isinstance(user, User):
        raise PermissionDenied("Sign in to answer this invitation.", code="invitation_sign_in")
    if user.email.strip().lower() != invitation.email.strip().lower():
        raise PermissionDenied(
            f"This invitation was sent to {invitation.email}; sign in with that address to answer it.",
            code="invitation_wrong_user",
        )
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, token: str | None = None, invitation_id=None) -> Membership:
    """Accept an invitation (by its link's token or its id): the user joins with the invited role. The
    signed-in user's email must match the invited address (case-insensitively); revoked, used or expired
    invitations are refused. A user who is already a member keeps the membership they have."""
    invitation = _pending_invitation_for(token=token, invitation_id=invitation_id, user=user)
    organization = invitation.organization
    membership = Membership.objects.for_organization(organization).filter(user=user).first()
    joined = membership is None
    if joined:
        membership = Membership.objects.for_organization(organization).create(
            organization=organization, user=user, role=invitation.role
        )
        organization_seats_changed(organization=organization, actor=user)
    invitation.status = Invitation.Status.ACCEPTED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated"])
    audit_record(action="praetor.invitation.accepted", actor=user, organization_id=organization.pk,
                 target_type="invitation", target_id=str(invitation.pk), target_label=invitation.email)
    if joined:
        audit_record(action="praetor.membership.created", actor=user, organization_id=organization.pk,
                     target=user, target_type="user", details={"role": membership.role, "via": "invitation"})
    return membership


@transaction.atomic
def invitation_decline(*, user: User, token: str | None = None, invitation_id=None) -> Invitation:
    """Decline an invitation addressed to this user (by token or id); the link stops working."""
    invitation = _pending_invitation_for(token=token, invitation_id=invitation_id, user=user)
    invitation.status = Invitation.Status.DECLINED
    invitation.responded_at = timezone.now()
    invitation.save(update_fields=["status", "responded_at", "updated"])
    audit_record(action="praetor.invitation.declined", actor=user, organization_id=invitation.organization_id,
                 target_type="invitation", target_id=str(invitation.pk), target_label=invitation.email)
    return invitation


# --- teams -----------------------------------------------------------------------------------------------


def _team_name_taken(organization, name: str, *, exclude=None) -> bool:
    qs = Team.objects.for_organization(organization).filter(name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


def _member_user_ids(organization, user_ids: Iterable) -> list[uuid.UUID]:
    """Parse and check that every id is a user who is a member of the organization. Unknown ids and users of
    other organizations get the same NotFound."""
    wanted: list[uuid.UUID] = []
    for raw in user_ids:
        try:
            value = uuid.UUID(str(raw))
        except (TypeError, ValueError):
            raise NotFound(f"No member {raw!r} in this organization.", code="member_not_found") from None
        if value not in wanted:
            wanted.append(value)
    found = set(
        Membership.objects.for_organization(organization).filter(user_id__in=wanted).values_list("user_id", flat=True)
    )
    for value in wanted:
        if value not in found:
            raise NotFound(f"No member {value} in this organization.", code="member_not_found")
    return wanted


@transaction.atomic
def team_create(*, organization: Organization, name: str, description: str = "", actor,
                member_ids: Iterable | None = None) -> Team:
    """Create a team with a name unique (case-insensitively) in the organization, and optional members."""
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    name = validate_name(name)
    description = _validate_description(description)
    members = _member_user_ids(organization, member_ids or [])
    if _team_name_taken(organization, name):
        raise Conflict(f"A team named {name!r} already exists.", code="name_taken")
    try:
        with transaction.atomic():
            team = Team.objects.for_organization(organization).create(
                organization=organization, name=name, description=description)
    except IntegrityError:
        raise Conflict(f"A team named {name!r} already exists.", code="name_taken") from None
    TeamMembership.objects.bulk_create([TeamMembership(team=team, user_id=uid) for uid in members])
    audit_record(action="praetor.team.created", actor=actor, organization_id=team.organization_id, target=team,
                 target_type="team", details={"members": [str(uid) for uid in members]})
    return team


@transaction.atomic
def team_update(*, team: Team, actor, name: str | None = None, description: str | None = None) -> Team:
    """Rename a team or change its description."""
    organization_authorize(actor=actor, organization=team.organization_id, permission=MANAGE)
    fields = []
    if name is not None:
        name = validate_name(name)
        if _team_name_taken(team.organization_id, name, exclude=team):
            raise Conflict(f"A team named {name!r} already exists.", code="name_taken")
        team.name = name
        fields.append("name")
    if description is not None:
        team.description = _validate_description(description)
        fields.append("description")
    if fields:
        try:
            with transaction.atomic():
                team.save(update_fields=[*fields, "updated"])
        except IntegrityError:
            raise Conflict(f"A team named {name!r} already exists.", code="name_taken") from None
        audit_record(action="praetor.team.updated", actor=actor, organization_id=team.organization_id, target=team,
                     target_type="team", details={"changed": fields})
    return team


@transaction.atomic
def team_delete(*, team: Team, actor) -> None:
    """Delete a team; its members stay in the organization."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=team.organization_id, permission=MANAGE)
    Team.all_organizations.filter(pk=team.pk).delete()
    audit_record(action="praetor.team.deleted", actor=actor, organization_id=team.organization_id,
                 target_type="team", target_id=str(team.pk), target_label=team.name)


def _lock_team(team: Team) -> Team:
    return Team.objects.for_organization(team.organization_id).select_for_update().get(pk=team.pk)


@transaction.atomic
def team_set_members(*, team: Team, user_ids: Iterable, actor) -> list[uuid.UUID]:
    """Make the team's members exactly `user_ids` (each must be a member of the organization); return them."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=team.organization_id, permission=MANAGE)
    wanted = _member_user_ids(team.organization_id, user_ids)
    team = _lock_team(team)
    current = set(TeamMembership.objects.filter(team=team).values_list("user_id", flat=True))
    TeamMembership.objects.filter(team=team).exclude(user_id__in=wanted).delete()
    TeamMembership.objects.bulk_create([TeamMembership(team=team, user_id=uid) for uid in wanted if uid not in current])
    if set(wanted) != current:
        team.save(update_fields=["updated"])
    for uid in [u for u in wanted if u not in current]:
        _audit_team_member(team, uid, actor, "praetor.team_membership.created")
    for uid in sorted(current - set(wanted)):
        _audit_team_member(team, uid, actor, "praetor.team_membership.deleted")
    return wanted


def _audit_team_member(team: Team, user_id, actor, action: str) -> None:
    audit_record(action=action, actor=actor, organization_id=team.organization_id, target_type="user",
                 target_id=str(user_id), details={"team_id": str(team.pk), "team": team.name})


@transaction.atomic
def team_add_member(*, team: Team, user_id, actor) -> None:
    """Add an organization member to the team; adding a current member is a no-op."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=team.organization_id, permission=MANAGE)
    (uid,) = _member_user_ids(team.organization_id, [user_id])
    team = _lock_team(team)
    _, created = TeamMembership.objects.get_or_create(team=team, user_id=uid)
    if created:
        team.save(update_fields=["updated"])
        _audit_team_member(team, uid, actor, "praetor.team_membership.created")


@transaction.atomic
def team_remove_member(*, team: Team, user_id, actor) -> None:
    """Remove a user from the team. A user who is not on the team is NotFound."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=team.organization_id, permission=MANAGE)
    team = _lock_team(team)
    try:
        uid = uuid.UUID(str(user_id))
    except (TypeError, ValueError):
        raise NotFound(f"No member {user_id!r} on this team.", code="member_not_found") from None
    deleted, _ = TeamMembership.objects.filter(team=team, user_id=uid).delete()
    if not deleted:
        raise NotFound(f"No member {uid} on this team.", code="member_not_found")
    team.save(update_fields=["updated"])
    _audit_team_member(team, uid, actor, "praetor.team_membership.deleted")


# --- service accounts ------------------------------------------------------------------------------------


def _service_account_name_taken(organization, name: str, *, exclude=None) -> bool:
    qs = ServiceAccount.objects.for_organization(organization).filter(name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return qs.exists()


@transaction.atomic
def service_account_create(*, organization: Organization, name: str, actor,
                           role: str = OrganizationRole.MEMBER, with_api_key: bool = True,
                           api_key_expires_at: datetime | None = None
                           ) -> tuple[ServiceAccount, ApiKey | None, str | None]:
    """Create a service account (Cloud's "bot") and, unless `with_api_key=False`, its first pnb_ key.
    Returns (service_account, api_key, secret); the secret is shown once. An Owner bot takes an Owner."""
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    name = validate_name(name)
    _validate_role(role, field="account_role_id")
    _require_owner_for(actor=actor, organization=organization, role=role)
    if _service_account_name_taken(organization, name):
        raise Conflict(f"A service account named {name!r} already exists.", code="name_taken")
    try:
        with transaction.atomic():
            bot = ServiceAccount.objects.for_organization(organization).create(
                organization=organization, name=name, role=role,
                created_by=actor if isinstance(actor, User) else None,
            )
    except IntegrityError:
        raise Conflict(f"A service account named {name!r} already exists.", code="name_taken") from None
    audit_record(action="praetor.service_account.created", actor=actor, organization_id=bot.organization_id,
                 target=bot, target_type="service_account", details={"role": role})
    if not with_api_key:
        return bot, None, None
    key, secret = api_key_create(owner=bot, name=name, expires_at=api_key_expires_at, actor=actor)
    return bot, key, secret


@transaction.atomic
def service_account_update(*, service_account: ServiceAccount, actor, name: str | None = None,
                           role: str | None = None) -> ServiceAccount:
    """Rename a service account or change its organization role (granting or revoking Owner takes an Owner)."""
    authcache.access_changed()
    organization = service_account.organization_id
    organization_authorize(actor=actor, organization=organization, permission=MANAGE)
    fields = []
    if name is not None:
        name = validate_name(name)
        if _service_account_name_taken(organization, name, exclude=service_account):
            raise Conflict(f"A service account named {name!r} already exists.", code="name_taken")
        service_account.name = name
        fields.append("name")
    if role is not None and role != service_account.role:
        _validate_role(role, field="account_role_id")
        if OrganizationRole.OWNER in (role, service_account.role):
            _require_owner_for(actor=actor, organization=organization, role=OrganizationRole.OWNER)
        service_account.role = role
        fields.append("role")
    if fields:
        try:
            with transaction.atomic():
                service_account.save(update_fields=[*fields, "updated"])
        except IntegrityError:
            raise Conflict(f"A service account named {name!r} already exists.", code="name_taken") from None
        audit_record(action="praetor.service_account.updated", actor=actor, organization_id=organization,
                     target=service_account, target_type="service_account",
                     details={"changed": fields, "role": service_account.role})
    return service_account


@transaction.atomic
def service_account_delete(*, service_account: ServiceAccount, actor) -> None:
    """Delete a service account; its keys stop working at once (they are deleted with it)."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=service_account.organization_id, permission=MANAGE)
    if service_account.role == OrganizationRole.OWNER:
        _require_owner_for(actor=actor, organization=service_account.organization_id, role=OrganizationRole.OWNER)
    ServiceAccount.all_organizations.filter(pk=service_account.pk).delete()
    audit_record(action="praetor.service_account.deleted", actor=actor,
                 organization_id=service_account.organization_id, target_type="service_account",
                 target_id=str(service_account.pk), target_label=service_account.name)


@transaction.atomic
def service_account_rotate_key(*, service_account: ServiceAccount, actor, expires_at: datetime | None = None,
                               old_key_expires_in_seconds: int | None = None) -> tuple[ApiKey, str]:
    """Issue a new key for the service account and retire its current ones: at once by default, or after a
    grace period of `old_key_expires_in_seconds` (never extending an earlier expiry). Returns (key, secret)."""
    authcache.access_changed()
    organization_authorize(actor=actor, organization=service_account.organization_id, permission=MANAGE)
    if old_key_expires_in_seconds is not None and (
        isinstance(old_key_expires_in_seconds, bool) or not isinstance(old_key_expires_in_seconds, int)
        or old_key_expires_in_seconds < 0
    ):
        raise Invalid("old_key_expires_in_seconds must be a whole number of seconds, at least 0.",
                      loc=["body", "old_key_expires_in_seconds"])
    bot = ServiceAccount.objects.for_organization(service_account.organization_id).select_for_update().get(
        pk=service_account.pk)
    now = timezone.now()
    old_keys = list(ApiKey.objects.select_for_update().filter(service_account=bot, revoked_at__isnull=True))
    new_key, secret = api_key_create(owner=bot, name=bot.name, expires_at=expires_at, actor=actor)
    for key in old_keys:
        if not old_key_expires_in_seconds:
            api_key_revoke(key=key, actor=actor)
            continue
        grace_end = now + timedelta(seconds=old_key_expires_in_seconds)
        if key.expires_at is None or key.expires_at > grace_end:
            key.expires_at = grace_end
            key.save(update_fields=["expires_at"])
    return new_key, secret


@transaction.atomic
def service_account_key_create(*, service_account: ServiceAccount, name: str, actor,
                               expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """Issue one more pnb_ key for the service account (Owner/Admin), keeping its other keys. Returns
    (key, secret); the secret is shown once."""
    organization_authorize(actor=actor, organization=service_account.organization_id, permission=MANAGE)
    if service_account.role == OrganizationRole.OWNER:
        # A key acts as the service account: minting one for an Owner bot is as strong as being an Owner.
        _require_owner_for(actor=actor, organization=service_account.organization_id, role=OrganizationRole.OWNER)
    return api_key_create(owner=service_account, name=name, expires_at=expires_at, actor=actor)


@transaction.atomic
def service_account_key_revoke(*, service_account: ServiceAccount, key_id, actor) -> ApiKey:
    """Revoke one of the service account's keys (Owner/Admin); it answers 401 from the next request on.
    A key of another service account, or a malformed id, is NotFound."""
    organization_authorize(actor=actor, organization=service_account.organization_id, permission=MANAGE)
    try:
        kid = uuid.UUID(str(key_id))
    except (TypeError, ValueError):
        raise NotFound("API key not found.") from None
    key = ApiKey.objects.select_for_update().filter(service_account=service_account, pk=kid).first()
    if key is None:
        raise NotFound("API key not found.")
    return api_key_revoke(key=key, actor=actor)
