"""Instructions per hot request (valgrind's callgrind) in one process and served, and CPU per request served under
co-runners: whether a served request costs more because it runs more instructions or because each costs more.

`count`: the task run cycle the prefect client sends (POST task_runs/, set_state Running, set_state Completed, GET
task_runs/{id}), each kind in batches of `-n`, counted by callgrind in user space (the kernel is not counted) in:

- `test`: one process, config.settings.test, config/handler.py's Handler called as the threads server calls it
  (config/http_threads.run_wsgi on `_environ`), CONN_MAX_AGE 600, as bench/serving_path.py `handler` does;
- `production`: the same process with config.settings.production and bench/servers.py's production_env;
- `served`: config/http_server's Server built as gunicorn's ThreadsWorker builds it (config.asgi's applications,
  production settings, the same threads and keep-alive) in a process of its own under valgrind, without gunicorn's
  fork (vgdb cannot reach a forked child), sent the same requests with the same headers by one keep-alive
  connection from this process.

Each batch is `callgrind_control -z`, the requests, `callgrind_control -d` on the process serving them (started with
instrumentation off, switched on after set-up and a warm-up); a batch of no requests (served: an idle pause, as
instructions per second) is subtracted. Work done once a second (the auth cache's epoch read) weighs ~50 times
more per request under valgrind's slowdown than natively (a few thousand instructions a request). Prints
instructions per request per kind and mode, by object file, and the functions whose own instructions per request
differ most between the modes (callgrind_annotate). `inner` with PRAETOR_PROFILE_RUNS=PREFIX, without valgrind,
writes cProfile stats of each kind's requests (Python calls, which callgrind does not see).

`cpu`: gunicorn as deployed, natively, PRAETOR_HTTP_TIMING_LOG on, the same cycle sent sequentially, in rounds of
conditions alternated: `quiet`, `busy:K` (K pure-Python busy loops), `memory:K` (K loops writing a byte
every 4 KiB + 64 B of 64 MB: a cache and TLB miss each). Per kind the request thread's CPU inside the handler (the
timing log), and the worker's user and system CPU per request (/proc/PID/stat); with `--instructions` (a `count
--json` file), ns per instruction.

    .venv/bin/python bench/instructions.py count [-n 40] [--modes test production served] [--json out.json]
    .venv/bin/python bench/instructions.py cpu [-n 300] [--rounds 3] [--conditions quiet busy:2 memory:2]
        [--instructions out.json]

Needs this checkout's database (praetor_<worktree>, migrated) and Redis, as bench/served_requests.py does.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

KINDS = ("create", "running", "completed", "read")


def _database() -> str:
    return os.environ.get("PRAETOR_TEST_DB_NAME", "praetor_" + re.sub(r"[^a-z0-9_]", "_", ROOT.name.lower()))


def _headers(host: str, key: str) -> list[tuple[bytes, bytes]]:
    """The prefect 2.20 client's request headers (bench/serving_path.py's)."""
    return [(b"host", host.encode()), (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate"),
            (b"connection", b"keep-alive"), (b"user-agent", b"prefect/2.20.0 (API 0.8.4)"),
            (b"x-prefect-api-version", b"0.8.4"), (b"authorization", f"Bearer {key}".encode())]


class Cycle:
    """The task runs of one flow run, each created, set Running, set Completed and read, a kind at a time.
    `send(method, path, data) -> (status, body)` sends one request; the requests' bodies are encoded (`plan`) and
    the answers read (`take`) apart from sending them (`run`), so that counting in one process leaves them out."""

    def __init__(self, send, flow_run: str):
        self.send, self.flow_run = send, flow_run
        self.created: list[str] = []
        self.done = dict.fromkeys(KINDS[1:], 0)
        self.planned: tuple[str, list] = ("none", [])

    def plan(self, kind: str, n: int) -> None:
        if kind == "create":
            requests = [("POST", "/task_runs/", json.dumps({
                "flow_run_id": self.flow_run, "task_key": "instructions", "dynamic_key": uuid.uuid4().hex,
                "name": "t", "state": {"type": "PENDING", "name": "Pending"}, "tags": [], "task_inputs": {}}).encode())
                for _ in range(n)]
        else:
            tasks = self.created[self.done[kind]:self.done[kind] + n]
            assert len(tasks) == n, (kind, n)
            self.done[kind] += n
            body = json.dumps({"state": {"type": kind.upper(), "name": kind.capitalize()}, "force": False}).encode()
            requests = [("GET", f"/task_runs/{t}", None) if kind == "read" else
                        ("POST", f"/task_runs/{t}/set_state", body) for t in tasks]
        self.planned = (kind, requests)

    def run(self) -> list:
        return [self.send(*request) for request in self.planned[1]]

    def take(self, answers: list) -> None:
        kind = self.planned[0]
        for (method, path, _), (status, content) in zip(self.planned[1], answers, strict=True):
            if status >= 300:
                raise RuntimeError(f"{method} {path}: {status} {content[:300]!r}")
            if kind == "create":
                self.created.append(json.loads(content)["id"])
            elif kind in ("running", "completed"):
                assert json.loads(content)["status"] == "ACCEPT", content
        self.planned = ("none", [])

    def batch(self, kind: str, n: int) -> None:
        self.plan(kind, n)
        self.take(self.run())

    def all(self, n: int) -> None:
        for kind in KINDS:
            self.batch(kind, n)


def _flow_run(send) -> str:
    def call(path, body):
        status, content = send("POST", path, json.dumps(body).encode())
        assert status < 300, content
        return json.loads(content)["id"]

    flow = call("/flows/", {"name": "instructions", "tags": []})
    return call("/flow_runs/", {"flow_id": flow, "name": "r", "state": {"type": "RUNNING", "name": "Running"}})


# ---- in process (the child under valgrind) ----

def inner() -> None:
    """Set up Django and a tenant, warm up, then obey stdin's lines, answering `ok` to each: `plan KIND N`, `run`
    (the requests planned: what is counted), `take` (their answers read), `all N` (N whole cycles)."""
    import django

    django.setup()
    from django.db import connections
    from hot_requests import setup_tenant

    from config.handler import Handler
    from config.http_threads import _environ, run_wsgi

    connections["default"].settings_dict["CONN_MAX_AGE"] = 600
    prefix, key = setup_tenant()
    headers = _headers("127.0.0.1:4200", key)
    handler = Handler()

    def send(method, path, data):
        sent = headers if data is None else [*headers, (b"content-type", b"application/json"),
                                             (b"content-length", str(len(data)).encode())]
        scope = {"method": method, "path": prefix + path, "query_string": b"", "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 4200), "client": ("127.0.0.1", 5555), "root_path": "",
                 "headers": sent}
        status, _, content = run_wsgi(handler, _environ(scope, io.BytesIO(data or b""), len(data or b"")))
        return int(status[:3]), content

    cycle = Cycle(send, _flow_run(send))
    cycle.all(30)
    print("ready", flush=True)
    answers: list = []
    profiles: dict = {}  # PRAETOR_PROFILE_RUNS=PREFIX (without valgrind): each kind's runs profiled, PREFIX.KIND
    for line in sys.stdin:
        command, *n = line.split()
        if command == "plan":
            cycle.plan(n[0], int(n[1]))
        elif command == "run" and os.environ.get("PRAETOR_PROFILE_RUNS"):
            import cProfile

            profile = profiles.setdefault(cycle.planned[0], cProfile.Profile())
            profile.enable()
            answers = cycle.run()
            profile.disable()
            profile.dump_stats(f"{os.environ['PRAETOR_PROFILE_RUNS']}.{cycle.planned[0]}")
        elif command == "run":
            answers = cycle.run()
        elif command == "take":
            cycle.take(answers)
        elif command == "all":
            cycle.all(int(n[0]))
        print("ok", flush=True)


# ---- counting ----

def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True, timeout=120)


class Counted:
    """A process under callgrind (by vgdb: `callgrind_control`): zero, run something, dump; the dump's instructions
    and functions, and the time it took."""

    def __init__(self, pid: int, out: Path):
        self.pid, self.out = pid, out

    def measure(self, run) -> tuple[int, dict, float]:
        before = set(self.out.parent.glob(f"{self.out.name}.{self.pid}.*"))
        _control(self.pid, "-z")
        started = time.perf_counter()
        run()
        elapsed = time.perf_counter() - started
        _control(self.pid, "-d")
        for _ in range(600):
            new = set(self.out.parent.glob(f"{self.out.name}.{self.pid}.*")) - before
            if new:
                break
            time.sleep(0.1)
        (dump,) = new
        return _summary(dump), _functions(dump), elapsed


def _summary(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def _functions(dump: Path) -> dict[str, int]:
    """{`file:function [object]`: own instructions} of a dump, by callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", str(dump)], check=True,
                         capture_output=True, text=True).stdout
    functions = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if m and ":" in m.group(2) and not m.group(2).startswith(("PROGRAM", "Ir")):
            # a build's source paths shortened, callgrind's recursion levels (`'2`) merged
            name = re.sub(r"'\d+( \[|$)", r"\1", re.sub(r"^/tmp/python-build[^ ]*?/Python-[\d.]+/", "", m.group(2)))
            functions[name] = functions.get(name, 0) + int(m.group(1).replace(",", ""))
    return functions


