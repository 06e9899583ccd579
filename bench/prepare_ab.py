"""Prepared statements off / on through gunicorn: PostgreSQL's CPU per task run, server by server.

Starts this server as bench/compare.py does (gunicorn, production settings, a database of its own) with
PRAETOR_DB_PREPARE=0, runs the raw API workload of `bench/flows.py api` (P threads x F flow runs x T task runs),
stops it, then the same with PRAETOR_DB_PREPARE=1, for R rounds. Prints per server: requests/s, the CPU of the
gunicorn process tree and of the PostgreSQL backends connected to that database (found by their process title
in /proc, so the other sessions of a shared machine are not counted; PostgreSQL's own background processes,
the WAL writer and checkpointer, are not either), per 1,000 task runs.

    .venv/bin/python bench/prepare_ab.py [--database praetor_x_bench] [-R 3 -P 4 -F 10 -T 10]

The database must exist (it is migrated here). Only the servers started here are stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import flows


def backends(database: str) -> set[int]:
    """PostgreSQL backends connected to `database` ("postgres: user database host(port) state")."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database} " in title:
                found.add(int(entry.name))
    return found


def measure(url: str, key: str, server_pid: int, database: str, args) -> tuple[float, float, float]:
    """(requests/s, server CPU s, PostgreSQL CPU s) of one run of the workload after a warm-up flow run."""
    timings, errors = defaultdict(list), []
    flows.api_worker(url, key, 1, args.T, timings, errors)  # connections opened, queries compiled
    tree = flows.process_tree([server_pid])
    pg_before = {pid: flows.cpu_seconds({pid}) for pid in backends(database)}
    app_before = flows.cpu_seconds(tree)
    timings = defaultdict(list)
    threads = [
        threading.Thread(target=flows.api_worker, args=(url, key, args.F, args.T, timings, errors))
        for _ in range(args.P)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} worker(s) failed: {errors[0]}")
    tree |= flows.process_tree([server_pid])
    pg = sum(flows.cpu_seconds({pid}) - pg_before.get(pid, 0) for pid in backends(database))
    requests = sum(len(v) for v in timings.values())
    return requests / elapsed, flows.cpu_seconds(tree) - app_before, pg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="praetor_pgprep_bench")
    parser.add_argument("-R", type=int, default=3, help="rounds (each: a server without, then one with)")
    parser.add_argument("-P", type=int, default=4, help="client threads")
    parser.add_argument("-F", type=int, default=10, help="flow runs per thread")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (WEB_CONCURRENCY)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prepare-ab-"))
    task_runs = args.P * args.F * args.T
    try:
        for round_ in range(args.R):
            for prepare in ("0", "1"):
                os.environ["PRAETOR_DB_PREPARE"] = prepare
                server, url, key, _ = compare.start_praetor(work, args.database, args.workers, sys.executable)
                try:
                    rate, app, pg = measure(url, key, server.proc.pid, args.database, args)
                finally:
                    server.stop()
                print(
                    f"round {round_} PRAETOR_DB_PREPARE={prepare}: {rate:.0f} requests/s, server CPU "
                    f"{1000 * app / task_runs:.2f} s, PostgreSQL backends {1000 * pg / task_runs:.2f} s per 1,000 "
                    f"task runs (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    finally:
        for service in list(compare.Service.running):
            service.stop()


if __name__ == "__main__":
    main()
