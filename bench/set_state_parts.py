"""The parts of a task run set_state that branch setstate2 changed, each timed against what it replaced in
one process, alternating (so both see the same machine load): µs of process CPU per call, the minimum over
repeats.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/set_state_parts.py [--repeat 7]

- rows: the new state and decision rows by `Model(**values)` against `rows.new_instance`;
- orchestrate: the core task policy over Pending → Running (no tags, no cache key: no query) with the plain
  loop of before (tests/engine/orchestration/test_orchestrate_plan.py `reference_orchestrate`) against the plan;
- read: the unlocked set_state read with every column against the one that defers the unread JSON columns
  (one task run of a flow run, run against the database of the settings, which must be migrated).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.utils import timezone

    from apps.core import rows
    from apps.core.prepared import PreparedQuery
    from apps.engine.models.runs import OrchestrationDecision, TaskRun, TaskRunState
    from apps.engine.orchestration.policies import CORE_TASK_POLICY
    from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
    from apps.engine.schemas.states import StateValue
    from apps.engine.selectors.task_runs import task_run_get_for_set_state
    from apps.engine.services.run_states import _DECISION_NAMES, _STATE_NAMES
    from tests.engine.orchestration.test_orchestrate_plan import reference_orchestrate

    now = timezone.now()
    state_values = (uuid.uuid4(), uuid.uuid4(), "RUNNING", "Running", now, None,
                    {"flow_run_id": str(uuid.uuid4()), "task_run_id": str(uuid.uuid4()), "cache_key": None}, None,
                    uuid.uuid4())
    decision_values = (uuid.uuid4(), None, uuid.uuid4(), "PENDING", "RUNNING", "Running", "ACCEPT",
                       "CoreTaskPolicy", "No rule objected.", uuid.uuid4(), {})

    def context():
        run = TaskRun(id=uuid.uuid4(), workspace_id=uuid.uuid4(), run_count=0, empirical_policy={}, tags=[])
        initial = StateValue.new("PENDING", now=now)
        return OrchestrationContext(kind="task_run", run=run, initial=initial,
                                    proposed=StateValue.new("RUNNING", now=now), now=now)

    pairs = {
        "state row": (lambda: TaskRunState(**dict(zip(_STATE_NAMES["task_run"], state_values, strict=True))),
                      lambda: rows.new_instance(TaskRunState, _STATE_NAMES["task_run"], state_values)),
        "decision row": (lambda: OrchestrationDecision(**dict(zip(_DECISION_NAMES, decision_values, strict=True))),
                         lambda: rows.new_instance(OrchestrationDecision, _DECISION_NAMES, decision_values)),
        "orchestrate": (lambda: reference_orchestrate(context(), CORE_TASK_POLICY, lambda ctx: None),
                        lambda: orchestrate(context(), CORE_TASK_POLICY, lambda ctx: None)),
        "context alone": (context, context),
    }
    # A task run of a flow run, as bench/hot_requests.py leaves them (a sweep over workspaces: a bench only).
    task = TaskRun.all_workspaces.filter(flow_run__isnull=False).order_by("-created").first()
    if task is None:
        print("no task run in the database: run bench/hot_requests.py first", file=sys.stderr)
    else:
        every_column = PreparedQuery(
            lambda workspace_id, task_run_id: TaskRun.objects.for_workspace(workspace_id)
            .select_related("state", "flow_run", "flow_run__state").filter(pk=task_run_id))
        pairs["read"] = (lambda: every_column.one(task.workspace_id, task.pk),
                         lambda: task_run_get_for_set_state(workspace=task.workspace_id, task_run_id=task.pk))
    print(f"{'part':<16}{'before µs':>12}{'after µs':>12}")
    for name, (before, after) in pairs.items():
        number = args.number if name != "read" else max(args.number // 10, 50)
        best = {before: float("inf"), after: float("inf")}
        for _ in range(args.repeat):
            for fn in (before, after):
                best[fn] = min(best[fn], timeit.Timer(fn, timer=time.process_time).timeit(number) / number * 1e6)
        print(f"{name:<16}{best[before]:>12.1f}{best[after]:>12.1f}")


if __name__ == "__main__":
    main()
