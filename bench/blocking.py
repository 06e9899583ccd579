"""Where the serving process blocks, per request of the real client's mix: system calls by kind, PostgreSQL round
trips, futex waits and context switches, per endpoint.

The server is `bench/instructions.py serve` (config/http_server's Server as gunicorn's worker builds it, production
settings, one process, no fork) on a fresh database, or with `--tree DIR` the same from another checkout (DIR's
bench/instructions.py and code, this checkout's database set-up). After a warm-up run of the real prefect 2.20
client (client-oss mode, 1 x 1 x T):

- `switches`: a client run (1 x F x T) without strace; each thread's voluntary and involuntary context switches
  (/proc/PID/task/*/status) over it, per request;
- `trace`: a client run under `strace -f -ff -tt -s 120 -p PID` (one file per thread: no unfinished/resumed
  splits). Each request thread's calls are cut at every `epoll_wait` (a segment: the wait, then what the thread
  did with what it was handed); a segment whose `recvfrom` reads an HTTP request is that request's, named by
  method and path (ids replaced). Per endpoint: calls by kind, the PostgreSQL socket's sends (round trips; each
  send's first message type: `Q` a simple query such as BEGIN/COMMIT, `B` bind/execute of a prepared statement,
  `P` a parse) and its polls and receives, futex waits (FUTEX_WAIT*: the thread slept on the GIL or a lock) and
  wakes. strace slows every call: the counts are exact, the times are not.

    .venv/bin/python bench/blocking.py [-F 3] [-T 10] [--tree DIR] [--keep DIR]
    # native CPU per task run of this checkout's server and DIR's, client runs alternated in rounds
    .venv/bin/python bench/blocking.py --cpu DIR [-F 10] [-T 10] [--rounds 4]

The database praetor_blocking_tr_<checkout> (and with --cpu _new, _old) is made anew and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flows
from compare import PG, fresh_database, prepare_praetor
from servers import Service, free_port, production_env, thread_ns

ROOT = flows.ROOT
DATABASE = "praetor_blocking_tr_" + re.sub(r"[^a-z0-9_]", "_", ROOT.name.lower())  # one a checkout
_ID = re.compile(r"/[0-9a-f][0-9a-f-]{5,}(?=/|$|\?)")
_LINE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) (\w+)\((.*)$")
_HTTP = re.compile(r'^(\d+), "(GET|POST|PATCH|PUT|DELETE|HEAD|OPTIONS) ([^\s"]+)')


def _endpoint(method: str, path: str) -> str:
    path = _ID.sub("/{id}", path.split("?", 1)[0].split("/api/", 1)[-1])
    return f"{method} {re.sub(r'^accounts/{id}/workspaces/{id}/', '', path)}"


def _status(pid: int) -> dict[int, tuple[str, int, int]]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = dict(line.split(":\t", 1) for line in (task / "status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        out[int(task.name)] = (fields["Name"].strip(), int(fields["voluntary_ctxt_switches"]),
                               int(fields["nonvoluntary_ctxt_switches"]))
    return out


def _sockets(pid: int) -> dict[int, str]:
    """fd -> 'pg' / 'redis' / 'http' / 'listen' for the process's TCP sockets now."""
    inodes = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes[target[8:-1]] = int(fd.name)
    kinds = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            remote_port = int(f[2].rsplit(":", 1)[1], 16)
            if f[9] in inodes:
                kind = {5432: "pg", 6379: "redis"}.get(remote_port, "listen" if f[3] == "0A" else "http")
                kinds[inodes[f[9]]] = kind
    return kinds


def _client(url: str, key: str, F: int, T: int) -> int:
    timings: dict = defaultdict(list)
    flows.run_client(url, key, 1, F, T, timings, extra_env={"PREFECT_API_REQUEST_TIMEOUT": "900"})
    return sum(len(v) for v in timings.values())


class Segment:
    __slots__ = ("calls", "endpoint", "fd", "futex_wait", "futex_wake", "parts", "pg", "thread", "threads")

    def __init__(self, thread: int):
        self.thread = thread
        self.calls: Counter = Counter()
        self.pg: list[str] = []
        self.endpoint = self.fd = None
        self.futex_wait = self.futex_wake = 0
        self.parts = 1  # segments (epoll wake-ups) a request took
        self.threads = {thread}

    def absorb(self, other: Segment) -> None:
        self.calls.update(other.calls)
        self.pg += other.pg
        self.futex_wait += other.futex_wait
        self.futex_wake += other.futex_wake
        self.parts += 1
        self.threads.add(other.thread)


