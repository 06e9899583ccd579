"""A workspace that becomes read-only while a worker is running one of its flow runs (issue 6 item 4), with
the real prefect 2.20 client: the run under way finishes and records its final state; the worker keeps
polling (a 4xx would make it exit) but is handed nothing new; starting a run is refused with 402; once the
organization upgrades, the waiting run is picked up by the same worker."""

from __future__ import annotations

import datetime

import pytest

from apps.billing.services import organization_tier_set
from apps.engine.models import FlowRun, StateType
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create
from tests.compat.test_hybrid import Background, _runs, _worker_deployment, wait_for

pytestmark = pytest.mark.slow


def test_runs_under_way_finish_nothing_new_starts_and_an_upgrade_resumes(praetor):
    # An older second workspace, so that the client's workspace ("prod") is the one beyond Free's limit of 1.
    older = workspace_create(organization=praetor.organization, name="Older", handle="older", actor=praetor.user)
    Workspace.objects.for_organization(praetor.organization).filter(pk=older.pk).update(
        created=praetor.workspace.created - datetime.timedelta(days=1))
    praetor.cli("work-pool", "create", "mypool", "--type", "process")
    _worker_deployment(praetor, name="slow", parameters={"name": "slow", "sleep": 20})
    praetor.cli("deployment", "run", "hello/slow")
    worker = Background(praetor, "worker", "start", "-p", "mypool")
    try:
        first = wait_for(lambda: next((r for r in _runs(praetor, "slow") if r.state_type == StateType.RUNNING),
                                      None), 150, "the first run to be Running", worker.stop)
        # A second run, due in 20 s (beyond the worker's 5 s prefetch, so not handed out yet), then the downgrade.
        praetor.cli("deployment", "run", "hello/slow", "--start-in", "20 seconds")
        organization_tier_set(organization=praetor.organization, tier="free", reason="compat: downgrade")
        assert Workspace.objects.for_organization(praetor.organization).get(pk=praetor.workspace.pk).read_only

        refused = praetor.cli("deployment", "run", "hello/slow", check=False)
        assert refused.returncode != 0 and "read-only" in refused.output, refused.describe()

        # The run under way finishes: its task run, logs and final state are accepted.
        wait_for(lambda: FlowRun.objects.for_workspace(praetor.workspace).get(pk=first.pk).state_type
                 == StateType.COMPLETED, 120, "the first run to complete", worker.stop)
        second = next(r for r in _runs(praetor, "slow") if r.pk != first.pk)
        # Well past the second run's start time, the polling worker has not been handed it.
        wait_for(lambda: datetime.datetime.now(datetime.UTC) > second.expected_start_time
                 + datetime.timedelta(seconds=12), 60, "the second run's start time to pass")
        assert FlowRun.objects.for_workspace(praetor.workspace).get(pk=second.pk).state_type == StateType.SCHEDULED
        assert worker.proc.poll() is None, "the worker exited while the workspace was read-only"

        organization_tier_set(organization=praetor.organization, tier="starter", reason="compat: upgrade")
        wait_for(lambda: FlowRun.objects.for_workspace(praetor.workspace).get(pk=second.pk).state_type
                 == StateType.COMPLETED, 150, "the second run to complete after the upgrade", worker.stop)
    finally:
        logs = worker.stop()
    assert len(_runs(praetor, "slow")) == 2, logs
    states = list(FlowRun.objects.for_workspace(praetor.workspace).get(pk=first.pk).states
                  .order_by("timestamp").values_list("type", flat=True))
    assert states[-2:] == [StateType.RUNNING, StateType.COMPLETED]
