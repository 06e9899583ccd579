"""A workspace that becomes read-only while a worker is running one of its flow runs (issue 6 item 4), with
the real prefect 2.20 client: the run under way finishes (a subflow and a persisted task result after the
downgrade included) and records its final state; the worker keeps
polling (a 4xx would make it exit) but is handed nothing new; starting a run is refused with 402; once the
organization upgrades, the waiting run is picked up by the same worker."""

from __future__ import annotations

import datetime
import textwrap

import pytest

from apps.billing.services import organization_tier_set
from apps.engine.models import BlockDocument, FlowRun, StateType, TaskRun
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create
from tests.compat.test_hybrid import Background, _runs, wait_for

pytestmark = pytest.mark.slow

# Before the pause the run starts a subflow; after it (the workspace is read-only by then) it starts the same
# subflow again and runs a task whose persisted result makes the client save its result storage (an
# anonymous block document): what a run under way does, all of which must be accepted.
FLOW = '''
import time
from prefect import flow, task

@task(persist_result=True)
def shout(name):
    return f"hello {name}!"

@flow
def inner(x: int):
    return x * 2

@flow(log_prints=True)
def slow(pause: int = 0):
    inner(1)
    time.sleep(pause)
    print(shout("after"))
    return inner(2)
'''


def _deploy(praetor):
    src = praetor.home / "limits-src"
    src.mkdir(exist_ok=True)
    (src / "limits_flow.py").write_text(textwrap.dedent(FLOW))
    praetor.run(f"""
        from prefect import flow
        flow.from_source(source={str(src)!r}, entrypoint="limits_flow.py:slow").deploy(
            name="slow", work_pool_name="mypool", parameters={{"pause": 20}})
    """)


def test_runs_under_way_finish_nothing_new_starts_and_an_upgrade_resumes(praetor):
    # An older second workspace, so that the client's workspace ("prod") is the one beyond Free's limit of 1.
    older = workspace_create(organization=praetor.organization, name="Older", handle="older", actor=praetor.user)
    Workspace.objects.for_organization(praetor.organization).filter(pk=older.pk).update(
        created=praetor.workspace.created - datetime.timedelta(days=1))
    praetor.cli("work-pool", "create", "mypool", "--type", "process")
    _deploy(praetor)
    praetor.cli("deployment", "run", "slow/slow")
    worker = Background(praetor, "worker", "start", "-p", "mypool")
    try:
        # Running, and its first subflow done: the flow "inner" exists before the downgrade.
        first = wait_for(lambda: next((r for r in _runs(praetor, "slow") if r.state_type == StateType.RUNNING
                                       and FlowRun.objects.for_workspace(praetor.workspace).filter(
                                           flow__name="inner", state_type=StateType.COMPLETED).exists()),
                                      None), 150, "the first run to be Running", worker.stop)
        # A second run, due in 20 s (beyond the worker's 5 s prefetch, so not handed out yet), then the downgrade.
        praetor.cli("deployment", "run", "slow/slow", "--start-in", "20 seconds")
        organization_tier_set(organization=praetor.organization, tier="free", reason="compat: downgrade")
        assert Workspace.objects.for_organization(praetor.organization).get(pk=praetor.workspace.pk).read_only

        refused = praetor.cli("deployment", "run", "slow/slow", check=False)
        assert refused.returncode != 0 and "read-only" in refused.output, refused.describe()

        # The run under way finishes: its subflow, task run, result storage, logs and final state are accepted.
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
    subflows = FlowRun.objects.for_workspace(praetor.workspace).filter(flow__name="inner")
    assert subflows.filter(state_type=StateType.COMPLETED).count() == 4  # two per run, none refused
    assert TaskRun.objects.for_workspace(praetor.workspace).filter(
        flow_run=first, task_key__contains="shout", state_type=StateType.COMPLETED).count() == 1, logs
    # The result storage the task saved after the downgrade (an anonymous block document).
    assert BlockDocument.objects.for_workspace(praetor.workspace).filter(is_anonymous=True).exists()
