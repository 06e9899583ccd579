"""Where the real prefect 2.20 client's CPU goes when it streams events (logged in as to Cloud).

    .venv/bin/python bench/client_events.py                       # 1 process x 5 flows x 10 tasks, all runs
    .venv/bin/python bench/client_events.py -F 3 --runs cloud,cloud-cert --profile --top 30

Starts this server as deployed (gunicorn, production settings, fresh database `praetor_clientev`) and, for
the `prefect` run, `prefect server start` (2.20 from .venv-prefect, fresh database `prefect_clientev`, its
events enabled with PREFECT_EXPERIMENTAL_EVENTS), then runs one client process of F flows of T tasks per run:

- `cloud`: logged in as to Cloud (API key, PREFECT_CLOUD_API_URL): the client streams every event over
  the `events/in` websocket, as users run it;
- `cloud-cert`: the same with PREFECT_API_SSL_CERT_FILE naming a one-certificate CA file (the lever below);
- `oss`: the same client work not logged in (no events), as against prefect server by default;
- `prefect`: against `prefect server start` with its events on (the client streams to it as well).

Printed per run: the client's own CPU per task run (from the first flow to the process's exit, imports
excluded), the events it sent, websocket connections and reconnections, close codes and negotiated
extensions as the client saw them; for this server, websocket upgrades accepted (its log) and the events
stored per flow run (its database). With --profile, the `cloud` run is repeated under cProfile (one
profiler per client thread: the events worker runs on a thread of its own) and the top cumulative
functions and the callers of `ssl.create_default_context` are printed; profiled CPU is inflated, so the
per-task figure is taken from the unprofiled run. Only processes this script started are stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare
import flows

ROOT = flows.ROOT
RUNS = ("cloud", "cloud-cert", "oss", "prefect")

# The client workload (bench/flows.py's CLIENT_FLOW and CLIENT_RUNS), with counters on the events client
# and, when BENCH_PROFILE names a file, one cProfile profiler per thread. Writes its figures to BENCH_OUT at exit.
CLIENT_SCRIPT = r"""
import atexit, json, os, sys, threading, time

PROFILES = []
if os.environ.get("BENCH_PROFILE"):
    import cProfile

    def _profile_this_thread(frame, event, arg):
        profile = cProfile.Profile(time.thread_time)  # this thread's CPU, not the wall clock of a busy box
        PROFILES.append(profile)
        profile.enable()  # replaces this hook in the new thread

    threading.setprofile(_profile_this_thread)
    _main = cProfile.Profile(time.thread_time)
    PROFILES.append(_main)
    _main.enable()

FIGURES = {"connects": 0, "emitted": 0, "close_codes": [], "extensions": []}
START = {}

def _write():
    # Registered before prefect is imported, so it runs after prefect's own exit handlers drained events.
    FIGURES["cpu_workload"] = time.process_time() - START.get("cpu", 0.0)
    FIGURES["cpu_total"] = time.process_time()
    if PROFILES:
        import pstats
        stats = pstats.Stats(PROFILES[0])
        for profile in PROFILES[1:]:
            stats.add(profile)
        stats.dump_stats(os.environ["BENCH_PROFILE"])
    with open(os.environ["BENCH_OUT"], "w") as out:
        json.dump(FIGURES, out)

atexit.register(_write)

from prefect import flow, task
from prefect.events.clients import PrefectEventsClient

_reconnect, _emit, _aexit = PrefectEventsClient._reconnect, PrefectEventsClient._emit, PrefectEventsClient.__aexit__

async def _counted_reconnect(self):
    FIGURES["connects"] += 1
    await _reconnect(self)
    FIGURES["extensions"].append([type(e).__name__ for e in self._websocket.extensions])

async def _counted_emit(self, event):
    FIGURES["emitted"] += 1
    await _emit(self, event)

async def _recorded_aexit(self, *exc):
    websocket = self._websocket
    await _aexit(self, *exc)
    if websocket is not None:
        FIGURES["close_codes"].append(websocket.close_code)

