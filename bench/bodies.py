"""Validation alone: the serializer against the flat validator (apps/core/api/flat.py) on the same bodies, in
one process, alternating, so the machine's load hits both alike. Prints function calls (cProfile) and CPU per
body for a task run create body as the prefect 2.20 client sends it and for log batches of several sizes.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/bodies.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_ID, TASK_ID = "671fa773-7ea3-4e9c-b244-e0016e00ff51", "9ab049c7-1a51-4633-a09f-2d5c583cdcc3"
DETAILS = {"flow_run_id": None, "task_run_id": None, "child_flow_run_id": None, "scheduled_time": None,
           "cache_key": None, "cache_expiration": None, "untrackable_result": False, "pause_timeout": None,
           "pause_reschedule": False, "pause_key": None, "run_input_keyset": None, "refresh_cache": None,
           "retriable": None, "transition_id": None, "task_parameters_id": None}
TASK_RUN = {  # as in shared/prefect2-compat/traces/a_flows.jsonl
    "state": {"type": "PENDING", "name": "Pending", "message": None, "state_details": DETAILS, "data": None},
    "name": "unreliable-0", "flow_run_id": RUN_ID, "task_key": "unreliable-f3a52b9f", "dynamic_key": "0",
    "cache_key": None, "cache_expiration": None, "task_version": None,
    "empirical_policy": {"max_retries": 0, "retry_delay_seconds": 0, "retries": 1, "retry_delay": 0,
                         "retry_jitter_factor": None},
    "tags": [], "task_inputs": {"xs": [{"input_type": "task_run", "id": TASK_ID}]}}
LOG = {"name": "prefect.flow_runs", "level": 20, "message": "Created task run 'numbers-0' for task 'numbers'",
       "timestamp": "2026-11-22T16:43:01.630034+00:00", "flow_run_id": RUN_ID, "task_run_id": None}
TRACEBACK = {**LOG, "name": "prefect.task_runs", "level": 40, "task_run_id": TASK_ID,
             "message": "Encountered exception during execution:\nTraceback (most recent call last):\n"
                        + '  File "/home/user/venv/lib/python3.11/site-packages/prefect/engine.py", line 2172\n' * 40}


def _serializer(serializer_class):
    def validate(data):
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    return validate


def _measure(validate, body, repeat: int) -> tuple[float, float]:
    profiler = cProfile.Profile()
    profiler.enable()
    validate(body)
    profiler.disable()
    calls = pstats.Stats(profiler).total_calls
    start = time.process_time()
    for _ in range(repeat):
        validate(body)
    return calls, 1000 * (time.process_time() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="alternations of serializer and flat validator")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from apps.engine.schemas.logs import LogCreateBatch, log_batch
    from apps.engine.schemas.runs import TaskRunCreate, task_run_create_body

    cases = [("task run create", TaskRunCreate, task_run_create_body, TASK_RUN, 400)]
    for size in (1, 40, 1000):
        cases.append((f"log batch of {size}", LogCreateBatch, log_batch, [LOG] * size, max(2, 4000 // size)))
    cases.append(("log batch of 40, 1 traceback", LogCreateBatch, log_batch, [LOG] * 39 + [TRACEBACK], 100))
    print(f"{'body':30} {'serializer calls':>16} {'ms':>8} {'flat calls':>11} {'ms':>8} {'CPU ratio':>9}")
    for name, serializer_class, flat, body, repeat in cases:
        by_serializer = _serializer(serializer_class)
        assert repr(by_serializer(body)) == repr(flat(body))
        results = {"serializer": [], "flat": []}
        for _ in range(args.rounds):
            for label, validate in (("serializer", by_serializer), ("flat", flat)):
                results[label].append(_measure(validate, body, repeat))
        (s_calls, _), (f_calls, _) = results["serializer"][0], results["flat"][0]
        s_ms = min(ms for _, ms in results["serializer"])
        f_ms = min(ms for _, ms in results["flat"])
        print(f"{name:30} {s_calls:16.0f} {s_ms:8.3f} {f_calls:11.0f} {f_ms:8.3f} {s_ms / f_ms:8.1f}x")


if __name__ == "__main__":
    main()