def _per_request(batches: dict, empty: tuple, n: int, idle_rate: float = 0.0) -> dict:
    """{kind: (instructions per request, {function: per request})}: each batch less the empty one (and, served,
    what the idle process runs in the batch's time)."""
    total0, funcs0, _ = empty
    out = {}
    for kind, (total, funcs, elapsed) in batches.items():
        idle = idle_rate * elapsed
        out[kind] = ((total - total0 - idle) / n,
                     {f: (v - funcs0.get(f, 0)) / n for f, v in funcs.items()})
    return out


_VALGRIND = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no"]


def count_inprocess(settings: str, n: int, work: Path) -> dict:
    from servers import free_port, production_env

    out = work / f"cg-{settings}"
    env = (production_env(_database(), free_port(), 1) if settings == "production"
           else {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PRAETOR_TEST_DB_NAME": _database()})
    proc = subprocess.Popen([*_VALGRIND, f"--callgrind-out-file={out}.%p", sys.executable, __file__, "inner"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(work / f"{settings}.log").open("w"),
                            text=True, env=env, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "ready", f"see {work / settings}.log"

        def command(*words):
            proc.stdin.write(" ".join(map(str, words)) + "\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "ok"

        def batch(kind, k):
            command("plan", kind, k)
            measured = counted.measure(lambda: command("run"))
            command("take")
            return measured

        _control(proc.pid, "-i", "on")
        command("all", 10)  # warm-up with instrumentation on
        counted = Counted(proc.pid, out)
        empty = batch("create", 0)
        batches = {kind: batch(kind, n) for kind in KINDS}
    finally:
        proc.stdin.close()
        proc.wait(timeout=300)
    return _per_request(batches, empty, n)


def serve(port: int) -> None:
    """config/http_server's Server as config/server.py ThreadsWorker.run builds it (config.asgi's applications, the
    settings' threads, gunicorn.conf.py's keepalive, gunicorn's defaults), on 127.0.0.1:`port`, in this process:
    what gunicorn's worker runs, without the fork (valgrind's vgdb does not reach a forked child) and without its
    main thread's heartbeat (once a second)."""
    import socket

    from django.conf import settings

    from config.asgi import application
    from config.http_server import Server
    from config.server import split_application

    wsgi, websocket = split_application(application)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(2048)
    listener.setblocking(False)
    server = Server([listener], wsgi, websocket, threads=settings.PRAETOR_WEB_THREADS,
                    poll_threads=settings.PRAETOR_WEB_POLL_THREADS, keepalive=5, max_connections=1000,
                    forwarded_allow_ips="127.0.0.1", send_timeout=60, access_log=None)
    server.start()
    while True:
        time.sleep(3600)


def count_served(n: int, work: Path) -> dict:
    import django
    from servers import Service, free_port, production_env

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("PRAETOR_TEST_DB_NAME", _database())
    django.setup()
    from hot_requests import setup_tenant

    prefix, key = setup_tenant()
    port = free_port()
    out = work / "cg-served"
    server = Service("server under callgrind", [*_VALGRIND, f"--callgrind-out-file={out}.%p", sys.executable,
                                                __file__, "serve", str(port)],
                     # connections kept 600 s as in the in-process ways: under valgrind's slowdown the deployed 60 s
                     # would reconnect (and prepare statements again) every few hundred requests instead of tens of
                     # thousands
                     {**production_env(_database(), port, 1), "DB_CONN_MAX_AGE": "600"}, work / "served.log")
    try:
        server.wait_http(f"http://127.0.0.1:{port}/health", timeout=900)
        pid = server.proc.pid
        send = _client(port, prefix, key)
        cycle = Cycle(send, _flow_run(send))
        cycle.all(30)
        _control(pid, "-i", "on")
        cycle.all(10)  # warm-up with instrumentation on
        counted = Counted(pid, out)
        idle = counted.measure(lambda: time.sleep(3))
        empty = (0, {}, 0.0)
        batches = {}
        for kind in KINDS:
            cycle.plan(kind, n)
            answers: list = []
            batches[kind] = counted.measure(lambda: answers.extend(cycle.run()))  # noqa: B023 - called at once
            cycle.take(answers)
    finally:
        server.stop()
    rate = idle[0] / idle[2]
    print(f"  served, idle server: {rate:,.0f} instructions/s (subtracted over each batch's time)")
    result = _per_request(batches, empty, n, rate)
    for kind in KINDS:  # the idle functions, pro rata
        for f, v in idle[1].items():
            result[kind][1][f] = result[kind][1].get(f, 0) - v / idle[2] * batches[kind][2] / n
    return result


def _client(port: int, prefix: str, key: str):
    """`send(method, path, data) -> (status, body)` over one keep-alive connection, the in-process way's headers."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = _headers(f"127.0.0.1:{port}", key)

    def send(method, path, data):
        conn.putrequest(method, prefix + path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name.decode(), value.decode())
        if data is not None:
            conn.putheader("content-type", "application/json")
            conn.putheader("content-length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        return response.status, response.read()

    return send


def count(args) -> None:
    work = Path(tempfile.mkdtemp(prefix="praetor-instructions-"))
    results = {}
    for mode in args.modes:
        started = time.time()
        results[mode] = count_served(args.n, work) if mode == "served" else count_inprocess(mode, args.n, work)
        print(f"  {mode}: {time.time() - started:.0f} s, dumps in {work}", flush=True)
    print(f"\ninstructions per request (callgrind, user space; {args.n} requests a batch)")
    print(f"  {'request':28}" + "".join(f"{m:>14}" for m in args.modes))
    names = {"create": "POST task_runs/", "running": "set_state Running", "completed": "set_state Completed",
             "read": "GET task_runs/{id}"}
    for kind in KINDS:
        print(f"  {names[kind]:28}" + "".join(f"{results[m][kind][0]:14,.0f}" for m in args.modes))
    print(f"  {'cycle (4 requests)':28}" + "".join(f"{sum(results[m][k][0] for k in KINDS):14,.0f}"
                                                   for m in args.modes))
    print("\nby object, the cycle's four requests summed")
    objects: dict[str, dict[str, float]] = {}
    for m in args.modes:
        for kind in KINDS:
            for f, v in results[m][kind][1].items():
                obj = (f.rsplit(" [", 1)[-1].rstrip("]") if " [" in f else "libpython (inlined)"
                       if f.startswith(("./Include", "Include", "Objects", "Python", "Modules", "Parser")) else "?")
                objects.setdefault(Path(obj).name, dict.fromkeys(args.modes, 0.0))[m] += v
    for obj, row in sorted(objects.items(), key=lambda kv: -max(kv[1].values()))[:args.top // 2]:
        print(f"  {obj[:28]:28}" + "".join(f"{row[m]:14,.0f}" for m in args.modes))
    pairs = [(a, b) for a, b in (("production", "served"), ("test", "production")) if a in results and b in results]
    for base, other in pairs:
        print(f"\nown instructions per request, {other} minus {base}, the cycle summed (top {args.top})")
        diff: dict[str, float] = {}
        for kind in KINDS:
            for f in set(results[base][kind][1]) | set(results[other][kind][1]):
                diff[f] = diff.get(f, 0) + results[other][kind][1].get(f, 0) - results[base][kind][1].get(f, 0)
        for f, v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:args.top]:
            print(f"  {v:12,.0f}  {f[:150]}")
    if args.json:
        Path(args.json).write_text(json.dumps({m: {k: results[m][k][0] for k in KINDS} for m in results}, indent=1))


# ---- CPU per request served, under co-runners ----

_BUSY = "while True:\n    pass\n"
_MEMORY = ("a = bytearray(64 << 20)\nn = len(a)\ni = 0\nwhile True:\n"
           "    for j in range(0, n, 4096 + 64):\n        a[(i + j) % n] = 1\n    i += 64\n")


def _co_runners(condition: str) -> list[subprocess.Popen]:
    if condition == "quiet":
        return []
    what, k = condition.split(":")
    code = {"busy": _BUSY, "memory": _MEMORY}[what]
    return [subprocess.Popen([sys.executable, "-c", code], start_new_session=True) for _ in range(int(k))]


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)


def _ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])  # utime, stime of all the process's threads


def cpu(args) -> None:
    import django
    from http_layer import worker_pid
    from servers import free_port, production_env, start_gunicorn

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ.setdefault("PRAETOR_TEST_DB_NAME", _database())
    django.setup()
    from hot_requests import setup_tenant

    prefix, key = setup_tenant()
    work = Path(tempfile.mkdtemp(prefix="praetor-cpu-"))
    port = free_port()
    timing = work / "timing"
    env = {**production_env(_database(), port, 1), "PRAETOR_HTTP_TIMING_LOG": str(timing)}
    server, _ = start_gunicorn(str(ROOT / ".venv" / "bin" / "python"), env, work / "served.log",
                               args=("--max-requests", "0"))
    # ns per instruction: the handler's CPU per kind against the in-process count with production settings (the
    # handler's instructions), the worker's user CPU per request against the served count (the kernel's is system)
    counts = json.loads(Path(args.instructions).read_text()) if args.instructions else None
    tick = os.sysconf("SC_CLK_TCK")
    try:
        pid = worker_pid(server.proc.pid)
        send = _client(port, prefix, key)
        cycle = Cycle(send, _flow_run(send))
        cycle.all(100)
        log = Path(f"{timing}.{pid}")
        print(f"CPU per request served ({args.n} cycles a measurement; µs; handler = request thread inside the "
              f"handler, by kind; worker = user + system of the whole worker over the 4 kinds)")
        print(f"  {'condition':10} {'load':>5}" + "".join(f"{k:>10}" for k in KINDS)
              + f"{'worker u':>10}{'worker s':>10}"
              + ("   ns/instruction: handler by kind; worker user" if counts else ""))
        for _ in range(args.rounds):
            for condition in args.conditions:
                procs = _co_runners(condition)
                try:
                    time.sleep(1.0)
                    skip = len(log.read_text().splitlines())
                    u0, s0 = _ticks(pid)
                    for _ in range(args.n // 10):
                        cycle.all(10)
                    u1, s1 = _ticks(pid)
                    load = os.getloadavg()[0]
                finally:
                    _stop(procs)
                lines = [line.split("\t") for line in log.read_text().splitlines()[skip:]]
                per = {kind: [] for kind in KINDS}
                for fields in lines:
                    path = fields[2]
                    kind = ("read" if fields[1] == "GET" else "create" if path.endswith("/task_runs/")
                            else None)
                    per.setdefault(kind, []).append(float(fields[5]) * 1000)
                setstates = per.pop(None, [])
                # set_state Running then Completed alternate per task in batches: the first half of each batch of
                # 10 is Running (Cycle.all sends the kinds in order)
                for i in range(0, len(setstates), 20):
                    per["running"] += setstates[i:i + 10]
                    per["completed"] += setstates[i + 10:i + 20]
                means = {kind: sum(v) / len(v) for kind, v in per.items() if v}
                n_req = sum(len(v) for v in per.values())
                row = (f"  {condition:10} {load:5.2f}" + "".join(f"{means[k]:10.0f}" for k in KINDS)
                       + f"{(u1 - u0) / tick / n_req * 1e6:10.0f}{(s1 - s0) / tick / n_req * 1e6:10.0f}")
                if counts:
                    served = sum(counts["served"][k] for k in KINDS) / len(KINDS)
                    row += ("   " + " ".join(f"{means[k] * 1000 / counts['production'][k]:.3f}" for k in KINDS)
                            + f"; {(u1 - u0) / tick / n_req * 1e9 / served:.3f}")
                print(row, flush=True)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    c = sub.add_parser("count")
    c.add_argument("-n", type=int, default=40, help="requests a batch")
    c.add_argument("--modes", nargs="+", default=["test", "production", "served"],
                   choices=["test", "production", "served"])
    c.add_argument("--top", type=int, default=30)
    c.add_argument("--json")
    p = sub.add_parser("cpu")
    p.add_argument("-n", type=int, default=300, help="cycles (task runs) a measurement, a multiple of 10")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--conditions", nargs="+", default=["quiet", "busy:2", "memory:2"])
    p.add_argument("--instructions")
    sub.add_parser("inner")
    sub.add_parser("serve").add_argument("port", type=int)
    args = parser.parse_args()
    if args.part == "serve":
        import django

        django.setup()
        serve(args.port)
    {"count": count, "cpu": cpu, "inner": lambda _: inner()}[args.part](args)


if __name__ == "__main__":
    main()
