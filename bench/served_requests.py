"""Server CPU per hot request through the served stack (gunicorn as deployed, one worker), per thread of the
worker: its main thread (the event loop under the uvicorn worker; only gunicorn's heartbeat under the threads
worker, whose request threads parse HTTP themselves) and its other threads, read from /proc/PID/task/TID/schedstat.

Sends the requests of bench/hot_requests.py (create a flow run, set it Running, create task runs and set each
Running then Completed, read them, post a log batch, set the flow run Completed) over keep-alive http.client
connections, `-P` of them in parallel, to one gunicorn worker started as deployed (deploy/gunicorn.conf.py,
config.asgi, production settings on this checkout's test database, as bench/compare.py does). The difference with
bench/hot_requests.py (the same requests through django.test.Client, in one process) is what the HTTP layer, the
hand-off to the request threads and Django's WSGI handler cost per request.

    .venv/bin/python bench/served_requests.py [-P 3 -F 8 -T 10] [--rounds 2] [--root OTHER_CHECKOUT] [--profile-loop]
        [--server threads --server uvicorn] [--per-thread]

The database (praetor_<worktree>, config.settings.test) must exist and be migrated. `--root` serves another
checkout (its own code, this checkout's database) so before and after alternate on the same machine:
`--root` A, then this checkout, then A again... with `--rounds`; `--server` (repeatable) runs this checkout with
each worker of deploy/gunicorn.conf.py (PRAETOR_WEB_SERVER) in turn (another checkout runs its default). Prints,
per round, requests, requests/s, CPU
per request of the event loop, of the request threads and of the whole worker, and the load average; with
`--timing`, also the request threads' CPU inside Django's handler (PRAETOR_HTTP_TIMING_LOG), the rest of the
threads' being the hand-off and thread switching; with `--per-thread`, each thread's CPU per request.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from hot_requests import workload  # noqa: E402
from http_layer import thread_cpu, worker_pid  # noqa: E402
from servers import Service, free_port, production_env, start_gunicorn  # noqa: E402


class HttpRunner:
    """hot_requests.Runner's `call` over one keep-alive connection."""

    def __init__(self, url: str, key: str):
        parts = urlsplit(url)
        self.prefix = parts.path.rstrip("/")
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        self.headers = {"Content-Type": "application/json", "X-Prefect-Api-Version": "0.8.4",
                        "Authorization": f"Bearer {key}"}
        self.requests = 0

    def call(self, name: str, method: str, path: str, body=None):
        self.conn.request(method, self.prefix + path, body=None if body is None else json.dumps(body),
                          headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        self.requests += 1
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return json.loads(data) if data else None


def database_name() -> str:
    import re

    return os.environ.get("PRAETOR_TEST_DB_NAME", "praetor_" + re.sub(r"[^a-z0-9_]", "_", ROOT.name.lower()))


# --profile-loop: deploy/gunicorn.conf.py as it is, plus a hook giving the worker a SIGUSR2 handler that starts
# cProfile on its main thread (the event loop: uvicorn, the ASGI application up to the hand-off) and, sent again,
# stops it and writes the profile. The handler runs on the main thread, and cProfile profiles the thread that
# enables it only, so the request threads are not in it. The bench sends the signals around the measured requests.
_PROFILE_CONF = """
exec(compile(open("deploy/gunicorn.conf.py").read(), "deploy/gunicorn.conf.py", "exec"))

def post_worker_init(worker):
    import cProfile
    import signal
    profile = cProfile.Profile()
    running = []

    def toggle(*_):
        if running:
            profile.disable()
            profile.dump_stats({path!r})
        else:
            running.append(True)
            profile.enable()

    signal.signal(signal.SIGUSR2, toggle)
"""


def start(root: Path, python: str, database: str, log: Path, timing: str | None = None,
          profile: Path | None = None, web_server: str | None = None) -> tuple[Service, str, int]:
    conf = "deploy/gunicorn.conf.py"
    if profile is not None:
        conf = str(log.with_suffix(".conf.py"))
        Path(conf).write_text(_PROFILE_CONF.format(path=str(profile)))
    env = {**production_env(database, free_port(), 1), **({"PRAETOR_HTTP_TIMING_LOG": timing} if timing else {}),
           **({"PRAETOR_WEB_SERVER": web_server} if web_server else {})}
    server, url = start_gunicorn(python, env, log, conf, ("--max-requests", "0"), cwd=root, timeout=120)
    return server, url, worker_pid(server.proc.pid)


def tenant(python: str, database: str) -> tuple[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    out = subprocess.run([python, "bench/flows.py", "setup"], env={**env, "PRAETOR_TEST_DB_NAME": database},
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    lines = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    return lines["URL"].split()[0], lines["KEY"].strip()


def drive(url: str, key: str, parallel: int, flows: int, tasks: int) -> int:
    runners = [HttpRunner(url, key) for _ in range(parallel)]
    flow = runners[0].call("POST flows/", "POST", "/flows/", {"name": "bench-flow", "tags": []})
    errors: list = []

    def run(runner):
        try:
            workload(runner, flow["id"], flows, tasks)
        except Exception as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(r,)) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{len(errors)} connection(s) failed: {errors[0]}")
    for r in runners:
        r.conn.close()
    return sum(r.requests for r in runners) - 1


def worker_class(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if "Using worker:" in line:
            return line.rsplit(".", 1)[-1].strip()
    return "?"


def measure(root: Path, python: str, database: str, prefix: str, key: str, args, web_server=None) -> dict:
    log = Path(tempfile.mkstemp(prefix="praetor-served-", suffix=".log")[1])
    timing = str(log.with_suffix(".timing")) if args.timing else None
    profile = None
    if args.profile_loop:
        profile = log.with_suffix(".prof")
    server, base, pid = start(root, python, database, log, timing, profile, web_server)
    try:
        drive(base + prefix, key, args.P, 2, args.T)  # warm-up: threads, connections, compiled queries
        print(f"  (worker {pid} measured)", file=sys.stderr, flush=True)  # for perf or /proc while it runs
        timing_file = Path(f"{timing}.{pid}") if timing else None
        skip = len(timing_file.read_text().splitlines()) if timing_file and timing_file.exists() else 0
        if profile is not None:
            os.kill(pid, signal.SIGUSR2)
        before, started = thread_cpu(pid), time.perf_counter()
        n = drive(base + prefix, key, args.P, args.F, args.T)
        elapsed, after = time.perf_counter() - started, thread_cpu(pid)
        if profile is not None:
            os.kill(pid, signal.SIGUSR2)
    finally:
        server.stop()
    handler_us = None
    if timing_file is not None:  # the request threads' CPU inside the handler (config/http_threads.py _run)
        lines = [line.split("\t") for line in timing_file.read_text().splitlines()[skip:]]
        handler_us = sum(float(fields[5]) for fields in lines) * 1000 / n
    if profile is not None:
        loop_profile(profile, n)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop = used.get(pid, 0.0)
    threads = sum(v for tid, v in used.items() if tid != pid)
    return {"worker": worker_class(log), "requests": n, "requests_s": n / elapsed,
            "loop_us": loop / n * 1e6, "threads_us": threads / n * 1e6,
            "total_us": (loop + threads) / n * 1e6, "load": os.getloadavg()[0], "handler_us": handler_us,
            "per_thread_us": sorted((v / n * 1e6 for tid, v in used.items() if tid != pid), reverse=True)}


def loop_profile(path: Path, measured: int) -> None:
    """Function calls per request in the event loop thread during the measured requests, and the most called
    functions (cProfile counts a coroutine's every resumption as a call)."""
    import pstats

    for _ in range(50):  # the worker writes it as it exits
        if path.exists() and path.stat().st_size:
            break
        time.sleep(0.2)
    stats = pstats.Stats(str(path))
    rows = stats.stats  # {(file, line, name): (primitive calls, calls, tottime, cumtime, callers)}
    served = measured  # (not a coroutine's calls: cProfile counts each resumption as a call)
    calls = sum(v[1] for v in rows.values())
    print(f"  event loop: {calls / served:.1f} function calls per request ({served} requests, {path})")
    top = sorted(rows.items(), key=lambda kv: -kv[1][1])[:45]
    for (file, line, name), v in top:
        print(f"    {v[1] / served:7.2f}  {Path(file).name}:{line}({name})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-P", type=int, default=3, help="connections sending in parallel")
    parser.add_argument("-F", type=int, default=8, help="flow runs per connection")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--root", type=Path, action="append", default=[],
                        help="another checkout to serve, alternating with this one (repeatable)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--server", action="append", default=[], choices=["threads", "uvicorn"],
                        help="this checkout's worker (PRAETOR_WEB_SERVER), repeatable: each in turn")
    parser.add_argument("--timing", action="store_true",
                        help="PRAETOR_HTTP_TIMING_LOG on: also the request threads' CPU inside Django's handler "
                             "(the rest of theirs is the hand-off); the log's writes add to the event loop's CPU")
    parser.add_argument("--per-thread", action="store_true",
                        help="also each thread's CPU per request other than the main thread's, largest first")
    parser.add_argument("--profile-loop", action="store_true",
                        help="cProfile the worker's event loop thread: function calls per request, the most called")
    args = parser.parse_args()
    database = database_name()
    prefix, key = tenant(args.python, database)
    runs = [(r.resolve(), None) for r in args.root] + [(ROOT, server) for server in (args.server or [None])]
    print(f"served hot requests: {args.P} connections x {args.F} flow runs x {args.T} task runs; database "
          f"{database}; {os.cpu_count()} cores")
    print(f"  {'checkout':24} {'worker':>13} {'requests':>8} {'req/s':>7} {'main µs':>8} {'threads µs':>10} "
          f"{'worker µs':>9} {'load':>5}")
    for _ in range(args.rounds):
        for root, web_server in runs:
            f = measure(root, args.python, database, prefix, key, args, web_server)
            print(f"  {str(root)[-24:]:24} {f['worker']:>13} {f['requests']:8d} {f['requests_s']:7.1f} "
                  f"{f['loop_us']:8.0f} "
                  f"{f['threads_us']:10.0f} {f['total_us']:9.0f} {f['load']:5.2f}"
                  + (f"   in the handler {f['handler_us']:.0f} µs" if f["handler_us"] is not None else ""), flush=True)
            if args.per_thread:
                print("      other threads, µs per request: "
                      + " ".join(f"{us:.0f}" for us in f["per_thread_us"] if us >= 0.5), flush=True)


if __name__ == "__main__":
    main()
