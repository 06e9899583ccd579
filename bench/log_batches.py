"""Client and PostgreSQL CPU of storing one log batch, the path before the COPY step against the COPY, alternating
batch by batch in one process (docs/performance.md, "Sixth step").

Stores batches of -L logs (as bench/hot_requests.py builds them, validated by the view's validator) through
services.logs_create (one binary COPY) and through the former path (a Log per log, one multi-row INSERT per 1,000
in a transaction), committed as in production (autocommit), into a scratch workspace deleted at the end. Prints
per path: this process's CPU, the PostgreSQL backend's CPU (from /proc: PostgreSQL must run on this machine) and
the wall time per batch.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/log_batches.py -L 40 -R 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _backend_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds (10 ms ticks: sum over many batches)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-L", type=int, default=40, help="logs per batch")
    parser.add_argument("-R", type=int, default=100, help="batches per path")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import uuid

    from django.db import connection
    from hot_requests import _logs, former_logs_create, setup_tenant

    from apps.engine.schemas.logs import log_batch
    from apps.engine.services.logs import logs_create
    from apps.workspaces.models import Workspace

    prefix, _ = setup_tenant()
    workspace = Workspace._default_manager.get(pk=prefix.rsplit("/", 1)[1])
    run, tasks = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(10)]
    logs = log_batch(_logs(run, tasks, args.L))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    paths = {"former (Log + INSERT)": former_logs_create(), "COPY": logs_create}
    totals = {name: [0.0, 0.0, 0.0] for name in paths}
    for create in paths.values():  # warm-up: plans, compiled SQL
        create(workspace=workspace, logs=logs)
    for _ in range(args.R):
        for name, create in paths.items():
            wall, cpu, server = time.perf_counter(), time.process_time(), _backend_cpu(backend)
            create(workspace=workspace, logs=logs)
            total = totals[name]
            total[0] += time.process_time() - cpu
            total[1] += _backend_cpu(backend) - server
            total[2] += time.perf_counter() - wall
    print(f"{args.L} logs per batch, {args.R} batches per path")
    print(f"{'path':24} {'client CPU ms':>14} {'server CPU ms':>14} {'wall ms':>9}")
    for name, (cpu, server, wall) in totals.items():
        print(f"{name:24} {1000 * cpu / args.R:14.3f} {1000 * server / args.R:14.3f} {1000 * wall / args.R:9.3f}")
    workspace.delete()


if __name__ == "__main__":
    main()