def parse(files: list[Path], kinds: dict[int, str]) -> list[Segment]:
    """Each thread's calls cut at its epoll_waits, in time order across threads; a segment that reads more of a
    request begun in an earlier one (its body) is added to that request's."""
    lines = []
    for file in files:
        tid = int(file.name.rsplit(".", 1)[1])
        for line in file.read_text(errors="replace").splitlines():
            m = _LINE.match(line)
            if m:
                lines.append((m.group(1), tid, m.group(2), m.group(3)))
    lines.sort()
    segments, current, last = [], {}, {}  # last: HTTP fd -> its latest request's segment
    for _, tid, name, rest in lines:
        seg = current.get(tid)
        if seg is None or name == "epoll_wait":
            seg = current[tid] = Segment(tid)
            segments.append(seg)
        seg.calls[name] += 1
        if name == "futex":
            if "FUTEX_WAIT" in rest:
                seg.futex_wait += 1
            elif "FUTEX_WAKE" in rest:
                seg.futex_wake += 1
        head = rest.split(",", 1)[0]
        fd = int(head) if head.isdigit() else None
        kind = kinds.get(fd)
        if name in ("recvfrom", "read") and kind in (None, "http") and not rest.startswith(f"{fd}, 0x"):
            h = _HTTP.match(rest)
            if h and seg.endpoint not in (None, "(continuation)"):  # a next request read in the same wake-up
                seg.calls[name] -= 1
                seg = current[tid] = Segment(tid)
                seg.calls[name] += 1
                seg.parts = 0
                segments.append(seg)
            if h and seg.endpoint is None:
                seg.endpoint, seg.fd = _endpoint(h.group(2), h.group(3)), fd
                last[fd] = seg
            elif not h and seg.endpoint is None and fd in last and "= -1" not in rest:
                seg.endpoint = "(continuation)"
                last[fd].absorb(seg)
        if kind == "pg" and name in ("sendto", "write"):
            seg.pg.append(rest.split('"', 2)[1][:1] if '"' in rest else "?")
        if kind is not None:
            seg.calls[f"{name}[{kind}]"] += 1
    return [s for s in segments if s.endpoint != "(continuation)"]


def report(segments: list[Segment], requests: int) -> None:
    by: dict[str, list[Segment]] = defaultdict(list)
    for s in segments:
        by[s.endpoint or f"(no request: {s.thread})"].append(s)
    total = Counter()
    for s in segments:
        total.update(s.calls)
    print(f"\nall threads, per request ({requests} requests by the client's count):")
    for name, n in total.most_common():
        print(f"  {name:28} {n / requests:7.2f}")
    print("\nper endpoint (a request: from the epoll_wait that handed it over to the next, plus the segments that read"
          " its body), mean per request:")
    for endpoint, segs in sorted(by.items(), key=lambda kv: -len(kv[1])):
        if endpoint.startswith("(no request") and len(segs) < 3:
            continue
        calls, pg = Counter(), Counter()
        for s in segs:
            calls.update(s.calls)
            pg.update(s.pg)
        n = len(segs)
        kinds = ", ".join(f"{k} {v / n:.2f}" for k, v in pg.most_common())
        print(f"  {endpoint}  n={n}  pg round trips {sum(len(s.pg) for s in segs) / n:.2f} ({kinds})  futex wait "
              f"{sum(s.futex_wait for s in segs) / n:.2f} wake {sum(s.futex_wake for s in segs) / n:.2f}  wake-ups "
              f"{sum(s.parts for s in segs) / n:.2f}  on two threads {sum(len(s.threads) > 1 for s in segs) / n:.2f}")
        print("     " + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(calls.items()) if "[" not in k))
        print("     " + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(calls.items()) if "[" in k))


_PERF_EVENTS = ["raw_syscalls:sys_enter", "context-switches", *(f"syscalls:sys_enter_{name}" for name in (
    "epoll_wait", "epoll_ctl", "recvfrom", "sendto", "poll", "futex", "getrandom", "ioctl"))]


