"""Why the API mode of a full bench/compare.py run is slower than on a fresh server: one server (gunicorn as
compare.py starts it, production settings), a sequence of measured phases against it, and between phases what
the server processes and their database look like.

    .venv/bin/python bench/drift.py --database praetor_drift_x --phases api,client,api,restart,api
    .venv/bin/python bench/drift.py --database praetor_drift_x --keep --phases api,client-oss,api

Phases: `api` (bench/flows.py api, --api P F T), `client` (the prefect 2.20 client logged in as to Cloud: the
events websocket), `client-oss` (the same client, no events), `restart` (stop gunicorn, start a fresh one on the
same database and workspace), `restart-new` (the same in a new workspace, as compare.py makes one), `wait:S`
(sleep S seconds, then probe), `analyze` (ANALYZE the database once), `probe`. During each measured phase the
database is ANALYZEd every 5 s as compare.py does (its Analyzer) unless --no-analyze. Each measured phase prints
compare.py's figures
(server and PostgreSQL CPU from /proc); after each phase: per gunicorn worker its RSS, threads and open files, and
per connection to the database its state, how long its transaction has been open and the age of its xmin
(pg_stat_activity), and the dead rows of the busiest tables (pg_stat_user_tables). With
PRAETOR_BENCH_GC_LOG set, each worker also appends its gc figures (passes per generation, objects collected,
seconds spent, objects tracked) to that file every second (bench/drift_probe.conf.py, loaded instead of
deploy/gunicorn.conf.py with --probe).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import compare
import flows

PG = compare.PG


def _status(pid: int) -> dict:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "Threads"):
                out[name] = value.strip()
        out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return out


def _workers(root: int) -> list[int]:
    return sorted(p for p in flows._children(root))


def probe(server: compare.Service, database: str, gc_log: str | None) -> dict:
    import psycopg

    figures: dict = {"workers": {}}
    for pid in _workers(server.proc.pid):
        figures["workers"][pid] = _status(pid)
    with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
        rows = conn.execute(
            "select pid, state, backend_type, coalesce(extract(epoch from now() - xact_start), -1)::int,"
            " coalesce(age(backend_xmin), -1), coalesce(age(backend_xid), -1),"
            " coalesce(extract(epoch from now() - backend_start), -1)::int, left(query, 60)"
            " from pg_stat_activity where datname = %s and pid <> pg_backend_pid() order by pid",
            (database,)).fetchall()
        figures["connections"] = [dict(zip(("pid", "state", "type", "xact_s", "xmin_age", "xid_age", "age_s", "query"),
                                           r, strict=True)) for r in rows]
        figures["oldest_xmin_cluster"] = conn.execute(
            "select datname, pid, state, age(backend_xmin), extract(epoch from now() - xact_start)::int"
            " from pg_stat_activity where backend_xmin is not null and pid <> pg_backend_pid()"
            " order by age(backend_xmin) desc limit 3").fetchall()
        figures["counters"] = {r[0]: r[1:] for r in conn.execute(
            "select s.relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0),"
            " heap_blks_hit + heap_blks_read, coalesce(idx_blks_hit, 0) + coalesce(idx_blks_read, 0)"
            " from pg_stat_user_tables s join pg_statio_user_tables io using (relid)").fetchall()}
        figures["counters"]["(database)"] = conn.execute(
            "select xact_commit, tup_returned, tup_fetched, tup_inserted + tup_updated + tup_deleted, blks_hit,"
            " sessions from pg_stat_database where datname = %s", (database,)).fetchone()
        figures["tables"] = conn.execute(
            "select relname, n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, last_autovacuum is not null,"
            " last_autoanalyze is not null from pg_stat_user_tables order by n_dead_tup desc limit 8").fetchall()
    if gc_log and Path(gc_log).exists():
        last = {}
        for line in Path(gc_log).read_text().splitlines():
            row = json.loads(line)
            last[row["pid"]] = row
        figures["gc"] = last
    return figures


COUNTERS = ("seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "heap_blks", "idx_blks")


def print_counters(before: dict, after: dict, task_runs: int) -> None:
    """What PostgreSQL did per task run over a phase, by table (cumulative counters, load-independent)."""
    totals = [0] * len(COUNTERS)
    rows = []
    old, new = before.get("(database)"), after["(database)"]
    if old is not None:
        names = ("commits", "tup_returned", "tup_fetched", "tup_written", "blks_hit", "sessions")
        print("   database, per task run: " + "  ".join(
            f"{n} {(b - a) / task_runs:.2f}" for n, a, b in zip(names, old, new, strict=True)))
    for table, values in after.items():
        if table == "(database)":
            continue
        old = before.get(table, (0,) * len(COUNTERS))
        diff = [a - b for a, b in zip(values, old, strict=True)]
        totals = [t + d for t, d in zip(totals, diff, strict=True)]
        if any(diff):
            rows.append((table, diff))
    print("   per task run: " + "  ".join(f"{n} {t / task_runs:.1f}" for n, t in zip(COUNTERS, totals, strict=True)))
    for table, diff in sorted(rows, key=lambda r: -(r[1][5] + r[1][4]))[:6]:
        print(f"     {table:32s} " + "  ".join(f"{n} {d / task_runs:.1f}" for n, d in zip(COUNTERS, diff, strict=True)))


def print_probe(label: str, figures: dict) -> None:
    print(f"\n-- probe after {label}")
    for pid, status in figures["workers"].items():
        print(f"   worker {pid}: {status}")
    states = defaultdict(int)
    for c in figures["connections"]:
        states[(c["type"], c["state"])] += 1
    print(f"   connections to the database: {dict(states)}")
    for c in figures["connections"]:
        if c["xact_s"] >= 0 or c["xmin_age"] >= 0:
            print(f"   open transaction/snapshot: {c}")
    print(f"   oldest xmin on the cluster: {figures['oldest_xmin_cluster']}")
    for t in figures["tables"]:
        print(f"   table {t}")
    for pid, row in figures.get("gc", {}).items():
        print(f"   gc {pid}: {row}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="api,client,api")
    parser.add_argument("--api", nargs=3, type=int, default=[4, 25, 10], metavar=("P", "F", "T"))
    parser.add_argument("--client", nargs=3, type=int, default=[4, 25, 10], metavar=("P", "F", "T"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the database's contents (no drop)")
    parser.add_argument("--probe", action="store_true", help="workers log their gc figures (bench/drift_probe.conf.py)")
    parser.add_argument("--no-analyze", action="store_true", help="no ANALYZE during the measured phases "
                        "(compare.py's --no-analyze; the `analyze` phase runs one)")
    parser.add_argument("--json")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, compare._stop_all)
    signal.signal(signal.SIGINT, compare._stop_all)
    workdir = Path(tempfile.mkdtemp(prefix="praetor-drift-"))
    gc_log = str(workdir / "gc.jsonl") if args.probe else None
    if gc_log:
        os.environ["PRAETOR_BENCH_GC_LOG"] = gc_log
    print(f"logs in {workdir}; load average {os.getloadavg()}; autovacuum {'on' if compare.autovacuum_on() else 'off'}")
    if not args.keep:
        compare.fresh_database(args.database)
    results = []
    python = str(compare.ROOT / ".venv" / "bin" / "python")
    config = "bench/drift_probe.conf.py" if args.probe else "deploy/gunicorn.conf.py"
    server, url, key, cloud = compare.start_praetor(workdir, args.database, args.workers, python, config)
    try:
        flows.api_worker(url, key, 1, 2, defaultdict(list), [])
        flows.api_worker(url, key, 1, 2, defaultdict(list), [])
        last_counters = probe(server, args.database, gc_log)["counters"]
        for phase in args.phases.split(","):
            if phase in ("restart", "restart-new"):
                server.stop()
                # `restart`: the same workspace (what its earlier phases stored stays in it); `restart-new`: a new
                # workspace, as compare.py's start_praetor makes one each time.
                same = ("/api" + url.split("/api", 1)[1], key) if phase == "restart" else None
                server, url, key, cloud = compare.start_praetor(workdir, args.database, args.workers, python, config,
                                                                same)
                flows.api_worker(url, key, 1, 2, defaultdict(list), [])
                flows.api_worker(url, key, 1, 2, defaultdict(list), [])
            elif phase == "analyze":
                with compare.Analyzer(args.database, every=3600):
                    pass
            elif phase.startswith("wait:"):
                time.sleep(float(phase.split(":", 1)[1]))
            elif phase == "api":
                results.append(compare.measure("praetor", server, args.database, "api", url, key, tuple(args.api),
                                               analyze=not args.no_analyze))
            elif phase == "client":
                results.append(compare.measure("praetor", server, args.database, "client", url, key,
                                               tuple(args.client), {"PREFECT_CLOUD_API_URL": cloud},
                                               analyze=not args.no_analyze))
            elif phase == "client-oss":
                results.append(compare.measure("praetor", server, args.database, "client-oss", url, key,
                                               tuple(args.client), analyze=not args.no_analyze))
            elif phase != "probe":
                raise SystemExit(f"unknown phase {phase}")
            figures = probe(server, args.database, gc_log)
            print_probe(phase, figures)
            if last_counters is not None and phase in ("api", "client", "client-oss"):
                print_counters(last_counters, figures["counters"], results[-1]["task_runs"])
            last_counters = figures["counters"]
            if results and phase in ("api", "client", "client-oss"):
                results[-1]["probe"] = figures
    finally:
        compare._stop_clients()
        for service in list(compare.Service.running):
            service.stop()
    print("\n===== summary")
    for r in results:
        per_req = r["server_cpu"] / r["requests"] * 1000
        print(f"   {r['mode']:10s} {r['requests_s']:7.1f} req/s  server {per_req:5.2f} ms/request "
              f"{r['server_cpu'] / r['task_runs'] * 1000:6.2f} ms/task run  PostgreSQL "
              f"{r['pg_cpu'] / r['task_runs'] * 1000:6.2f} ms/task run  load {r['load']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