PrefectEventsClient._reconnect = _counted_reconnect
PrefectEventsClient._emit = _counted_emit
PrefectEventsClient.__aexit__ = _recorded_aexit
""" + flows.CLIENT_FLOW + """
START["cpu"] = time.process_time()""" + flows.CLIENT_RUNS


def small_ca_file(workdir: Path) -> Path:
    """A CA file holding one certificate (the first of certifi's bundle in the client's venv): enough for
    a loopback http:// server, whose context is built but never used. Users pass the CA of their server."""
    python = ROOT / ".venv-prefect" / "bin" / "python"
    bundle = Path(
        subprocess.run(
            [str(python), "-c", "import certifi; print(certifi.where())"], check=True, capture_output=True, text=True
        ).stdout.strip()
    ).read_text()
    end = "-----END CERTIFICATE-----"
    path = workdir / "one-ca.pem"
    path.write_text(bundle[bundle.index("-----BEGIN CERTIFICATE-----") : bundle.index(end) + len(end)] + "\n")
    return path


def run_client(
    url: str, key: str | None, flows_n: int, tasks: int, env_extra: dict, workdir: Path, profile: Path | None = None
) -> dict:
    home = workdir / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    out = home / "figures.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DJANGO_", "PRAETOR_"))}
    env.update(
        PREFECT_API_URL=url, PREFECT_HOME=str(home), PREFECT_LOGGING_LEVEL="WARNING", BENCH_OUT=str(out), **env_extra
    )
    if key:
        env["PREFECT_API_KEY"] = key
    if profile:
        env["BENCH_PROFILE"] = str(profile)
    started = time.perf_counter()
    proc = subprocess.run(
        [str(ROOT / ".venv-prefect" / "bin" / "python"), "-c", CLIENT_SCRIPT, str(flows_n), str(tasks)],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=600,
    )
    figures = json.loads(out.read_text()) if out.exists() else {}
    figures.update(
        seconds=time.perf_counter() - started, returncode=proc.returncode, output=(proc.stdout + proc.stderr)[-3000:]
    )
    if proc.returncode:
        raise SystemExit(f"client failed ({proc.returncode}):\n{figures['output']}")
    return figures


def accepted_upgrades(log: Path) -> int:
    """Websocket upgrades this server accepted (uvicorn logs one `"WebSocket …" [accepted]` line each)."""
    return sum(
        1 for line in log.read_text(errors="replace").splitlines() if '"WebSocket ' in line and "[accepted]" in line
    )


def stored_events_per_flow_run(database: str) -> tuple[Counter, Counter]:
    """Events this server stored, by flow run (its own events and its task runs', via `related`), and by name."""
    import psycopg

    per_run, names = Counter(), Counter()
    with psycopg.connect(f"{compare.PG}/{database}") as conn:
        for resource_id, related, name in conn.execute("SELECT resource_id, related, event FROM engine_event"):
            names[name] += 1
            runs = {resource_id} | {r.get("prefect.resource.id") for r in related}
            for run in runs:
                if run and run.startswith("prefect.flow-run."):
                    per_run[run] += 1
    return per_run, names


def print_profile(path: Path, top: int) -> None:
    stats = pstats.Stats(str(path))
    print(f"\n--- top {top} functions by own CPU (all client threads, imports included) ---")
    stats.sort_stats("tottime").print_stats(top)
    print(f"--- top {top} by cumulative CPU on the client's event and API paths ---")
    stats.sort_stats("cumulative").print_stats(r"prefect/(events|client|engine|task_engine)|ssl|httpx|websockets", top)
    print("--- who creates SSL contexts ---")
    stats.print_callers(r"create_default_context|load_verify_locations")
    stats.print_callers(r"related_resources_from_run_context")
    # Timer: each thread's CPU (time.thread_time), so these are CPU seconds, not wall-clock seconds.
    ssl_seconds = sum(v[3] for k, v in stats.stats.items() if k[2] == "create_default_context")
    ssl_calls = sum(v[1] for k, v in stats.stats.items() if k[2] == "create_default_context")
    total = sum(v[2] for v in stats.stats.values())
    print(
        f"ssl.create_default_context: {ssl_calls} calls, {ssl_seconds:.2f} s cumulative "
        f"({ssl_seconds / max(ssl_calls, 1) * 1000:.1f} ms each) of {total:.2f} CPU s profiled in all threads"
    )


