"""Run history retention by tier (billing's side): each organization's tier, from the catalog or an
operator's override, decides the cutoff; the periodic task sweeps every workspace and is scheduled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.billing.models import Plan
from apps.billing.services import enterprise_set, organization_tier_set, run_retention_apply, run_retention_cutoff
from apps.billing.tasks import apply_run_retention
from apps.engine.models import FlowRun, Log
from tests.engine.runs_data import flow_run
from tests.factories.organizations import OrganizationFactory
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _names(workspace) -> set[str]:
    return set(FlowRun.objects.for_workspace(workspace).values_list("name", flat=True))


def _history(workspace, now) -> None:
    for days in (3, 10, 20, 45, 400):
        flow_run(workspace, now=now, ended_days_ago=days, tasks=1, logs_days_ago=(days,), name=f"{days}d")
    flow_run(workspace, now=now, state="RUNNING", created_days_ago=500, name="running")


def test_each_tier_keeps_its_own_retention(now_fixed):
    now = now_fixed
    tiers = {"free": 7, "starter": 14, "growth": 30, "enterprise": 365}
    workspaces = {}
    for tier in tiers:
        organization = OrganizationFactory()
        organization_tier_set(organization=organization, tier=tier)
        workspaces[tier] = WorkspaceFactory(organization=organization)
        _history(workspaces[tier], now)

    done = run_retention_apply(now=now)

    assert _names(workspaces["free"]) == {"3d", "running"}
    assert _names(workspaces["starter"]) == {"3d", "10d", "running"}
    assert _names(workspaces["growth"]) == {"3d", "10d", "20d", "running"}
    assert _names(workspaces["enterprise"]) == {"3d", "10d", "20d", "45d", "running"}
    assert (done.flow_runs, done.task_runs, done.logs) == (4 + 3 + 2 + 1, 10, 10)
    for tier, days in tiers.items():
        kept_logs = set(Log.objects.for_workspace(workspaces[tier]).values_list("message", flat=True))
        assert kept_logs == {f"{d}d {d}" for d in (3, 10, 20, 45, 400) if d < days}


def test_the_catalog_and_operator_overrides_decide_the_cutoff(now_fixed):
    now = now_fixed
    organization = OrganizationFactory()
    workspace = WorkspaceFactory(organization=organization)
    _history(workspace, now)
    assert run_retention_cutoff(organization=organization, now=now) == now - timedelta(days=7)

    Plan.objects.filter(slug="free").update(run_retention_days=50)
    from apps.billing.services import plan_changed

    plan_changed(plan=Plan.objects.get(slug="free"))
    run_retention_apply(now=now)
    assert _names(workspace) == {"3d", "10d", "20d", "45d", "running"}

    enterprise_set(organization=organization, overrides={"run_retention_days": 5})
    run_retention_apply(now=now)
    assert _names(workspace) == {"3d", "running"}


def test_the_periodic_task_is_scheduled_and_sweeps(now_fixed):
    entry = settings.CELERY_BEAT_SCHEDULE["praetor.billing.apply_run_retention"]
    assert entry["task"] == apply_run_retention.name == "praetor.billing.apply_run_retention"
    assert entry["schedule"] == 3600.0
    workspace = WorkspaceFactory()
    flow_run(workspace, now=timezone.now(), ended_days_ago=8, tasks=2, logs_days_ago=(8, 1))
    assert apply_run_retention() == {"flow_runs": 1, "task_runs": 2, "logs": 1}
    assert apply_run_retention() == {"flow_runs": 0, "task_runs": 0, "logs": 0}


@pytest.fixture
def now_fixed():
    return timezone.now()
