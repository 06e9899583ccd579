"""Instructions of the flat validation of the prefect 2.20 client's task run bodies (the create, a set_state Running,
a set_state Completed, as in shared/prefect2-compat/traces/a_flows.jsonl; bench/bodies.py's create), under
callgrind: a process making `-n` bodies and validating each less one making them and validating none (both after
the same warm-up), per call. Load-independent.

    .venv/bin/python bench/validate_instructions.py [-n 2000]
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

DETAILS = {"flow_run_id": None, "task_run_id": "9ab049c7-1a51-4633-a09f-2d5c583cdcc3", "child_flow_run_id": None,
           "scheduled_time": None, "cache_key": None, "cache_expiration": None, "untrackable_result": False,
           "pause_timeout": None, "pause_reschedule": False, "pause_key": None, "run_input_keyset": None,
           "refresh_cache": False, "retriable": None, "transition_id": None, "task_parameters_id": None}
RUNNING = {"state": {"type": "RUNNING", "name": "Running", "message": None, "state_details": DETAILS, "data": None},
           "force": False}
COMPLETED = {"state": {"type": "COMPLETED", "name": "Completed", "message": None,
                       "state_details": {**DETAILS, "untrackable_result": True, "refresh_cache": None},
                       "data": {"type": "unpersisted", "artifact_type": "result",
                                "artifact_description": "Unpersisted result of type `list`"}}, "force": False}


def inner(kind: str, n: int, validate: bool) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from bodies import TASK_RUN

    from apps.engine.api.task_runs import task_run_create_set
    from apps.engine.schemas import runs, states

    calls = {"create": lambda b: task_run_create_set(runs.task_run_create_body(b)),
             "running": states.set_state_body, "completed": states.set_state_body}
    body = {"create": TASK_RUN, "running": RUNNING, "completed": COMPLETED}[kind]
    call = calls[kind]
    bodies = [copy.deepcopy(body) for _ in range(n + 50)]  # made before: the decode gives a new dict each time
    for b in bodies[:50]:
        call(b)  # warm-up (compiled checks, caches)
    if validate:
        for b in bodies[50:]:
            call(b)


def total(kind: str, n: int, validate: bool, work: Path) -> int:
    out = work / f"cg.{kind}.{n}.{int(validate)}"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                    "inner", kind, str(n), str(int(validate))], check=True, capture_output=True, cwd=ROOT,
                   env={**os.environ, "PYTHONHASHSEED": "0"})
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "inner":
        inner(sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--kinds", nargs="+", default=["create", "running", "completed"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="praetor-validate-"))
    for kind in args.kinds:
        base = total(kind, args.n, False, work)
        full = total(kind, args.n, True, work)
        print(f"{kind:10} {(full - base) / args.n:10,.0f} instructions a body (n {args.n})", flush=True)


if __name__ == "__main__":
    main()
