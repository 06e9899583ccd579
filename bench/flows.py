"""Flow-run throughput of an orchestration API: the raw endpoints, or the real prefect 2.20 client.

    # a workspace on this server's database (test settings), rate limits lifted; prints URL and key
    .venv/bin/python bench/flows.py setup
    # raw API: P threads x F flow runs x T task runs (create, Running, Completed), then a filter
    .venv/bin/python bench/flows.py api --url URL [--key KEY] [-P 4 -F 25 -T 10] [--pids 123,456]
    # the real client: P processes each running F flows of T tasks with the prefect 2.20 client
    .venv/bin/python bench/flows.py client --url URL [--key KEY] [-P 4 -F 25 -T 10] [--pids ...]

URL is a workspace's API URL (…/api/accounts/{a}/workspaces/{w}) or `http://127.0.0.1:4200/api` for
`prefect server start`. `--pids` names the server's processes (their children and PostgreSQL's are
found in /proc): the CPU seconds they used over the run are printed per 1,000 task runs.
Prints flow runs/s, task runs/s, requests/s and latency p50/p95/p99 per endpoint.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- CPU accounting from /proc ---------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(entry.name))
    return out


def _postgres_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_seconds(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK


def process_tree(roots: list[int]) -> set[int]:
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(_children(pid))
    return found


# --- a small keep-alive HTTP client ----------------------------------------------------------------------
class Api:
    """One keep-alive connection per thread; records each request's latency under its endpoint name."""

    def __init__(self, url: str, key: str | None, timings: dict):
        parts = urlsplit(url)
        self.host, self.port, self.prefix = parts.hostname, parts.port or 80, parts.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "X-Prefect-Api-Version": "0.8.4"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.timings = timings
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, name: str, method: str, path: str, body=None, *, missing_ok: bool = False):
        payload = json.dumps(body) if body is not None else None
        start = time.perf_counter()
        self.conn.request(method, self.prefix + path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        self.timings[name].append(time.perf_counter() - start)
        if missing_ok and response.status == 404:
            return None
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None


def _state(type_: str) -> dict:
    return {"type": type_, "name": None, "message": None, "data": None, "state_details": {}}


def api_worker(url, key, flows: int, tasks: int, timings, errors):
    api = Api(url, key, timings)
    try:
        flow = api.call("POST flows/", "POST", "/flows/", {"name": "bench-flow", "tags": []})
        for _ in range(flows):
            run = api.call("POST flow_runs/", "POST", "/flow_runs/",
                           {"flow_id": flow["id"], "state": _state("PENDING"), "parameters": {"n": tasks}})
            api.call("POST flow_runs/{id}/set_state", "POST", f"/flow_runs/{run['id']}/set_state",
                     {"state": _state("RUNNING"), "force": False})
            for t in range(tasks):
                task = api.call("POST task_runs/", "POST", "/task_runs/", {
                    "flow_run_id": run["id"], "task_key": "bench-task", "dynamic_key": str(t), "name": f"t-{t}",
                    "state": _state("PENDING"), "tags": [], "task_inputs": {}})
                for type_ in ("RUNNING", "COMPLETED"):
                    answer = api.call("POST task_runs/{id}/set_state", "POST", f"/task_runs/{task['id']}/set_state",
                                      {"state": _state(type_), "force": False})
                    assert answer["status"] == "ACCEPT", answer
            api.call("POST logs/", "POST", "/logs/", [
                {"name": "bench", "level": 20, "message": f"run {run['id']} done", "timestamp":
                 time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), "flow_run_id": run["id"],
                 "task_run_id": None}], missing_ok=True)  # servers without a logs endpoint still bench
            api.call("POST flow_runs/{id}/set_state", "POST", f"/flow_runs/{run['id']}/set_state",
                     {"state": _state("COMPLETED"), "force": False})
            api.call("POST flow_runs/filter", "POST", "/flow_runs/filter",
                     {"flow_runs": {"id": {"any_": [run["id"]]}}, "limit": 10})
    except Exception as exc:  # reported after the run
        errors.append(exc)


# The client workload, also bench/client_events.py's: a flow of n tasks (CLIENT_FLOW, after `from prefect import
# flow, task`), run argv[1] times with argv[2] tasks each (CLIENT_RUNS, after `import sys`).
CLIENT_FLOW = """
@task
def work(i: int) -> int:
    return i * 2

@flow
def bench_flow(n: int):
    return sum(work(i) for i in range(n))
"""
CLIENT_RUNS = """
for _ in range(int(sys.argv[1])):
    bench_flow(int(sys.argv[2]))
"""

CLIENT_SCRIPT = """
import atexit, json, os, re, sys, time
import httpx
from prefect import flow, task

# Time every request the client sends, by method and path with ids replaced (written at exit).
_TIMINGS = {}
_ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_send = httpx.AsyncClient.send

async def _timed_send(self, request, *args, **kwargs):
    start = time.perf_counter()
    response = await _send(self, request, *args, **kwargs)
    path = _ID.sub("/{id}", request.url.path.split("/api/", 1)[-1])
    path = re.sub(r"^accounts/{id}/workspaces/{id}/", "", path)
    _TIMINGS.setdefault(f"{request.method} {path}", []).append(time.perf_counter() - start)
    return response

httpx.AsyncClient.send = _timed_send
if os.environ.get("BENCH_TIMINGS"):
    atexit.register(lambda: open(os.environ["BENCH_TIMINGS"], "w").write(json.dumps(_TIMINGS)))
""" + CLIENT_FLOW + CLIENT_RUNS


