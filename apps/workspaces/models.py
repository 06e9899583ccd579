"""Workspaces: each an isolated orchestration engine inside an organization."""

from __future__ import annotations

from django.db import models

from apps.core.models import OrganizationScopedModel


class Workspace(OrganizationScopedModel):
    name = models.CharField(max_length=100)
    handle = models.SlugField(max_length=64)
    description = models.CharField(max_length=1000, blank=True)
    # Denormalised by apps.billing (`organization_limits_apply`): True while this workspace is beyond its
    # organization's workspace limit (after a downgrade). Loaded with the workspace, so the request path
    # reads it for free; nothing else writes it.
    read_only = models.BooleanField(default=False)

    class Meta(OrganizationScopedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["organization", "handle"], name="workspace_unique_handle")]

    def __str__(self) -> str:
        return self.handle
