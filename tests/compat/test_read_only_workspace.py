"""A workspace that becomes read-only while a worker is running one of its flow runs (issue 6 item 4), with
the real prefect 2.20 client: the run under way finishes (a subflow and a persisted task result after the
downgrade included) and records its final state; the worker keeps
polling (a 4xx would make it exit) but is handed nothing new; starting a run is refused with 402; once the
organization upgrades, the waiting run is picked up by the same worker. An ad-hoc run that is Running when the
workspace turns read-only may still start a subflow of a flow the workspace has never seen (its POST flows/),
and finishes Completed; a new top-level run afterwards is refused."""

from __future__ import annotations

import datetime
import subprocess
import textwrap

import pytest

from apps.billing.services import organization_tier_set
from apps.engine.models import BlockDocument, Flow, FlowRun, StateType, TaskRun
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create
from tests.compat.conftest import client_python
from tests.compat.test_hybrid import Background, _runs, wait_for
from tests.ops.processes import die_with_parent

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


# An ad-hoc run (`python flow.py`, no deployment) that waits for a file, then starts a subflow of a flow this
# workspace has never seen: the client "creates" that flow by name (POST flows/) before the subflow run.
NEW_SUBFLOW = '''
import pathlib, sys, time
from prefect import flow

@flow
def first_seen_child(x: int):
    return x + 1

@flow
def long_parent(go: str):
    while not pathlib.Path(go).exists():
        time.sleep(0.2)
    return first_seen_child(41)

if __name__ == "__main__":
    assert long_parent(sys.argv[1]) == 42
    print("PARENT DONE")
'''


def test_a_running_flow_starts_a_subflow_never_seen_after_the_workspace_turns_read_only(praetor):
    older = workspace_create(organization=praetor.organization, name="Older", handle="older", actor=praetor.user)
    Workspace.objects.for_organization(praetor.organization).filter(pk=older.pk).update(
        created=praetor.workspace.created - datetime.timedelta(days=1))
    script, go = praetor.home / "new_subflow.py", praetor.home / "go"
    script.write_text(textwrap.dedent(NEW_SUBFLOW))
    log = praetor.home / "new_subflow.log"
    with log.open("w") as out:
        proc = subprocess.Popen([client_python(), str(script), str(go)], env=praetor.env(), cwd=praetor.home,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=die_with_parent())
        try:
            runs = FlowRun.objects.for_workspace(praetor.workspace)
            parent = wait_for(lambda: runs.filter(flow__name="long-parent", state_type=StateType.RUNNING).first(),
                              120, "the parent flow run to be Running", log.read_text)
            organization_tier_set(organization=praetor.organization, tier="free", reason="compat: downgrade")
            assert Workspace.objects.for_organization(praetor.organization).get(pk=praetor.workspace.pk).read_only
            assert not Flow.objects.for_workspace(praetor.workspace).filter(name="first-seen-child").exists()
            go.touch()
            proc.wait(120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    output = log.read_text()
    assert proc.returncode == 0 and "PARENT DONE" in output, output
    assert runs.get(pk=parent.pk).state_type == StateType.COMPLETED
    (child,) = runs.filter(flow__name="first-seen-child")
    assert child.state_type == StateType.COMPLETED
    assert child.parent_task_run.flow_run_id == parent.pk

    # Nothing is Running any more: a new top-level run (an ad-hoc `python flow.py`) is refused with 402.
    refused = praetor.run("""
        from prefect import flow

        @flow
        def brand_new():
            return 1

        brand_new()
    """, check=False, allow_events_trouble=True)
    assert refused.returncode != 0 and "read-only" in refused.output, refused.describe()
    assert not Flow.objects.for_workspace(praetor.workspace).filter(name="brand-new").exists()
    assert not runs.filter(flow__name="first-seen-child").exclude(pk=child.pk).exists()
