"""CPU of the HTTP layer per request: the web worker's main thread (the event loop under the uvicorn worker; only
gunicorn's heartbeat under the threads worker, whose request threads parse HTTP themselves) and its other threads,
read per thread from /proc (schedstat: nanoseconds on a CPU), while N concurrent keep-alive connections send
the same small request over and over.

    .venv/bin/python bench/http_layer.py [-c 16] [-n 4000]                 # starts gunicorn, 1 worker
    .venv/bin/python bench/http_layer.py --root /tmp/old-checkout --python /tmp/venv/bin/python
    .venv/bin/python bench/http_layer.py --url http://127.0.0.1:8000 --pid 1234   # a running worker
    .venv/bin/python bench/http_layer.py --server uvicorn    # the other worker (PRAETOR_WEB_SERVER)

By default it starts this checkout's server as deployed (gunicorn, deploy/gunicorn.conf.py, config.asgi) with
one worker process (its default worker class unless `--server` names one) and the test settings, on a free
port, and stops it (by process group) at the end.
`--root` serves another checkout and `--python` uses another interpreter (a venv with or without uvloop and
httptools), to compare before and after on the same machine within a few minutes. The requests are
`GET /health` (Django answers from a view that reads nothing) and `POST /health` with a 2 KB body (403 from
Django's CSRF check, after the body went through the layer), so the CPU measured is the server's, the layer's and
Django's request cycle, not the database's. Prints, per case: requests/s, latency p50/p99, and CPU per
request of the event loop thread, of the other threads, and of the whole worker; and which event loop and
HTTP parser the worker loaded (from /proc/PID/maps).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from servers import Service, free_port, start_gunicorn

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile of `values` (nearest rank); NaN when there are none (a short run may end before a
    poll completes)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- per-thread CPU from /proc -------------------------------------------------------------------------------
def thread_cpu(pid: int) -> dict[int, float]:
    """{thread id: seconds on a CPU} of every thread of `pid` (schedstat's first field, in nanoseconds)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
    return out


def loaded(pid: int) -> str:
    maps = Path(f"/proc/{pid}/maps").read_text()
    loop = "uvloop" if "/uvloop/" in maps else "asyncio"
    parser = "httptools" if "/httptools/" in maps else "h11"
    return f"{loop} + {parser}"


# --- the load: N keep-alive connections, raw HTTP/1.1 -----------------------------------------------------------
async def _connection(host: str, port: int, request: bytes, deadline_count: list, latencies: list) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while deadline_count[0] > 0:
            deadline_count[0] -= 1
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if head[9:10] == b"5":  # Django's answer (200, 403, 404) is not the point; a server error is
                raise RuntimeError(head.decode("latin1").splitlines()[0])
    finally:
        writer.close()


async def _load(host: str, port: int, request: bytes, connections: int, total: int) -> list[float]:
    remaining, latencies = [total], []
    await asyncio.gather(*(_connection(host, port, request, remaining, latencies) for _ in range(connections)))
    return latencies


async def _polls_under_burst(host, port, burst: bytes, poll: bytes, connections: int, total: int) -> list[float]:
    remaining, burst_latencies, poll_latencies = [total], [], []

    async def poller():
        await asyncio.sleep(0.2)  # the burst first
        while remaining[0] > 0:
            await _connection(host, port, poll, [1], poll_latencies)
            await asyncio.sleep(0.01)

    tasks = [_connection(host, port, burst, remaining, burst_latencies) for _ in range(connections)]
    await asyncio.gather(*tasks, poller())
    return poll_latencies


def measure_polls(url: str, burst: bytes, poll: bytes, connections: int, total: int) -> dict:
    """Latency of poll-shaped requests (one at a time) while `connections` others keep the threads busy."""
    parts = urlsplit(url)
    latencies = asyncio.run(_polls_under_burst(parts.hostname, parts.port, burst, poll, connections, total))
    figures = {"case": "poll under burst", "polls": len(latencies), "p50_ms": percentile(latencies, 50) * 1e3,
               "p99_ms": percentile(latencies, 99) * 1e3}
    print(f"  {'a poll while ' + str(connections) + ' others send':34s} {len(latencies):6d} polls     "
          f"p50 {figures['p50_ms']:6.2f} ms  p99 {figures['p99_ms']:6.2f} ms   (PRAETOR_WEB_POLL_THREADS="
          f"{os.environ.get('PRAETOR_WEB_POLL_THREADS', 'default')})")
    return figures


def measure(url: str, pid: int, name: str, request: bytes, connections: int, total: int) -> dict:
    parts = urlsplit(url)
    asyncio.run(_load(parts.hostname, parts.port, request, connections, min(200, total)))  # warm-up
    before, started = thread_cpu(pid), time.perf_counter()
    latencies = asyncio.run(_load(parts.hostname, parts.port, request, connections, total))
    elapsed, after = time.perf_counter() - started, thread_cpu(pid)
    used = {tid: after[tid] - before.get(tid, 0.0) for tid in after}
    loop_cpu = used.get(pid, 0.0)
    others = sum(v for tid, v in used.items() if tid != pid)
    n = len(latencies)
    figures = {"case": name, "requests": n, "requests_s": n / elapsed, "p50_ms": percentile(latencies, 50) * 1e3,
               "p99_ms": percentile(latencies, 99) * 1e3, "loop_us": loop_cpu / n * 1e6,
               "threads_us": others / n * 1e6, "total_us": (loop_cpu + others) / n * 1e6}
    print(f"  {name:34s} {n:6d} requests  {figures['requests_s']:7.1f}/s  p50 {figures['p50_ms']:6.2f} ms  "
          f"p99 {figures['p99_ms']:6.2f} ms   CPU per request: main thread {figures['loop_us']:6.0f} µs  "
          f"other threads {figures['threads_us']:6.0f} µs  worker {figures['total_us']:6.0f} µs")
    return figures


def start_server(root: Path, python: str, log: Path, web_server: str | None = None) -> tuple[Service, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "WEB_CONCURRENCY": "1",
           "PRAETOR_BIND": f"127.0.0.1:{free_port()}", "ALLOWED_HOSTS": "127.0.0.1",
           **({"PRAETOR_WEB_SERVER": web_server} if web_server else {})}
    # --max-requests 0: the worker must not be recycled mid-run (its threads are what is measured)
    return start_gunicorn(python, env, log, args=("--max-requests", "0"), cwd=root, timeout=120)


def worker_pid(master: int) -> int:
    for _ in range(50):
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                        return int(entry.name)
        time.sleep(0.1)
    raise SystemExit("no gunicorn worker found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--connections", type=int, default=16)
    parser.add_argument("-n", "--requests", type=int, default=4000, help="requests per case")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to serve")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--url", help="measure a running server instead (with --pid, its worker process)")
    parser.add_argument("--pid", type=int)
    parser.add_argument("--label", default="")
    parser.add_argument("--server", choices=["threads", "uvicorn"],
                        help="the worker (PRAETOR_WEB_SERVER) of the checkout served; default: its deploy default")
    args = parser.parse_args()
    server = None
    if args.url:
        if not args.pid:
            parser.error("--url needs --pid (the worker process serving it)")
        url, pid = args.url.rstrip("/"), args.pid
    else:
        log = Path(tempfile.mkstemp(prefix="praetor-http-layer-", suffix=".log")[1])
        server, url = start_server(args.root.resolve(), args.python, log, args.server)
        pid = worker_pid(server.proc.pid)
        args.label += " " + next((line.rsplit(":", 1)[-1].strip() for line in log.read_text().splitlines()
                                  if "Using worker:" in line), "?")
    try:
        host = urlsplit(url).netloc.encode()
        body = b'{"x": "' + b"y" * 2030 + b'"}'
        cases = {
            "GET /health": b"GET /health HTTP/1.1\r\nHost: " + host + b"\r\n\r\n",
            "POST /health, 2 KB body (403)": (b"POST /health HTTP/1.1\r\nHost: " + host
                                              + b"\r\nContent-Type: application/json\r\nContent-Length: "
                                              + str(len(body)).encode() + b"\r\n\r\n" + body),
        }
        print(f"http layer {args.label}: {args.root} with {args.python}; worker {pid} runs {loaded(pid)}; "
              f"{args.connections} connections; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"on {os.cpu_count()} cores")
        for name, request in cases.items():
            measure(url, pid, name, request, args.connections, args.requests)
        # Poll-shaped (POST …/workers/heartbeat, no such route: Django answers 404) one at a time, while the
        # connections send the 2 KB POST: with a poll lane it does not queue behind them.
        poll = (b"POST /api/x/work_pools/p/workers/heartbeat HTTP/1.1\r\nHost: " + host
                + b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        measure_polls(url, cases["POST /health, 2 KB body (403)"], poll, args.connections, args.requests)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
