"""Run history retention: how long each batch holds its transaction (the time rows stay locked) and how
many rows a sweep deletes per second, on a workspace with old and recent history.

    .venv/bin/python bench/retention.py [--flow-runs 2000] [--tasks 5] [--logs 10] [--batch 500]

Runs against the test settings' real PostgreSQL, in the test database, inside a transaction that is rolled
back at the end (each batch is then a savepoint: the same statements and locks as in production). Half
of the flow runs are old and terminal (deleted), a quarter recent, a quarter old but still running (kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def seed(workspace, *, flow_runs: int, tasks: int, logs: int) -> None:
    """Bulk-insert the history: each flow run with two states and a decision, `tasks` task runs with three
    states and a decision each, and `logs` log lines."""
    from apps.engine.models import (
        Flow,
        FlowRun,
        FlowRunState,
        Log,
        OrchestrationDecision,
        TaskRun,
        TaskRunState,
    )

    now = timezone.now()
    flow = Flow.all_workspaces.create(workspace=workspace, name="bench")
    runs, states, decisions, task_runs, task_states, lines = [], [], [], [], [], []
    for n in range(flow_runs):
        kind = "old" if n % 2 == 0 else ("recent" if n % 4 == 1 else "running")
        when = now - timedelta(days=40 if kind != "recent" else 1, seconds=n)
        state = "RUNNING" if kind == "running" else "COMPLETED"
        run = FlowRun(workspace=workspace, flow=flow, name=f"r{n}", state_type=state, state_name=state.title(),
                      state_timestamp=when, start_time=when, end_time=None if state == "RUNNING" else when)
        runs.append(run)
        states += [FlowRunState(workspace=workspace, flow_run=run, type=t, name=t.title(), timestamp=when)
                   for t in ("PENDING", state)]
        decisions.append(OrchestrationDecision(workspace=workspace, flow_run=run, decision="ACCEPT", rule="Bench"))
        for t in range(tasks):
            task = TaskRun(workspace=workspace, flow_run=run, name=f"t{t}", task_key="t", dynamic_key=str(t),
                           state_type=state, state_timestamp=when, end_time=None if state == "RUNNING" else when)
            task_runs.append(task)
            task_states += [TaskRunState(workspace=workspace, task_run=task, type=s, name=s.title(), timestamp=when)
                            for s in ("PENDING", "RUNNING", state)]
            decisions.append(OrchestrationDecision(workspace=workspace, task_run=task, decision="ACCEPT",
                                                   rule="Bench"))
        lines += [Log(workspace=workspace, name="bench", level=20, message="x" * 80, timestamp=when,
                      flow_run_id=run.pk) for _ in range(logs)]
    for model, rows in ((FlowRun, runs), (FlowRunState, states), (TaskRun, task_runs), (TaskRunState, task_states),
                        (OrchestrationDecision, decisions), (Log, lines)):
        model.all_workspaces.bulk_create(rows, batch_size=2000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flow-runs", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--logs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    from apps.engine.services import retention
    from apps.organizations.models import Organization
    from apps.workspaces.models import Workspace

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, keepdb=True)
    with transaction.atomic():
        tag = uuid.uuid4().hex[:8]
        organization = Organization.objects.create(name=f"Bench {tag}", handle=f"bench-{tag}")
        workspace = Workspace.all_organizations.create(organization=organization, name="Bench", handle="bench")
        started = time.perf_counter()
        seed(workspace, flow_runs=args.flow_runs, tasks=args.tasks, logs=args.logs)
        print(f"seeded {args.flow_runs} flow runs x {args.tasks} task runs, {args.logs} logs each, "
              f"in {time.perf_counter() - started:.1f} s")
        cutoff = timezone.now() - timedelta(days=14)

        timings: dict[str, list[float]] = {"task runs": [], "flow runs": [], "logs": []}
        deleted = retention.RetentionResult()
        sweep = time.perf_counter()
        while True:
            t0 = time.perf_counter()
            done = retention.flow_runs_retention_batch(workspace_id=workspace.pk, older_than=cutoff,
                                                       batch_size=args.batch)
            if not done.total:
                break
            timings["task runs" if done.task_runs else "flow runs"].append(time.perf_counter() - t0)
            deleted += done
        while True:
            t0 = time.perf_counter()
            done = retention.logs_retention_batch(workspace_id=workspace.pk, older_than=cutoff, batch_size=args.batch)
            if not done.total:
                break
            timings["logs"].append(time.perf_counter() - t0)
            deleted += done
        elapsed = time.perf_counter() - sweep
        rows = deleted.total
        print(f"deleted {deleted.flow_runs} flow runs, {deleted.task_runs} task runs, {deleted.logs} logs "
              f"(plus their states and decisions) in {elapsed:.2f} s: {rows / elapsed:,.0f} runs+logs per second")
        print(f"{'batch of':<12} {'count':>6} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
        for kind, samples in timings.items():
            if samples:
                print(f"{kind:<12} {len(samples):>6} {statistics.median(samples) * 1000:>9.1f} "
                      f"{percentile(samples, 99) * 1000:>9.1f} {max(samples) * 1000:>9.1f}")
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