def _perf(pid: int, url: str, key: str, args, work: Path) -> None:
    """Natively (perf's counting of tracepoints, no strace): system calls by kind and context switches of the
    serving process over a client run, per request."""
    out = work / f"perf-{time.time():.0f}.csv"
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", str(out), "-p", str(pid), "-e", ",".join(_PERF_EVENTS)],
                            stderr=subprocess.DEVNULL)
    time.sleep(1)
    requests = _client(url, key, args.F, args.T)
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=30)
    counts = {}
    for line in out.read_text().splitlines():
        f = line.split(",")
        if len(f) > 3 and f[0].replace(".", "").isdigit():
            counts[f[2]] = float(f[0])
    print(f"\nnatively (perf stat, {requests} requests; the idle second before included):")
    for name in _PERF_EVENTS:
        print(f"  {name.split(':')[-1].replace('sys_enter_', ''):24} {counts.get(name, 0) / requests:7.2f} a request")


def _record(pid: int, url: str, key: str, args, work: Path) -> None:
    """Natively (perf record of tracepoints): which thread each epoll wake-up went to, and what each thread did
    when it left the CPU after sending an answer (blocked, or preempted while runnable)."""
    data = work / "perf.data"
    perf = subprocess.Popen(["perf", "record", "-q", "-o", str(data), "-p", str(pid), "-e",
                             "syscalls:sys_exit_epoll_wait,syscalls:sys_enter_sendto,sched:sched_switch"],
                            stderr=subprocess.DEVNULL)
    time.sleep(1)
    requests = _client(url, key, args.F, args.T)
    perf.send_signal(signal.SIGINT)
    perf.wait(timeout=60)
    text = subprocess.run(["perf", "script", "-i", str(data), "-F", "tid,event,trace"], capture_output=True,
                          text=True).stdout
    wakeups = changes = preempted = blocked = 0
    previous = None
    for line in text.splitlines():
        f = line.split()
        if len(f) < 2:
            continue
        tid, event = int(f[0]), f[1].rstrip(":")
        if event.endswith("sys_exit_epoll_wait") and not line.rstrip().endswith("0x0"):
            wakeups += 1
            changes += previous is not None and tid != previous
            previous = tid
        elif event.endswith("sched_switch") and f"prev_pid={tid} " in line:
            if "prev_state=R" in line:
                preempted += 1
            else:
                blocked += 1
    print(f"\nnatively (perf record, {requests} requests): {wakeups / requests:.2f} epoll wake-ups a request, "
          f"{changes / requests:.2f} a request on another thread than the wake-up before; a request thread left the "
          f"CPU {blocked / requests:.2f} times blocked, {preempted / requests:.2f} preempted (runnable)")


