"""Side by side: this server (gunicorn as deployed, production settings, PostgreSQL) and `prefect server start`
(2.20, from .venv-prefect), on the same PostgreSQL cluster (127.0.0.1:5432), each in a fresh database of its
own, with the same workloads; prints the figures docs/performance.md reports and their ratios.

    .venv/bin/python bench/compare.py                      # defaults: client 4x25x10, api 4x25x10, polls 8 x 30 s
    .venv/bin/python bench/compare.py --client 2 5 10 --api 2 5 10 --polls-seconds 15   # smaller, under load
    .venv/bin/python bench/compare.py --pairs 4               # both servers up, client-oss/api runs alternated
    .venv/bin/python bench/compare.py --skip prefect --skip client --skip api --database praetor_bench_mine \
        --server-python /tmp/other-venv/bin/python          # polls only, own database, another interpreter

1. client mode: P processes of the real prefect 2.20 client each run F flows of T tasks (bench/flows.py
   client); against this server twice: logged in as to Cloud (API key, events websocket: how users run
   it, `client`) and not (`client-oss`: the same client work as against prefect server, no events);
2. raw API mode: P threads each create F flow runs → Running → T x (create task run, Running, Completed) →
   a log batch → Completed → a filter (bench/flows.py api);
3. polls (this server only, unless --polls-prefect): bench/polls.py's K worker processes poll while the client
   workload runs again (P x F/2 x T); `--polls-client-nice N` runs that workload's client processes at nice N
   (in production they run on customers' machines, not on the server's two cores).
CPU is read from /proc: each server's whole process tree (sampled every 0.2 s, so recycled workers count)
and the PostgreSQL backends serving its database; the client processes' CPU is shown too. During each mode the
database is ANALYZEd at the start and every 5 s (Analyzer; its backend is not counted), as autovacuum keeps the
statistics of a production database; --no-analyze leaves the planner without them on a cluster with autovacuum off.
Only processes this script started are stopped, by process group, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flows
import polls
from servers import PG, Service, free_port, production_env, start_gunicorn

ROOT = flows.ROOT
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stop_clients() -> None:
    for proc in list(flows.CLIENTS):
        if proc.poll() is None:
            proc.terminate()


def _stop_all(*_args) -> None:
    _stop_clients()
    for service in list(Service.running):
        service.stop()
    raise SystemExit(130)


def fresh_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


class Analyzer:
    """What autovacuum's autoanalyze does on a production server, for a cluster that runs with autovacuum off (the
    shared one here): ANALYZE the database when a measured mode starts and every `every` seconds while it runs, on
    a connection of its own whose backend the CpuMeter leaves out (autovacuum's workers are not the database's
    client backends either). Without it the planner never has statistics for the engine's tables: it resolves the
    tenancy-scoped lookups (`WHERE workspace_id = … AND id = …`, several per task run) through the one-column
    workspace_id index, reading every run of the workspace, and a single ANALYZE of a nearly empty database
    makes it scan whole tables once they have grown (docs/performance.md, "The API mode after the client modes")."""

    def __init__(self, database: str, every: float = 5.0):
        import psycopg

        self.every = every
        self.conn = psycopg.connect(f"{PG}/{database}", autocommit=True)
        self.pid = self.conn.info.backend_pid
        self.passes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def analyze(self) -> None:
        self.conn.execute("ANALYZE")
        self.passes += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.analyze()

    def __enter__(self):
        self.analyze()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.conn.close()


def autovacuum_on() -> bool:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return conn.execute("SHOW autovacuum").fetchone()[0] == "on"


# --- CPU from /proc ----------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


class CpuMeter:
    """CPU seconds used by a process tree and by the PostgreSQL backends of one database, sampled every
    0.2 s so processes that exit during the run (recycled workers, closed connections) still count."""

    def __init__(self, root: int, database: str, exclude: frozenset = frozenset()):
        self.root, self.database, self.exclude = root, database, exclude
        self.first: dict = {}
        self.last: dict = {}
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> dict:
        parents, found = {}, {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            fields = _stat(int(entry.name))
            if fields is None:
                continue
            pid = int(entry.name)
            parents[pid] = int(fields[1])
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
            found[pid] = cpu
        tree, todo = set(), [self.root]
        children = defaultdict(list)
        for pid, ppid in parents.items():
            children[ppid].append(pid)
        while todo:
            pid = todo.pop()
            if pid not in tree:
                tree.add(pid)
                todo.extend(children[pid])
        sample = {("server", pid): found[pid] for pid in tree if pid in found}
        for pid, cpu in found.items():
            if pid in tree:
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if (cmdline.startswith(b"postgres: ") and f" {self.database} ".encode() in cmdline
                    and pid not in self.exclude):
                sample[("postgres", pid)] = cpu
        return sample

    def _record(self, sample: dict) -> None:
        for key, cpu in sample.items():
            self.first.setdefault(key, cpu if self._started else 0.0)
            self.last[key] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._record(self._sample())

    def __enter__(self):
        self._started = True
        self._record(self._sample())
        self._started = False  # processes first seen later started during the run: count all their CPU
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._record(self._sample())

    def seconds(self, kind: str) -> float:
        return sum(self.last[k] - self.first[k] for k in self.last if k[0] == kind)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the two servers -----------------------------------------------------------------------------------------
def prepare_praetor(database: str, python: str = str(ROOT / ".venv" / "bin" / "python")) -> tuple[str, str]:
    """Migrate `database` and make a workspace in it (bench/flows.py setup); returns its API path and key."""
    env = production_env(database, free_port(), 1)
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    setup_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run([python, "bench/flows.py", "setup"], env={**setup_env, "PRAETOR_TEST_DB_NAME": database},
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return lines["URL"].split()[0], lines["KEY"].strip()


def start_praetor(workdir: Path, database: str, workers: int, python: str = str(ROOT / ".venv" / "bin" / "python"),
                  config: str = "deploy/gunicorn.conf.py",
                  workspace: tuple[str, str] | None = None) -> tuple[Service, str, str, str]:
    """Migrate, make a workspace (bench/flows.py setup) unless `workspace` names one already made (its API path
    and key), start gunicorn; returns it, the workspace's API URL, the key and the server's /api URL."""
    env = production_env(database, free_port(), workers)
    if workspace is None:
        workspace = prepare_praetor(database, python)
    else:
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True)
    path, key = workspace
    server, url = start_gunicorn(python, env, workdir / "praetor.log", config)
    return server, f"{url}{path}", key, f"{url}/api"


def prefect_env(workdir: Path, database: str) -> dict:
    """The environment `prefect server start` runs in here: its own home and database, no analytics, no UI."""
    return {**os.environ, "PREFECT_HOME": str(workdir / "prefect-home"),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
            "PREFECT_LOGGING_SERVER_LEVEL": "WARNING"}


def start_prefect(workdir: Path, database: str, venv: Path = ROOT / ".venv-prefect") -> tuple[Service, str]:
    port = free_port()
    prefect = Path(venv) / "bin" / "prefect"
    if not prefect.exists():
        raise SystemExit(f"{prefect} is missing: run scripts/prefect-env.sh (or make that venv)")
    env = prefect_env(workdir, database)
    server = Service("prefect server start", [str(prefect), "server", "start", "--host", "127.0.0.1", "--port",
                                              str(port)], env, workdir / "prefect.log")
    server.wait_http(f"http://127.0.0.1:{port}/api/health")
    return server, f"http://127.0.0.1:{port}/api"


# --- one measured run ---------------------------------------------------------------------------------------
def measure(label: str, server: Service, database: str, mode: str, url: str, key: str | None, size: tuple,
            extra_env: dict | None = None, *, analyze: bool = True) -> dict:
    P, F, T = size
    timings: dict = defaultdict(list)
    client_before = _children_cpu()
    with contextlib.ExitStack() as stack:
        # Statistics kept up to date while the mode runs (Analyzer), by a backend the meter leaves out.
        exclude = frozenset([stack.enter_context(Analyzer(database)).pid]) if analyze else frozenset()
        meter = stack.enter_context(CpuMeter(server.proc.pid, database, exclude))
        start = time.perf_counter()
        if mode.startswith("client"):
            flows.run_client(url, key, P, F, T, timings, extra_env=extra_env)
        else:
            errors: list = []
            threads = [threading.Thread(target=flows.api_worker, args=(url, key, F, T, timings, errors))
                       for _ in range(P)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise SystemExit(f"{label} {mode}: {len(errors)} worker(s) failed: {errors[0]}")
        elapsed = time.perf_counter() - start
    task_runs, flow_runs = P * F * T, P * F
    requests = sum(len(v) for v in timings.values())
    result = {"label": label, "mode": mode, "size": f"{P}x{F}x{T}", "seconds": elapsed,
              "flow_runs_s": flow_runs / elapsed, "task_runs_s": task_runs / elapsed, "requests": requests,
              "requests_s": requests / elapsed, "server_cpu": meter.seconds("server"),
              "pg_cpu": meter.seconds("postgres"), "client_cpu": _children_cpu() - client_before,
              "task_runs": task_runs, "load": os.getloadavg()[0],
              "endpoints": {name: (flows.percentile(v, 50), flows.percentile(v, 95), flows.percentile(v, 99),
                                   len(v)) for name, v in timings.items()}}
    print_result(result)
    return result


def print_result(r: dict) -> None:
    per_k = 1000 / r["task_runs"]
    print(f"\n== {r['label']}, {r['mode']} mode {r['size']}: {r['seconds']:.1f} s (load average at end "
          f"{r['load']:.2f})")
    print(f"   flow runs/s {r['flow_runs_s']:.2f}   task runs/s {r['task_runs_s']:.2f}   "
          f"requests {r['requests']}  requests/s {r['requests_s']:.1f}")
    per_request = r["server_cpu"] / r["requests"] * 1000 if r["requests"] else float("nan")
    print(f"   CPU s per 1,000 task runs: server {r['server_cpu'] * per_k:.1f}  PostgreSQL {r['pg_cpu'] * per_k:.1f}"
          f"  client {r['client_cpu'] * per_k:.1f}   (server {per_request:.2f} ms per request)")
    for name, (p50, p95, p99, n) in sorted(r["endpoints"].items(), key=lambda item: -item[1][3]):
        print(f"   {name:48s} n={n:6d}  p50 {p50 * 1000:7.2f}  p95 {p95 * 1000:7.2f}  p99 {p99 * 1000:7.2f} ms")


def print_ratios(ours: dict, theirs: dict) -> None:
    def ratio(a, b):
        return a / b if b else float("nan")

    ours_cpu, theirs_cpu = ours["server_cpu"] / ours["task_runs"], theirs["server_cpu"] / theirs["task_runs"]
    print(f"\n>> {ours['mode']} mode (praetor) vs {theirs['mode']} mode (prefect): "
          f"task runs/s x{ratio(ours['task_runs_s'], theirs['task_runs_s']):.2f}   "
          f"requests/s x{ratio(ours['requests_s'], theirs['requests_s']):.2f}   server CPU per task run "
          f"{ours_cpu * 1000:.1f} ms vs {theirs_cpu * 1000:.1f} ms = {ratio(ours_cpu, theirs_cpu):.3f} of Prefect's   "
          f"PostgreSQL CPU per task run {ours['pg_cpu'] / ours['task_runs'] * 1000:.1f} ms vs "
          f"{theirs['pg_cpu'] / theirs['task_runs'] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", nargs=3, type=int, default=[4, 25, 10], metavar=("P", "F", "T"))
    parser.add_argument("--api", nargs=3, type=int, default=[4, 25, 10], metavar=("P", "F", "T"))
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2),
                        help="gunicorn worker processes of this server (WEB_CONCURRENCY)")
    parser.add_argument("--polls-workers", type=int, default=8)
    parser.add_argument("--polls-seconds", type=float, default=30)
    parser.add_argument("--polls-interval", type=float, default=1.0)
    parser.add_argument("--polls-jitter", type=float, default=0.3,
                        help="jitter_range of the pollers' wait, as prefect's worker (0: in step)")
    parser.add_argument("--polls-client-nice", type=int, default=0, metavar="N",
                        help="run the flows workload behind the polls at nice N: on a 2-core box its client processes "
                             "stand in for customers' machines and otherwise take the CPUs the server and pollers need")
    parser.add_argument("--polls-prefect", action="store_true", help="also run the poll benchmark against Prefect")
    parser.add_argument("--skip", action="append", default=[], choices=["prefect", "client", "api", "polls"])
    parser.add_argument("--database", default="praetor_bench", help="this server's database (dropped, made anew)")
    parser.add_argument("--prefect-database", default="prefect_bench", help="prefect's (dropped, made anew)")
    parser.add_argument("--server-python", default=str(ROOT / ".venv" / "bin" / "python"),
                        help="the interpreter that runs this server (migrate, gunicorn): another venv to compare")
    parser.add_argument("--prefect-venv", default=str(ROOT / ".venv-prefect"),
                        help="the venv whose `prefect server start` is measured (prefect 2.20), another interpreter "
                             "beside --server-python's, to run both servers on it (the client stays .venv-prefect's)")
    parser.add_argument("--json", help="write every figure to this file")
    parser.add_argument("--pairs", type=int, default=0, metavar="N",
                        help="instead of the modes one after the other: both servers up at once, N pairs of runs "
                             "(client-oss against Prefect's client mode, then API mode against its API mode), the "
                             "order within a pair alternating; prints each pair's ratios, their median and the ratio "
                             "of the sums (see run_pairs)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="no ANALYZE when a mode starts and every 5 s while it runs (as before 2026-12-06: with "
                             "autovacuum off the planner then has no statistics; see Analyzer)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop_all)
    signal.signal(signal.SIGINT, _stop_all)
    workdir = Path(tempfile.mkdtemp(prefix="praetor-compare-"))
    print(f"logs in {workdir}; machine load average {os.getloadavg()} on {os.cpu_count()} cores; PostgreSQL autovacuum "
          f"{'on' if autovacuum_on() else 'off'}; "
          f"{'no ANALYZE' if args.no_analyze else 'ANALYZE every 5 s during each mode'}")
    if args.pairs:
        run_pairs(args, workdir)
        return
    results: list[dict] = []
    try:
        fresh_database(args.database)
        praetor, url, key, cloud = start_praetor(workdir, args.database, args.workers, args.server_python)
        cloud_env = {"PREFECT_CLOUD_API_URL": cloud}
        flows.api_worker(url, key, 1, 2, defaultdict(list), [])  # warm both workers' imports up
        flows.api_worker(url, key, 1, 2, defaultdict(list), [])
        if "client" not in args.skip:
            results.append(measure("praetor", praetor, args.database, "client", url, key, tuple(args.client),
                                   cloud_env, analyze=not args.no_analyze))
            # The same client work as against prefect server: not logged in as to Cloud, so the client
            # streams no events (in Cloud mode it spends far more CPU of its own, on the same box).
            results.append(measure("praetor", praetor, args.database, "client-oss", url, key,
                                   tuple(args.client), analyze=not args.no_analyze))
        if "api" not in args.skip:
            results.append(measure("praetor", praetor, args.database, "api", url, key, tuple(args.api),
                                   analyze=not args.no_analyze))
        if "polls" not in args.skip:
            with Analyzer(args.database) if not args.no_analyze else contextlib.nullcontext():
                results.append(run_polls("praetor", url, key, args, cloud_env))
        praetor.stop()
        if "prefect" not in args.skip:
            fresh_database(args.prefect_database)
            prefect, purl = start_prefect(workdir, args.prefect_database, args.prefect_venv)
            flows.api_worker(purl, None, 1, 2, defaultdict(list), [])
            if "client" not in args.skip:
                results.append(measure("prefect 2.20", prefect, args.prefect_database, "client", purl, None,
                                       tuple(args.client), analyze=not args.no_analyze))
            if "api" not in args.skip:
                results.append(measure("prefect 2.20", prefect, args.prefect_database, "api", purl, None,
                                       tuple(args.api), analyze=not args.no_analyze))
            if "polls" not in args.skip and args.polls_prefect:
                with Analyzer(args.prefect_database) if not args.no_analyze else contextlib.nullcontext():
                    results.append(run_polls("prefect 2.20", purl, None, args, {}))
            prefect.stop()
    finally:
        _stop_clients()
        for service in list(Service.running):
            service.stop()
    by = {(r["label"], r["mode"]): r for r in results}
    print("\n===== summary")
    for r in results:
        if r["mode"] != "polls":
            print_result(r)
    for ours, theirs in (("client", "client"), ("client-oss", "client"), ("api", "api")):
        if ("praetor", ours) in by and ("prefect 2.20", theirs) in by:
            print_ratios(by[("praetor", ours)], by[("prefect 2.20", theirs)])
    for r in results:
        if r["mode"] == "polls":
            print(f"\n>> polls against {r['label']}: p50 {r['poll_p50_ms']:.1f} ms  p99 {r['poll_p99_ms']:.1f} ms  "
                  f"pick-up delay p50 {r['delay_p50_s']:.3f} s  p99 {r['delay_p99_s']:.3f} s  (interval "
                  f"{r['interval']:.1f} s, jitter {r['jitter']}; {r['claimed']} of {r['created']} runs claimed; flows "
                  f"workload at nice {r['client_nice']})")
    print(f"\nmachine load average at the end {os.getloadavg()}; logs in {workdir}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


def run_pairs(args, workdir: Path) -> None:
    """`--pairs N`: the machine's speed drifts by tens of percent within minutes (other tenants of the host: the
    client processes' own CPU per task run moves with it), so two servers measured minutes apart can differ by the
    drift alone. Here both servers run at once (idle between their runs) and each pair measures them back to back,
    this server first in odd pairs and Prefect first in even ones, so a trend over a pair favours neither. Per pair
    the ratios of server CPU per task run and of task runs/s (client-oss against Prefect's client mode, the same
    client work, and API mode against API mode); then the median of each ratio over the pairs and the ratio of the
    summed CPU. Every run is printed as `measure` prints it; `--json` writes them all with the pairs' ratios."""
    results: list[dict] = []
    pairs: list[dict] = []
    analyze = not args.no_analyze
    try:
        fresh_database(args.database)
        fresh_database(args.prefect_database)
        praetor, url, key, _ = start_praetor(workdir, args.database, args.workers, args.server_python)
        prefect, purl = start_prefect(workdir, args.prefect_database, args.prefect_venv)
        for _ in range(2):  # warm both of this server's workers up, and Prefect's imports
            flows.api_worker(url, key, 1, 2, defaultdict(list), [])
        flows.api_worker(purl, None, 1, 2, defaultdict(list), [])
        ours = {"client": ("client-oss", url, key), "api": ("api", url, key)}
        theirs = {"client": ("client", purl, None), "api": ("api", purl, None)}
        for n in range(args.pairs):
            pair = {"pair": n + 1}
            for kind, size in (("client", tuple(args.client)), ("api", tuple(args.api))):
                runs = [("praetor", praetor, args.database, *ours[kind]),
                        ("prefect 2.20", prefect, args.prefect_database, *theirs[kind])]
                if n % 2:
                    runs.reverse()
                got = {}
                for label, server, database, mode, run_url, run_key in runs:
                    got[label] = measure(label, server, database, mode, run_url, run_key, size, analyze=analyze)
                    results.append({**got[label], "pair": n + 1})
                a, b = got["praetor"], got["prefect 2.20"]
                pair[kind] = {"cpu_ratio": (a["server_cpu"] / a["task_runs"]) / (b["server_cpu"] / b["task_runs"]),
                              "rate_ratio": a["task_runs_s"] / b["task_runs_s"],
                              "ours_ms": a["server_cpu"] / a["task_runs"] * 1000,
                              "theirs_ms": b["server_cpu"] / b["task_runs"] * 1000}
            pairs.append(pair)
    finally:
        _stop_clients()
        for service in list(Service.running):
            service.stop()
    print("\n===== pairs (server CPU per task run, ours / Prefect's = ratio; task runs/s ratio)")
    for pair in pairs:
        c, a = pair["client"], pair["api"]
        print(f"   pair {pair['pair']}: client-oss {c['ours_ms']:.1f} / {c['theirs_ms']:.1f} ms = "
              f"{c['cpu_ratio']:.3f}, x{c['rate_ratio']:.2f} task runs/s;   "
              f"api {a['ours_ms']:.1f} / {a['theirs_ms']:.1f} ms = {a['cpu_ratio']:.3f}, x{a['rate_ratio']:.2f}")
    for kind, mode in (("client", "client-oss"), ("api", "api")):
        ratios = sorted(p[kind]["cpu_ratio"] for p in pairs)
        rates = sorted(p[kind]["rate_ratio"] for p in pairs)
        ours_runs = [r for r in results if r["label"] == "praetor" and r["mode"] == mode]
        their_runs = [r for r in results if r["label"] == "prefect 2.20" and r["mode"] == kind]
        summed = ((sum(r["server_cpu"] for r in ours_runs) / sum(r["task_runs"] for r in ours_runs))
                  / (sum(r["server_cpu"] for r in their_runs) / sum(r["task_runs"] for r in their_runs)))
        print(f">> {mode}: server CPU per task run, median of {len(ratios)} pairs {statistics.median(ratios):.3f} of "
              f"Prefect's (range {ratios[0]:.3f}-{ratios[-1]:.3f}; summed {summed:.3f});   task runs/s median "
              f"x{statistics.median(rates):.2f} (range x{rates[0]:.2f}-x{rates[-1]:.2f})")
    print(f"\nmachine load average at the end {os.getloadavg()}; logs in {workdir}")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "pairs": pairs}, indent=1, default=str))


def run_polls(label: str, url: str, key: str | None, args, extra_env: dict) -> dict:
    """The poll benchmark while the client workload runs (P x F/2 x T) against the same server."""
    P, F, T = args.client
    background = threading.Thread(target=flows.run_client,
                                  args=(url, key, P, max(1, F // 2), T, None, extra_env, args.polls_client_nice),
                                  daemon=True)
    background.start()
    figures = polls.run(url, key, workers=args.polls_workers, seconds=args.polls_seconds,
                        interval=args.polls_interval, per_second=5, queues=3, jitter=args.polls_jitter)
    background.join()
    return {"label": label, "mode": "polls", "client_nice": args.polls_client_nice, **figures}


if __name__ == "__main__":
    main()
