"""Organizations (Cloud "accounts"), their memberships, invitations, teams and service accounts."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.models import OrganizationScopedModel, TimeStampedModel


class OrganizationRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Tier(models.TextChoices):
    FREE = "free", "Free"
    STARTER = "starter", "Starter"
    GROWTH = "growth", "Growth"
    ENTERPRISE = "enterprise", "Enterprise"


class Organization(TimeStampedModel):
    """A customer account: holds members, teams, service accounts and workspaces."""

    name = models.CharField(max_length=100)
    handle = models.SlugField(max_length=64, unique=True)
    # Maintained by apps.billing (from Stripe), or set by an operator for Enterprise.
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)

    def __str__(self) -> str:
        return self.handle


class Membership(OrganizationScopedModel):
    """A user's membership in an organization, with the organization role."""

    user = models.ForeignKey("identity.User", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER)
    # Denormalised by apps.billing (`organization_limits_apply`): True while this member is beyond the
    # organization's seat limit (after a downgrade) and so may only read in its workspaces.
    read_only = models.BooleanField(default=False)

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user")]
        indexes = [models.Index(fields=["user", "organization"], name="membership_user_org")]


class Invitation(OrganizationScopedModel):
    """An emailed invitation to join an organization; the link carries a token we keep only hashed."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        REVOKED = "revoked", "Revoked"

    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER)
    token_digest = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    invited_by = models.ForeignKey("identity.User", null=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField()
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta(OrganizationScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=models.Q(status="pending"),
                name="invitation_one_pending_per_email",
            )
        ]

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class Team(OrganizationScopedModel):
    """A named group of members; workspace roles granted to a team apply to each member."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=1000, blank=True)
    members = models.ManyToManyField("identity.User", through="TeamMembership", related_name="teams")

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="team_unique_name")]


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey("identity.User", on_delete=models.CASCADE, related_name="team_memberships")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique")]
        indexes = [models.Index(fields=["user", "team"], name="team_membership_user")]


class ServiceAccount(OrganizationScopedModel):
    """A non-human member (Cloud's "bot") that authenticates with pnb_ keys."""

    name = models.CharField(max_length=100)
    role = models.CharField(max_length=16, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER)
    created_by = models.ForeignKey("identity.User", null=True, on_delete=models.SET_NULL, related_name="+")

    actor_type = "service_account"
    # A service account is a principal: DRF and our permission checks treat it as authenticated.
    is_authenticated = True
    is_anonymous = False
    is_active = True

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="service_account_unique_name")]

    def __str__(self) -> str:
        return self.name
