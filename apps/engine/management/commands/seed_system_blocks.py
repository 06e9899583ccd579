"""Install the system block types and schemas into every existing workspace (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.engine.services.blocks import workspace_seed_blocks
from apps.workspaces.models import Workspace


class Command(BaseCommand):
    help = "Seed the system block types and schemas of the pinned Prefect client into every workspace."

    def handle(self, *args, **options):
        total = 0
        # A deliberate sweep over all tenants: each workspace is seeded in its own transaction.
        for workspace in Workspace.all_organizations.order_by("pk").iterator():
            total += workspace_seed_blocks(workspace=workspace)
        self.stdout.write(f"added {total} block schemas")