def _ticks(pid: int) -> tuple[float, float, float]:
    """User and system CPU seconds (clock ticks: 10 ms), and the threads' CPU seconds from schedstat (ns)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick, thread_ns(pid) / 1e9


def cpu(args, work: Path) -> None:
    """This checkout's server (`new`) and `--cpu DIR`'s (`old`), each `bench/instructions.py serve` on a fresh
    database of its own, warmed up; then client runs (1 x F x T) alternated between them, new first in odd rounds;
    each run's user and system CPU of the serving process per task run, less its idle rate (a pause before)."""
    import psycopg

    up = {}
    for which, tree in (("new", ROOT), ("old", Path(args.cpu))):
        database = f"{DATABASE}_{which}"
        fresh_database(database)
        path, key = prepare_praetor(database)
        port = free_port()
        env = {**production_env(database, port, 1), "PRAETOR_AUTH_CACHE_SECONDS": "3600", "DB_CONN_MAX_AGE": "600"}
        server = Service(which, [sys.executable, str(tree / "bench" / "instructions.py"), "serve", str(port)], env,
                         work / f"{which}.log", cwd=tree)
        server.wait_http(f"http://127.0.0.1:{port}/health")
        url = f"http://127.0.0.1:{port}{path}"
        _client(url, key, 1, args.T)  # warm-up
        up[which] = (server, url, key, database)
    tr = args.F * args.T
    print(f"server CPU per task run natively (1 client process x {args.F} x {args.T}; µs; idle rate subtracted)")
    try:
        for n in range(args.rounds):
            for which in (("new", "old") if n % 2 == 0 else ("old", "new")):
                server, url, key, database = up[which]
                with psycopg.connect(f"{PG}/{database}", autocommit=True) as conn:
                    conn.execute("ANALYZE")
                pid = server.proc.pid
                u0, s0, c0 = _ticks(pid)
                time.sleep(args.idle)
                u1, s1, c1 = _ticks(pid)
                t0 = time.perf_counter()
                requests = _client(url, key, args.F, args.T)
                seconds = time.perf_counter() - t0
                u2, s2, c2 = _ticks(pid)
                user = (u2 - u1) - (u1 - u0) / args.idle * seconds
                system = (s2 - s1) - (s1 - s0) / args.idle * seconds
                total = (c2 - c1) - (c1 - c0) / args.idle * seconds
                print(f"  round {n + 1} {which}  CPU {total / tr * 1e6:7,.0f}  (user {user / tr * 1e6:6,.0f}, system "
                      f"{system / tr * 1e6:5,.0f}: ticks)  {requests / tr:.2f} requests a task run, {seconds:.1f} s, "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        for server, _, _, database in up.values():
            server.stop()
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=3)
    parser.add_argument("-T", type=int, default=10)
    parser.add_argument("--tree", help="serve from this checkout instead")
    parser.add_argument("--keep", help="keep the strace files here")
    parser.add_argument("--no-trace", action="store_true")
    parser.add_argument("--parse", help="only report on the strace files kept in this folder")
    parser.add_argument("--cpu", metavar="DIR", help="native CPU per task run, this checkout's server against DIR's")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--idle", type=float, default=3)
    args = parser.parse_args()
    if args.parse:
        kept = Path(args.parse)
        report(parse(sorted(kept.glob("tr.*")), eval((kept / "kinds.txt").read_text())),
               int((kept / "requests.txt").read_text()))
        return
    tree = Path(args.tree) if args.tree else ROOT
    work = Path(args.keep or tempfile.mkdtemp(prefix="praetor-blocking-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.cpu:
        cpu(args, work)
        return
    print(f"files in {work}; serving from {tree}; load average {os.getloadavg()}", flush=True)
    fresh_database(DATABASE)
    path, key = prepare_praetor(DATABASE)
    port = free_port()
    env = {**production_env(DATABASE, port, 1), "PRAETOR_AUTH_CACHE_SECONDS": "3600", "DB_CONN_MAX_AGE": "600"}
    server = Service("praetor", [sys.executable, str(tree / "bench" / "instructions.py"), "serve", str(port)], env,
                     work / "server.log", cwd=tree)
    try:
        server.wait_http(f"http://127.0.0.1:{port}/health")
        url = f"http://127.0.0.1:{port}{path}"
        pid = server.proc.pid
        _client(url, key, 1, args.T)  # warm-up
        before = _status(pid)
        requests = _client(url, key, args.F, args.T)
        after = _status(pid)
        print(f"\ncontext switches per request, no strace ({requests} requests, {args.F} x {args.T} task runs):")
        vol = inv = 0
        for tid, (name, v, i) in sorted(after.items()):
            b = before.get(tid, (name, 0, 0))
            dv, di = v - b[1], i - b[2]
            vol, inv = vol + dv, inv + di
            if dv or di:
                print(f"  {tid} {name:16} voluntary {dv / requests:6.2f}  involuntary {di / requests:6.2f}")
        print(f"  all              voluntary {vol / requests:6.2f}  involuntary {inv / requests:6.2f}")
        _perf(pid, url, key, args, work)
        _record(pid, url, key, args, work)
        if args.no_trace:
            return
        out = work / "tr"
        strace = subprocess.Popen(["strace", "-f", "-ff", "-tt", "-s", "200", "-o", str(out), "-p", str(pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(2)
        requests = _client(url, key, args.F, args.T)
        kinds = _sockets(pid)
        strace.send_signal(signal.SIGINT)
        strace.wait(timeout=30)
        (work / "kinds.txt").write_text(repr(kinds))
        (work / "requests.txt").write_text(str(requests))
        report(parse(sorted(work.glob("tr.*")), kinds), requests)
    finally:
        server.stop()
        import psycopg

        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
