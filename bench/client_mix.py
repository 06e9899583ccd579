"""The request mix the real prefect 2.20 client sends in bench/compare.py's `client-oss` mode, per task run, with
each request's server CPU and whether it takes the lean route (apps/core/lean_middleware.py).

Starts this server as bench/compare.py does (gunicorn as deployed, production settings, a fresh database of
its own) with PRAETOR_HTTP_TIMING_LOG set (config/http_threads.py: each request's thread CPU in Django), runs
P client processes of F flows of T tasks each (bench/flows.py client, not logged in as to Cloud: no events),
and prints per (method, path with ids replaced) the requests per task run, the mean and median thread CPU
in ms, their share of the total and the lean route's verdict on the path. The process tree's CPU (as
compare.py's meter) is printed too, per task run, next to the sum of the requests' thread CPU.

    .venv/bin/python bench/client_mix.py [--client 2 5 10] [--database praetor_bench_clientmix] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import flows

_ID = re.compile(r"/[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_WORKSPACE = re.compile(r"^/api/accounts/[^/]+/workspaces/[^/]+/")


def _lean(method: str, path: str) -> bool:
    """Whether the lean middleware's matcher takes this path for this method (the view then decides on the
    plain case; a bearer JSON request of the client is one)."""
    if str(flows.ROOT) not in sys.path:
        sys.path.insert(0, str(flows.ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
        import django

        django.setup()
    from apps.core.lean_middleware import _PATH, _ROUTES

    match = _PATH.match(path)
    return match is not None and _ROUTES[match.lastgroup][0] == method


def read_log(prefix: str) -> list[tuple[str, str, float]]:
    """(method, path, thread CPU ms) of each request the server's processes logged."""
    rows = []
    directory = Path(prefix).parent
    for log in directory.glob(Path(prefix).name + ".*"):
        for line in log.read_text().splitlines():
            _kind, method, path, _queued, _django, cpu, _total = line.split("\t")
            rows.append((method, path, float(cpu)))
    return rows


def tabulate(rows, task_runs: int) -> list[dict]:
    groups: dict = defaultdict(list)
    lean: dict = {}
    for method, path, cpu in rows:
        name = (method, _ID.sub("/{id}", _WORKSPACE.sub("", path)))
        groups[name].append(cpu)
        lean.setdefault(name, _lean(method, path))
    total = sum(cpu for _m, _p, cpu in rows) or 1.0
    table = []
    for (method, path), cpus in sorted(groups.items(), key=lambda item: -sum(item[1])):
        table.append({"method": method, "path": path, "count": len(cpus), "per_task_run": len(cpus) / task_runs,
                      "cpu_mean_ms": statistics.fmean(cpus), "cpu_p50_ms": statistics.median(cpus),
                      "cpu_share": sum(cpus) / total, "cpu_per_task_run_ms": sum(cpus) / task_runs,
                      "lean": lean[(method, path)]})
    return table


def warm_up(url: str, key: str, log: Path, workers: int, tries: int = 20) -> None:
    """Requests from concurrent connections until every worker process has answered one (each writes its own
    timing log, `log`.PID): a worker's first request pays for importing the URLconf (about 0.4-0.5 s of CPU,
    docs/performance.md "Eighth step"), which must not fall inside the measured run."""
    for _ in range(tries):
        threads = [threading.Thread(target=flows.api_worker, args=(url, key, 1, 1, defaultdict(list), []))
                   for _ in range(2 * workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if len(list(log.parent.glob(log.name + ".*"))) >= workers:
            return
    raise SystemExit(f"not every one of the {workers} workers answered a warm-up request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", nargs=3, type=int, default=[2, 5, 10], metavar=("P", "F", "T"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", default="praetor_bench_clientmix")
    parser.add_argument("--json")
    parser.add_argument("--config", default="deploy/gunicorn.conf.py", help="gunicorn configuration")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="praetor-clientmix-"))
    log = workdir / "timing"
    compare.fresh_database(args.database)
    os.environ["PRAETOR_HTTP_TIMING_LOG"] = str(log)
    praetor, url, key, _cloud = compare.start_praetor(workdir, args.database, args.workers, config=args.config)
    try:
        warm_up(url, key, log, args.workers)
        time.sleep(0.5)  # a line is written after its answer is sent: the warm-up's last ones are in
        for stale in sorted(workdir.glob("timing.*")):
            # a worker's first requests run at once on its threads: the one that imports what the worker lacks
            # (the URLconf) holds the import lock while the others wait, so report the costliest
            costliest = max((line.split("\t") for line in stale.read_text().splitlines()), key=lambda f: float(f[5]))
            print(f"worker {stale.suffix[1:]}: costliest warm-up request {costliest[1]} "
                  f"{_WORKSPACE.sub('', costliest[2])} thread CPU {float(costliest[5]):.1f} ms")
            stale.write_text("")  # truncated: the server keeps each open, appending
        P, F, T = args.client
        timings: dict = defaultdict(list)
        with contextlib.ExitStack() as stack:
            meter = stack.enter_context(compare.CpuMeter(praetor.proc.pid, args.database, frozenset()))
            start = time.perf_counter()
            flows.run_client(url, key, P, F, T, timings)
            elapsed = time.perf_counter() - start
        time.sleep(0.5)  # the last lines flushed (line-buffered; the last answer may still be being logged)
    finally:
        praetor.stop()
    task_runs = P * F * T
    rows = read_log(str(log))
    table = tabulate(rows, task_runs)
    thread_cpu = sum(r["cpu_per_task_run_ms"] for r in table)
    server = meter.seconds("server") / task_runs * 1000
    print(f"client-oss {P}x{F}x{T}: {elapsed:.1f} s, {len(rows)} requests = {len(rows) / task_runs:.2f} per task run;"
          f" server process CPU {server:.2f} ms per task run, of which requests' thread CPU {thread_cpu:.2f} ms;"
          f" PostgreSQL {meter.seconds('postgres') / task_runs * 1000:.2f} ms")
    print(f"  {'method path':52s} {'/task run':>9s} {'cpu mean':>9s} {'p50':>7s} {'ms/task run':>11s} "
          f"{'share':>6s}  lean")
    for r in table:
        print(f"  {r['method'] + ' ' + r['path']:52s} {r['per_task_run']:9.3f} {r['cpu_mean_ms']:9.3f} "
              f"{r['cpu_p50_ms']:7.3f} {r['cpu_per_task_run_ms']:11.3f} {r['cpu_share']:6.1%}  "
              f"{'yes' if r['lean'] else 'no'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"size": [P, F, T], "seconds": elapsed, "requests": len(rows),
                                               "server_cpu_ms_per_task_run": server,
                                               "thread_cpu_ms_per_task_run": thread_cpu, "table": table}, indent=1))


if __name__ == "__main__":
    main()
