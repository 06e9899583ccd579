"""The parts of the task run views that branch taskpath changed, each timed against what it replaced in one
process, alternating (bench/request_parts.py's runner, so both see the same machine load): µs of process CPU per
call, the minimum over the rounds; no statement is sent (a cursor that records and answers one updated row stands
in).

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/task_path_parts.py [-n 2000] [-r 7]

- write_together_if: the parameters of a cached set_state's compare-and-swap (a task run Pending → Running:
  its state and decision rows, nine fields set, the workspace scope, the flow run's state id) by the code
  before the plan (tests/core/test_write_plans.py `reference_write_together_if`) against the plan;
- insert_if: the parameters of a task run create's one statement (the run, if its flow run is in the
  workspace, and its Pending state) by the code before the plan (`reference_insert_if`) against the plan;
"""

from __future__ import annotations

import contextlib
import datetime
import sys
import uuid
from pathlib import Path


class _Recorder:
    def execute(self, sql, params):
        self.params = params

    def fetchone(self):
        return (1, 1)


def parts() -> dict:
    """{name: (former, new)}: two callables of the same work."""
    from apps.core import prepared, rows
    from apps.engine.models.runs import FlowRun, OrchestrationDecision, TaskRun, TaskRunState
    from apps.engine.services.run_states import _DECISION_NAMES, _STATE_NAMES
    from tests.core.test_write_plans import reference_insert_if, reference_write_together_if

    recorder = _Recorder()
    prepared.cursor_for = lambda connection: contextlib.nullcontext(recorder)
    now = datetime.datetime.now(datetime.UTC)
    ws, run_id, flow_run_id, state_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    run = TaskRun(id=run_id, workspace_id=ws, flow_run_id=flow_run_id, name="t", task_key="t", dynamic_key="0",
                  state_id=state_id, state_type="RUNNING", state_name="Running", state_timestamp=now, run_count=1,
                  start_time=now, expected_start_time=now, flow_run_run_count=1)
    fields = ["expected_start_time", "flow_run_run_count", "run_count", "start_time", "state", "state_name",
              "state_timestamp", "state_type", "updated"]

    def inserts():
        state = rows.new_instance(TaskRunState, _STATE_NAMES["task_run"], (
            state_id, ws, "RUNNING", "Running", now, None, {"flow_run_id": str(flow_run_id)}, None, run_id))
        decision = rows.new_instance(OrchestrationDecision, _DECISION_NAMES, (
            ws, None, run_id, "PENDING", "RUNNING", "Running", "ACCEPT", "CoreTaskPolicy", "No rule objected.",
            state_id, {}))
        return [state, decision]

    also = (FlowRun, flow_run_id, "state_id", uuid.uuid4())
    pairs = {
        "write_together_if": tuple(
            (lambda write=write: write(inserts(), run, fields, unchanged="state_id", value=state_id,
                                       scope=("workspace_id",), also=also))
            for write in (reference_write_together_if, prepared.write_together_if)),
    }
    pairs["rows alone"] = (inserts, inserts)

    def create_rows():
        run = rows.new_instance(TaskRun, ("id", "workspace_id", "flow_run_id", "task_key", "dynamic_key", "name",
                                          "empirical_policy", "tags", "task_inputs"),
                                (uuid.uuid4(), ws, flow_run_id, "t", "0", "t-0", {"retries": 0}, [], {}))
        run.state_type, run.state_name, run.state_timestamp, run.expected_start_time = "PENDING", "Pending", now, now
        state = rows.new_instance(TaskRunState, _STATE_NAMES["task_run"], (
            uuid.uuid4(), ws, "PENDING", "Pending", now, None, {"task_run_id": str(run.id)}, None, run.id))
        return run, state

    pairs["insert_if"] = tuple(
        (lambda write=write: (lambda run, state: write(run, exists=(FlowRun, {"id": flow_run_id, "workspace_id": ws}),
                                                      dependents=[state]))(*create_rows()))
        for write in (reference_insert_if, prepared.insert_if))
    pairs["create rows alone"] = (create_rows, create_rows)
    return pairs


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import request_parts

    request_parts.main(parts, __doc__)


if __name__ == "__main__":
    main()