def report(label: str, figures: dict, task_runs: int, flows_n: int) -> None:
    cpu = figures["cpu_workload"] / task_runs * 1000
    print(
        f"\n== {label}: {figures['seconds']:.1f} s wall, client CPU {figures['cpu_workload']:.2f} s from the first "
        f"flow to exit = {cpu:.1f} ms per task run (process total {figures['cpu_total']:.2f} s); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"   events sent {figures['emitted']} ({figures['emitted'] / flows_n:.1f} per flow run); websocket "
        f"connections {figures['connects']} for {flows_n} flow runs (reconnections "
        f"{max(0, figures['connects'] - flows_n)}); close codes {Counter(figures['close_codes'])}; "
        f"extensions {Counter(tuple(e) for e in figures['extensions'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=5, help="flow runs")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    parser.add_argument("--profile", action="store_true", help="repeat the cloud run under cProfile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of this server")
    args = parser.parse_args()
    runs = [r for r in args.runs.split(",") if r]
    if unknown := set(runs) - set(RUNS):
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, compare._stop_all)
    signal.signal(signal.SIGINT, compare._stop_all)
    workdir = Path(tempfile.mkdtemp(prefix="praetor-clientev-"))
    task_runs = args.F * args.T
    print(
        f"logs in {workdir}; load average {os.getloadavg()} on {os.cpu_count()} cores; "
        f"1 client process x {args.F} flows x {args.T} tasks per run"
    )
    try:
        ours = [r for r in runs if r != "prefect"] or (["cloud"] if args.profile else [])
        if ours:
            compare.fresh_database("praetor_clientev")
            server, url, key, cloud = compare.start_praetor(workdir, "praetor_clientev", args.workers)
            log = server.log
            cert = small_ca_file(workdir)
            envs = {
                "cloud": {"PREFECT_CLOUD_API_URL": cloud},
                "cloud-cert": {"PREFECT_CLOUD_API_URL": cloud, "PREFECT_API_SSL_CERT_FILE": str(cert)},
                "oss": {},
            }
            for run in ours:
                upgrades_before = accepted_upgrades(log)
                stored_before, _ = stored_events_per_flow_run("praetor_clientev")
                figures = run_client(url, key, args.F, args.T, envs[run], workdir)
                report(f"this server, {run}", figures, task_runs, args.F)
                stored, names = stored_events_per_flow_run("praetor_clientev")
                new = {k: v - stored_before.get(k, 0) for k, v in stored.items() if v != stored_before.get(k, 0)}
                print(
                    f"   server: websocket upgrades accepted {accepted_upgrades(log) - upgrades_before}; events "
                    f"stored per flow run {sorted(new.values())} (total stored in the database {sum(names.values())})"
                )
            if args.profile:
                profile = workdir / "cloud.prof"
                figures = run_client(url, key, args.F, args.T, envs["cloud"], workdir, profile=profile)
                report("this server, cloud, under cProfile (CPU inflated)", figures, task_runs, args.F)
                print_profile(profile, args.top)
            server.stop()
        if "prefect" in runs:
            compare.fresh_database("prefect_clientev")
            events_on = {"PREFECT_EXPERIMENTAL_EVENTS": "true"}
            os.environ.update(events_on)  # start_prefect passes our environment on to the server
            try:
                prefect, purl = compare.start_prefect(workdir, "prefect_clientev")
            finally:
                os.environ.pop("PREFECT_EXPERIMENTAL_EVENTS")
            figures = run_client(purl, None, args.F, args.T, events_on, workdir)
            report("prefect server start (events on)", figures, task_runs, args.F)
            prefect.stop()
    finally:
        for service in list(compare.Service.running):
            service.stop()
    print(f"\nload average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
