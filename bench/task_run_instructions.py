"""Server instructions per task run (valgrind's callgrind, user space; the kernel is not counted) of this server and
of Prefect 2.20's under the same real-client workload, and natively their CPU per task run: the issue's "server CPU
per task run at most one tenth of Prefect's" judged without this machine's drift in cost per instruction.

The servers, each on a fresh PostgreSQL database of its own (127.0.0.1:5432), migrated natively beforehand:

- this one: config/http_server's Server as gunicorn's worker builds it (`bench/instructions.py serve`: config.asgi,
  production settings, bench/servers.py's production_env), in a process of its own, without gunicorn's fork (vgdb,
  which `callgrind_control` uses, does not reach a forked child); PRAETOR_AUTH_CACHE_SECONDS=3600 and
  DB_CONN_MAX_AGE=600, so that work done per period of time does not weigh ~100x more under valgrind's slowdown;
- Prefect's: what `prefect server start` runs (prefect/cli/server.py: `python -m uvicorn --app-dir … --factory
  prefect.server.api.server:create_app --host --port --timeout-keep-alive 5` with the environment it sets: loop
  services on, analytics and UI off), started directly, so that vgdb reaches the process that serves.

`count`: each server under `valgrind --tool=callgrind --instr-atstart=no --trace-children=yes`; instrumentation on
after start-up, a warm-up run of the client (1 x 1 x T), then `callgrind_control -z` / `-d` around: an idle pause
(`--idle` s: the loop services' timers; again at the end), and the real prefect 2.20 client (bench/flows.py's
client, not logged in as to Cloud: client-oss mode) running 1 process x F flows x T tasks for each F of `--flows`.
Per task run: each run less the idle rate x its time, and the difference of the two sizes (start-up of a client
process cancels). Requests per task run from the client's own count; the functions' object files per task run.

`cpu`: the same two servers natively, client runs (1 x F x T) alternated between them in `--rounds`; the serving
process's user and system CPU per task run (/proc/PID/stat), less an idle pause's rate; with `--counts` (a `count
--json` file) ns of user CPU per instruction.

    .venv/bin/python bench/task_run_instructions.py count [--flows 2 4] [-T 10] [--idle 60] [--json counts.json]
    .venv/bin/python bench/task_run_instructions.py cpu [-F 10] [-T 10] [--rounds 3] [--counts counts.json]
    .venv/bin/python bench/task_run_instructions.py ab --config bench/hugepages.conf.py --variant base \\
        --variant thp PRAETOR_BENCH_HUGEPAGES=worker --variant base2 [--client 2 5 10] [--rounds 8]

`ab`: this server only, as deployed (gunicorn, 2 workers), once per variant of its environment, client runs
alternated between them; see `ab`'s docstring.

Databases praetor_taskrun_cg_<checkout> and prefect_taskrun_cg_<checkout> are made anew and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flows
from compare import PG, fresh_database, prefect_env, prepare_praetor
from instructions import Counted, _control
from servers import Service, free_port, production_env, thread_ns

ROOT = flows.ROOT
# named after the checkout: helpers' worktrees run this at the same time on one PostgreSQL, and each run drops its own
_CHECKOUT = re.sub(r"[^a-z0-9_]", "_", ROOT.name.lower())
DATABASES = {"praetor": f"praetor_taskrun_cg_{_CHECKOUT}", "prefect": f"prefect_taskrun_cg_{_CHECKOUT}"}
VALGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no", "--trace-children=yes"]
PREFECT_PYTHON = ROOT / ".venv-prefect" / "bin" / "python"


def _prefect_module_dir() -> str:
    import subprocess

    return subprocess.run([str(PREFECT_PYTHON), "-c", "import prefect; print(prefect.__module_path__.parent)"],
                          check=True, capture_output=True, text=True).stdout.strip()


def prepare(work: Path) -> dict:
    """Fresh, migrated databases; {server: (server's env, API path, key)}."""
    import subprocess

    for name in DATABASES.values():
        fresh_database(name)
    path, key = prepare_praetor(DATABASES["praetor"])
    theirs = {**prefect_env(work, DATABASES["prefect"]),
              # what `prefect server start` adds (prefect/cli/server.py), at their defaults
              "PREFECT_API_SERVICES_SCHEDULER_ENABLED": "True", "PREFECT_API_SERVICES_LATE_RUNS_ENABLED": "True",
              "PREFECT_API_SERVICES_UI": "False"}
    subprocess.run([str(ROOT / ".venv-prefect" / "bin" / "prefect"), "server", "database", "upgrade", "-y"],
                   env=theirs, check=True, capture_output=True)
    return {"praetor": ({**production_env(DATABASES["praetor"], 0, 1), "PRAETOR_AUTH_CACHE_SECONDS": "3600",
                         "DB_CONN_MAX_AGE": "600"}, path, key),
            "prefect": (theirs, "/api", None)}


def start(which: str, env: dict, path: str, work: Path, prefix: list[str]) -> tuple[Service, str]:
    """The server started (under `prefix`, e.g. valgrind); returns it and its API URL once it answers."""
    port = free_port()
    if which == "praetor":
        env = {**env, "PRAETOR_BIND": f"127.0.0.1:{port}"}
        cmd = [sys.executable, str(ROOT / "bench" / "instructions.py"), "serve", str(port)]
        health = "/health"
    else:
        cmd = [str(PREFECT_PYTHON), "-m", "uvicorn", "--app-dir", _prefect_module_dir(), "--factory",
               "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
               "--timeout-keep-alive", "5"]
        health = "/api/health"
    server = Service(which, [*prefix, *cmd], env, work / f"{which}.log")
    server.wait_http(f"http://127.0.0.1:{port}{health}", timeout=1200)
    return server, f"http://127.0.0.1:{port}{path}"


def _client(url: str, key: str | None, flows_: int, tasks: int) -> int:
    """One client process running `flows_` flows of `tasks` tasks; returns the requests it sent."""
    timings: dict = defaultdict(list)
    flows.run_client(url, key, 1, flows_, tasks, timings, extra_env={"PREFECT_API_REQUEST_TIMEOUT": "900"})
    return sum(len(v) for v in timings.values())


def _analyze(which: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/{DATABASES[which]}", autocommit=True) as conn:
        conn.execute("ANALYZE")


def _objects(functions: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for name, n in functions.items():
        out[Path(name.rsplit(" [", 1)[-1].rstrip("]")).name if " [" in name else "?"] += n
    return out


def count(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="praetor-taskrun-cg-"))
    print(f"dumps and logs in {work}; load average {os.getloadavg()}", flush=True)
    servers = prepare(work)
    if args.no_loop_services:  # a check on the idle subtraction: Prefect's timers off (not its event services',
        # which 2.20 starts whatever the settings say: `PREFECT_EXPERIMENTAL_EVENTS` tested without `.value()`)
        servers["prefect"][0].update({f"PREFECT_API_SERVICES_{name}_ENABLED": "False" for name in (
            "SCHEDULER", "LATE_RUNS", "PAUSE_EXPIRATIONS", "CANCELLATION_CLEANUP", "FLOW_RUN_NOTIFICATIONS",
            "FOREMAN")})
    results: dict = {}
    try:
        for which, (env, path, key) in servers.items():
            if args.only and which != args.only:
                continue
            out = work / f"cg-{which}"
            started = time.time()
            server, url = start(which, env, path, work, [*VALGRIND, f"--callgrind-out-file={out}.%p"])
            pid = server.proc.pid
            _control(pid, "-i", "on")
            _client(url, key, 1, args.T)  # warm-up, instrumentation on
            counted = Counted(pid, out)
            idle = [counted.measure(lambda: time.sleep(args.idle))]
            runs = {}
            for n in args.flows:
                _analyze(which)
                requests: list[int] = []
                measured = counted.measure(lambda: requests.append(_client(url, key, n, args.T)))  # noqa: B023 - at once
                runs[n] = (*measured, requests[0])
                print(f"  {which} 1x{n}x{args.T}: {measured[0]:,} instructions in {measured[2]:.0f} s, "
                      f"{requests[0]} requests", flush=True)
            idle.append(counted.measure(lambda: time.sleep(args.idle)))
            server.stop()
            rate = sum(i[0] for i in idle) / sum(i[2] for i in idle)
            print(f"  {which}: idle {', '.join(f'{i[0] / i[2]:,.0f}' for i in idle)} instructions/s; "
                  f"{time.time() - started:.0f} s in all (load average {os.getloadavg()[0]:.2f})", flush=True)
            results[which] = {"idle_rate": rate, "idle": [i[0] / i[2] for i in idle], "runs": {
                n: {"instructions": total, "seconds": seconds, "requests": requests, "net": total - rate * seconds,
                    "objects": _objects(functions)} for n, (total, functions, seconds, requests) in runs.items()}}
    finally:
        for service in list(Service.running):
            service.stop()
        drop()
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def report(results: dict, args) -> None:
    small, large = args.flows[0], args.flows[-1]
    print(f"\nserver instructions per task run (callgrind, user space; 1 client process x F flows x {args.T} tasks; "
          f"idle rate x time subtracted)")
    per: dict = {}
    for which, r in results.items():
        runs = r["runs"]
        for n, run in runs.items():
            tr = n * args.T
            print(f"  {which:8} F={n}: {run['net'] / tr:12,.0f} a task run  {run['requests'] / tr:5.2f} requests a "
                  f"task run  {run['net'] / run['requests']:11,.0f} a request  ({run['seconds']:.0f} s; idle "
                  f"{r['idle_rate'] * run['seconds'] / run['instructions']:.1%} of the count)")
        a, b = runs[small], runs[large]
        tr = (large - small) * args.T
        per[which] = (b["net"] - a["net"]) / tr
        print(f"  {which:8} F={large} - F={small}: {per[which]:12,.0f} a task run  "
              f"{(b['requests'] - a['requests']) / tr:5.2f} requests a task run  "
              f"{(b['net'] - a['net']) / (b['requests'] - a['requests']):11,.0f} a request  (without the idle rate "
              f"subtracted {(b['instructions'] - a['instructions']) / tr:,.0f} a task run)")
        objects = b["objects"]
        total = sum(objects.values())
        print(f"           by object (F={large}): " + ", ".join(
            f"{o} {v / total:.0%}" for o, v in sorted(objects.items(), key=lambda kv: -kv[1])[:6]))
    if len(per) == 2:
        print(f"\n>> instructions per task run, ours / Prefect's: {per['praetor'] / per['prefect']:.3f} (difference of "
              f"the two sizes); F={large} alone: "
              f"{results['praetor']['runs'][large]['net'] / results['prefect']['runs'][large]['net']:.3f}")


def _cpu(pid: int) -> tuple[float, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="praetor-taskrun-cpu-"))
    print(f"logs in {work}; load average {os.getloadavg()}", flush=True)
    counts = json.loads(Path(args.counts).read_text()) if args.counts else None
    servers = prepare(work)
    try:
        up = {}
        for which, (env, path, key) in servers.items():
            server, url = start(which, env, path, work, [])
            _client(url, key, 1, args.T)  # warm-up
            up[which] = (server.proc.pid, url, key)
        tr = args.F * args.T
        print(f"server CPU per task run natively (1 client process x {args.F} x {args.T}; µs; idle rate subtracted)")
        for n in range(args.rounds):
            for which in (("praetor", "prefect") if n % 2 == 0 else ("prefect", "praetor")):
                pid, url, key = up[which]
                _analyze(which)
                u0, s0 = _cpu(pid)
                time.sleep(args.idle)
                u1, s1 = _cpu(pid)
                t0 = time.perf_counter()
                requests = _client(url, key, args.F, args.T)
                seconds = time.perf_counter() - t0
                u2, s2 = _cpu(pid)
                user = (u2 - u1) - (u1 - u0) / args.idle * seconds
                system = (s2 - s1) - (s1 - s0) / args.idle * seconds
                row = (f"  round {n + 1} {which:8} user {user / tr * 1e6:8,.0f}  system {system / tr * 1e6:7,.0f}  "
                       f"per request user {user / requests * 1e6:6,.0f}  ({requests / tr:.2f} requests a task run, "
                       f"{seconds:.1f} s, load {os.getloadavg()[0]:.2f})")
                if counts and which in counts:  # (a `count --only` file holds one server's)
                    c = counts[which]
                    small, large = sorted(int(k) for k in c["runs"])
                    a, b = c["runs"][str(small)], c["runs"][str(large)]
                    per_task_run = (b["net"] - a["net"]) / ((large - small) * args.T)
                    row += f"  ns/instruction {user / tr * 1e9 / per_task_run:.3f}"
                print(row, flush=True)
    finally:
        for service in list(Service.running):
            service.stop()
        drop()


def _workers(master: int) -> list[int]:
    """The gunicorn master's child processes (its workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    out.append(int(entry.name))
            except OSError:
                continue
    return sorted(out)


def _tree_ns(master: int) -> int:
    """CPU time (user + system, ns: /proc/PID/task/TID/schedstat) of the master's and its workers' threads alive now;
    the request threads live as long as their worker, so a run loses none of theirs."""
    return sum(thread_ns(pid) for pid in (master, *_workers(master)))


def _memory(pid: int) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if parts and parts[0].rstrip(":") in ("Rss", "Pss", "AnonHugePages", "FilePmdMapped"):
                out[parts[0].rstrip(":")] = int(parts[1])
    return out


def ab(args) -> None:
    """`ab`: this server as deployed (gunicorn, deploy/gunicorn.conf.py, `--workers` workers) once per `--variant`
    (a name and KEY=VALUE environment settings), all on one database, client runs (P x F x T, client-oss) alternated
    between them in `--rounds` (the order rotated each round); per run the CPU of each server's process tree (master
    and workers, /proc, compare.py's CpuMeter) per task run, and its workers' Rss, Pss, AnonHugePages and
    FilePmdMapped (/proc/PID/smaps_rollup, KiB, summed over the workers). The CPU figure is the threads' schedstat
    (ns; clock ticks of /proc/PID/stat, 10 ms, shown beside it, are too coarse for a run of a few seconds)."""
    import statistics

    import psycopg
    from compare import CpuMeter
    from servers import start_gunicorn

    work = Path(tempfile.mkdtemp(prefix="praetor-ab-"))
    print(f"logs in {work}; load average {os.getloadavg()}", flush=True)
    variants = {}
    for spec in args.variant:
        name, *settings = spec
        variants[name] = dict(s.split("=", 1) for s in settings)
    database = f"praetor_ab_{ROOT.name}"  # this checkout's own: other checkouts run `count`/`cpu` on DATABASES's
    fresh_database(database)
    path, key = prepare_praetor(database)
    P, F, T = args.client
    tr = P * F * T
    rows: dict = defaultdict(list)
    try:
        up = {}
        for name, extra in variants.items():
            env = {**production_env(database, free_port(), args.workers), **extra}
            server, url = start_gunicorn(sys.executable, env, work / f"{name}.log", args.config)
            for _ in range(args.workers):
                _client(f"{url}{path}", key, 1, T)  # warm-up
            up[name] = (server, f"{url}{path}")
        print(f"server CPU per task run (µs, user+system of master and workers; client-oss {P}x{F}x{T}); "
              f"workers' memory summed (MiB)", flush=True)
        names = list(variants)
        for n in range(args.rounds):
            for name in names[n % len(names):] + names[:n % len(names)]:
                server, url = up[name]
                with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
                    conn.execute("ANALYZE")
                ns0 = _tree_ns(server.proc.pid)
                with CpuMeter(server.proc.pid, database) as meter:
                    t0 = time.perf_counter()
                    timings: dict = defaultdict(list)
                    flows.run_client(url, key, P, F, T, timings, extra_env={"PREFECT_API_REQUEST_TIMEOUT": "900"})
                    seconds = time.perf_counter() - t0
                ns = _tree_ns(server.proc.pid) - ns0
                requests = sum(len(v) for v in timings.values())
                mem: dict = defaultdict(int)
                for pid in _workers(server.proc.pid):
                    for k, v in _memory(pid).items():
                        mem[k] += v
                cpu_ = ns / tr / 1e3
                rows[name].append(cpu_)
                ticks = meter.seconds("server") / tr * 1e6
                print(f"  round {n + 1} {name:12} {cpu_:7,.0f} µs a task run (ticks: {ticks:5,.0f}"
                      f"; postgres {meter.seconds('postgres') / tr * 1e6:5,.0f})  ({requests / tr:.2f} requests a task "
                      f"run, {seconds:5.1f} s, load {os.getloadavg()[0]:.2f})  Rss {mem['Rss'] / 1024:6.1f}  Pss "
                      f"{mem['Pss'] / 1024:6.1f}  AnonHugePages {mem['AnonHugePages'] / 1024:5.1f}  FilePmdMapped "
                      f"{mem['FilePmdMapped'] / 1024:4.1f}", flush=True)
    finally:
        for service in list(Service.running):
            service.stop()
        drop([database])
    base = names[0]
    print(f"\nper round, each variant / {base}:")
    for name in names[1:]:
        ratios = [b / a for a, b in zip(rows[base], rows[name], strict=False)]
        print(f"  {name:12} " + "  ".join(f"{r:.3f}" for r in ratios) + f"   median {statistics.median(ratios):.3f}"
              f"  (lower in {sum(r < 1 for r in ratios)} of {len(ratios)})")
    for name in names:
        print(f"  {name:12} median {statistics.median(rows[name]):,.0f} µs a task run")


def drop(names=None) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        for name in names or DATABASES.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    c = sub.add_parser("count")
    c.add_argument("--flows", nargs=2, type=int, default=[2, 4], help="flows of the two measured client runs")
    c.add_argument("-T", type=int, default=10, help="tasks a flow")
    c.add_argument("--idle", type=float, default=60, help="seconds of each idle measurement")
    c.add_argument("--json")
    c.add_argument("--no-loop-services", action="store_true", help="Prefect's loop services (scheduler, late runs, "
                   "pause expirations, cancellation clean-up, notifications, foreman) off")
    c.add_argument("--only", choices=list(DATABASES), help="count one server only")
    p = sub.add_parser("cpu")
    p.add_argument("-F", type=int, default=10)
    p.add_argument("-T", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--idle", type=float, default=5)
    p.add_argument("--counts", help="a `count --json` file: ns per instruction")
    v = sub.add_parser("ab", help="this server as deployed under variants of its environment, alternated")
    v.add_argument("--variant", nargs="+", action="append", required=True, metavar="NAME [KEY=VALUE ...]",
                   help="a variant's name and environment settings; the first is the base (e.g. --variant base "
                   "--variant thp PRAETOR_BENCH_HUGEPAGES=worker with --config bench/hugepages.conf.py)")
    v.add_argument("--client", nargs=3, type=int, default=[2, 5, 10], metavar=("P", "F", "T"))
    v.add_argument("--rounds", type=int, default=4)
    v.add_argument("--workers", type=int, default=2)
    v.add_argument("--config", default="deploy/gunicorn.conf.py", help="gunicorn's config file, for every variant")
    args = parser.parse_args()
    {"count": count, "cpu": cpu, "ab": ab}[args.part](args)


if __name__ == "__main__":
    main()