CLIENTS: list[subprocess.Popen] = []  # client processes running now (bench/compare.py stops them on failure)


def run_client(url, key, processes: int, flows: int, tasks: int, timings: dict | None = None,
               extra_env: dict | None = None, nice: int = 0) -> None:
    """P client processes, each running F flows of T tasks; their requests' latencies go into `timings`.
    `nice` > 0 runs them at that lower CPU priority (bench/compare.py's polls, where the flows stand in for
    customers' machines)."""
    home = Path(f"/tmp/praetor-bench-{uuid.uuid4().hex[:6]}")
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_HOME": str(home),
           **(extra_env or {})}
    if key:
        env["PREFECT_API_KEY"] = key
    python = ROOT / ".venv-prefect" / "bin" / "python"
    home.mkdir(parents=True, exist_ok=True)
    outputs = [home / f"timings-{i}.json" for i in range(processes)]
    lower = (lambda: os.nice(nice)) if nice > 0 else None
    procs = [subprocess.Popen([str(python), "-c", CLIENT_SCRIPT, str(flows), str(tasks)],
                              env={**env, "BENCH_TIMINGS": str(out)}, preexec_fn=lower) for out in outputs]
    CLIENTS.extend(procs)
    try:
        codes = [p.wait() for p in procs]
    finally:
        for p in procs:  # interrupted: stop what this call started, and only that
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
            CLIENTS.remove(p)
    if any(codes):
        raise SystemExit(f"client processes failed: {codes}")
    for out in outputs:
        if timings is not None and out.exists():
            for name, samples in json.loads(out.read_text()).items():
                timings[name].extend(samples)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(mode, args, elapsed, timings, cpu_before, cpu_after) -> None:
    flow_runs = args.P * args.F
    task_runs = flow_runs * args.T
    print(f"mode {mode}: {args.P} x {args.F} flow runs x {args.T} task runs against {args.url}")
    print(f"  {elapsed:8.2f} s   flow runs/s {flow_runs / elapsed:8.2f}   task runs/s {task_runs / elapsed:8.2f}")
    requests = sum(len(v) for v in timings.values())
    if requests:
        print(f"  requests {requests}   requests/s {requests / elapsed:8.1f}")
        for name, samples in sorted(timings.items()):
            print(f"  {name:32s} n={len(samples):6d}  p50 {percentile(samples, 50) * 1000:7.2f} ms  "
                  f"p95 {percentile(samples, 95) * 1000:7.2f} ms  p99 {percentile(samples, 99) * 1000:7.2f} ms  "
                  f"mean {statistics.fmean(samples) * 1000:7.2f} ms")
    if cpu_before is not None:
        server = cpu_after[0] - cpu_before[0]
        database = cpu_after[1] - cpu_before[1]
        print(f"  server CPU {server:7.2f} s = {server / task_runs * 1000:6.2f} s per 1,000 task runs;  "
              f"PostgreSQL CPU {database:7.2f} s = {database / task_runs * 1000:6.2f} s per 1,000 task runs")


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from apps.billing.services import enterprise_set
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create

    tag = uuid.uuid4().hex[:8]
    user = user_create(email=f"bench-{tag}@example.com", password=None)
    org = organization_create(name=f"Bench {tag}", handle=f"bench-{tag}", owner=user)
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 10**9,
                                                "rate_limit_logs_events_per_minute": 10**9})
    workspace = workspace_create(organization=org, name="bench", handle="bench", description="", actor=user)
    _, secret = api_key_create(owner=user, name="bench", expires_at=None)
    print(f"URL  /api/accounts/{org.pk}/workspaces/{workspace.pk}  (prefix with http://HOST:PORT)")
    print(f"KEY  {secret}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["setup", "api", "client"])
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("-P", type=int, default=4, help="threads (api) or client processes (client)")
    parser.add_argument("-F", type=int, default=25, help="flow runs per thread/process")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--pids", default="", help="server process ids (comma-separated) for CPU accounting")
    args = parser.parse_args()
    if args.mode == "setup":
        setup()
        return
    if not args.url:
        parser.error("--url is required")
    roots = [int(p) for p in args.pids.split(",") if p]
    server_pids = process_tree(roots) if roots else set()
    pg_pids = _postgres_pids() if roots else set()
    cpu_before = (cpu_seconds(server_pids), cpu_seconds(pg_pids)) if roots else None
    timings: dict = defaultdict(list)
    start = time.perf_counter()
    if args.mode == "api":
        errors: list = []
        threads = [threading.Thread(target=api_worker, args=(args.url, args.key, args.F, args.T, timings, errors))
                   for _ in range(args.P)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise SystemExit(f"{len(errors)} worker(s) failed: {errors[0]}")
    else:
        run_client(args.url, args.key, args.P, args.F, args.T, timings)
    elapsed = time.perf_counter() - start
    # PostgreSQL backends come and go with connections: count the ones alive now as well.
    cpu_after = None
    if roots:
        server_pids |= process_tree(roots)
        pg_after = _postgres_pids()
        cpu_after = (cpu_seconds(server_pids), cpu_seconds(pg_pids | pg_after))
        cpu_before = (cpu_before[0], cpu_before[1])
    report(args.mode, args, elapsed, timings, cpu_before, cpu_after)


if __name__ == "__main__":
    main()
