"""CPU of the parts of a run create and read that the createread step changed, each against its former way, in
one process (as bench/request_parts.py does for the djtrim step).

Each part runs its former way and its new way alternately (bench/request_parts.py's runner), N calls per round,
R rounds; printed is the minimum over the rounds of the process CPU per call (µs), so the machine's load moves
both ways alike and a spike is not counted. The former ways are the reference forms the equivalence tests keep
(tests/engine/test_run_json.py), the general drop (`unset_dropped`), Django's `get_default` per field, and
psycopg's C timestamp loader followed by Django's `replace`.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/create_read_parts.py [-n 2000] [-r 7]
"""

from __future__ import annotations

import datetime
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parts() -> dict:
    """{name: (former, new)}: two callables of the same work."""
    from django.db import connection
    from psycopg._cmodule import _psycopg

    from apps.core import prepared, rows
    from apps.engine.api.common import unset_dropped
    from apps.engine.api.task_runs import task_run_create_set
    from apps.engine.models.runs import TaskRun
    from apps.engine.schemas.runs import TaskRunCreate, task_run_create_body, task_run_json
    from apps.engine.schemas.states import details_json, state_json
    from tests.engine.test_flat_bodies import _trace_requests
    from tests.engine.test_run_json import (
        NOW,
        _run,
        reference_details_json,
        reference_state_json,
        reference_task_run_json,
    )

    rng = random.Random(1)
    runs = []
    while len(runs) < 20:  # read back: finished, with a state whose details are in jsonb's order
        run = _run(rng)
        if run.state_id and run.start_time and run.end_time:
            runs.append(run)
    body = _trace_requests("/task_runs/")[0]  # the prefect client's
    validated = task_run_create_body(body)
    general = unset_dropped(TaskRunCreate)

    # The insert's parameters of the TaskRun the service builds from each way's fields
    run_id, workspace_id = uuid.uuid4(), uuid.uuid4()

    def built(fields):  # the client sends no id: a uuid4 either way; its flow run's id as each way gives it
        values = {"id": run_id, "workspace_id": workspace_id, "flow_run_id": fields["flow_run_id"],
                  "task_key": fields["task_key"], "dynamic_key": fields["dynamic_key"], "name": fields["name"]}
        return rows.new_instance(TaskRun, tuple(values), tuple(values.values()))

    old_run, new_run = built(general(validated)), built(task_run_create_set(validated))
    entries = rows.plan(connection, TaskRun._meta, None, True)

    # new_instance with every default asked of the field per instance, as before
    names = ("id", "workspace_id", "flow_run_id", "task_key", "dynamic_key", "name")
    values = tuple(new_run.__dict__[name] for name in names)
    per_field = tuple((f.attname, f.get_default) for f in TaskRun._meta.concrete_fields if f.attname not in names)
    fast_build = rows.new_instance_builder(TaskRun, names)

    def former_build():
        obj = fast_build(values)
        attributes = obj.__dict__
        for attname, default in per_field:
            attributes[attname] = default()
        return obj

    raw = prepared.cursor_for(connection)
    oid = raw.cursor.adapters.types["timestamptz"].oid
    c_load = _psycopg.TimestamptzLoader(oid, raw.cursor).load
    texts = [b"2026-12-06 20:30:00.123456+00"] * 9  # a task run read's nine timestamps
    utc = datetime.UTC
    state = runs[0].state
    return {
        "task_run_json, a finished run read back": (lambda: reference_task_run_json(runs[0], now=NOW),
                                                     lambda: task_run_json(runs[0], now=NOW)),
        "state_json, details in jsonb's order": (lambda: reference_state_json(state), lambda: state_json(state)),
        "details_json, the client's details": (lambda: reference_details_json(validated["state"]["state_details"]),
                                               lambda: details_json(validated["state"]["state_details"])),
        "the client's validated body to the service's fields": (lambda: general(validated),
                                                                 lambda: task_run_create_set(validated)),
        "a new TaskRun's run row parameters (str ids / UUIDs)": (
            lambda: rows.values(connection, old_run, entries, True),
            lambda: rows.values(connection, new_run, entries, True)),
        "a new TaskRun (defaults per field / once)": (former_build, lambda: fast_build(values)),
        "nine timestamps read (replace / C load alone)": (lambda: [c_load(t).replace(tzinfo=utc) for t in texts],
                                                          lambda: [c_load(t) for t in texts]),
    }


def main() -> None:
    """bench/request_parts.py's runner (alternate rounds, minimum per call) over this module's parts."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import request_parts

    request_parts.main(parts, __doc__)


if __name__ == "__main__":
    main()
