"""Run history retention by tier: each organization's tier (its `run_retention_days` in the catalog, or
an operator's override) decides how long its workspaces keep flow runs, task runs and logs. The deleting
is the engine's (apps/engine/services/retention.py); this module only decides each workspace's cutoff.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from apps.billing.selectors import organization_entitlements
from apps.engine.services.retention import BATCH_SIZE, RetentionResult, workspace_run_history_delete
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)

WORKSPACE_PAGE = 200


def run_retention_cutoff(*, organization, now: datetime | None = None) -> datetime:
    """Run history older than this instant is past the organization's tier retention."""
    days = organization_entitlements(organization).run_retention_days
    return (now or timezone.now()) - timedelta(days=days)


def run_retention_apply(*, now: datetime | None = None, batch_size: int = BATCH_SIZE,
                        max_batches: int = 100) -> RetentionResult:
    """Sweep every workspace of every organization (a sweep across tenants on purpose), deleting the run
    history its organization's tier no longer keeps; bounded work per workspace, so one huge workspace
    cannot starve the others (the next sweep continues). Returns the totals."""
    now = now or timezone.now()
    total = RetentionResult()
    last_pk = None
    while True:
        page = Workspace.all_organizations.select_related("organization").order_by("pk")
        if last_pk is not None:
            page = page.filter(pk__gt=last_pk)
        workspaces = list(page[:WORKSPACE_PAGE])
        if not workspaces:
            return total
        for workspace in workspaces:
            last_pk = workspace.pk
            cutoff = run_retention_cutoff(organization=workspace.organization, now=now)
            done = workspace_run_history_delete(workspace_id=workspace.pk, older_than=cutoff, batch_size=batch_size,
                                                max_batches=max_batches)
            if done.total:
                logger.info("run retention: workspace %s, before %s: %s flow runs, %s task runs, %s logs deleted",
                            workspace.pk, cutoff.isoformat(), done.flow_runs, done.task_runs, done.logs)
            total += done
