"""Custom workspace roles and workspace role grants to users, teams and service accounts.

Built-in roles are data in apps/access/catalog.py; only organizations' own custom roles are rows.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from apps.core.models import OrganizationScopedModel, WorkspaceScopedModel


class CustomRole(OrganizationScopedModel):
    """An organization's own workspace role: a set of catalog keys, optionally on top of a built-in role."""

    name = models.CharField(max_length=100)
    description = models.CharField(max_length=1000, blank=True)
    permissions = models.JSONField(default=list)  # catalog keys, sorted
    inherited_role = models.CharField(max_length=32, blank=True)  # a catalog BuiltInRole key, or ""

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint("organization", Lower("name"), name="custom_role_unique_name")]


class WorkspaceGrant(WorkspaceScopedModel):
    """One principal's role in one workspace: exactly one of user/team/service_account, and exactly one of
    a built-in role key or a custom role. A principal has at most one grant per workspace."""

    user = models.ForeignKey("identity.User", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    team = models.ForeignKey("organizations.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    service_account = models.ForeignKey(
        "organizations.ServiceAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    role_key = models.CharField(max_length=32, blank=True)
    # PROTECT: a custom role in use cannot vanish from under its grants (the service answers 409).
    custom_role = models.ForeignKey(CustomRole, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(user__isnull=False, team__isnull=True, service_account__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=False, service_account__isnull=True)
                    | models.Q(user__isnull=True, team__isnull=True, service_account__isnull=False)
                ),
                name="grant_exactly_one_principal",
            ),
            models.CheckConstraint(
                condition=(models.Q(custom_role__isnull=True) & ~models.Q(role_key=""))
                | (models.Q(custom_role__isnull=False) & models.Q(role_key="")),
                name="grant_exactly_one_role",
            ),
            models.UniqueConstraint(fields=["workspace", "user"], name="grant_unique_user"),
            models.UniqueConstraint(fields=["workspace", "team"], name="grant_unique_team"),
            models.UniqueConstraint(fields=["workspace", "service_account"], name="grant_unique_service_account"),
        ]
        indexes = [
            models.Index(fields=["team", "workspace"], name="grant_team_ws"),
            models.Index(fields=["user", "workspace"], name="grant_user_ws"),
            models.Index(fields=["service_account", "workspace"], name="grant_sa_ws"),
        ]

    @property
    def principal(self):
        return self.user or self.team or self.service_account

    @property
    def principal_type(self) -> str:
        if self.user_id:
            return "user"
        return "team" if self.team_id else "service_account"
