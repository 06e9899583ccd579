"""CPU and Python calls per request of the serving path around the view, in one process.

`server`: config/http_server's per-request work (recv, the httptools callbacks, the environ, the answer's head,
sendall, the re-arm) for a task run read as the prefect client sends it, on a socket pair, with a WSGI
application that answers a fixed task-run response (the ten headers and 1,358 bytes of the real one): what the
request threads run outside Django. Run it with each tree's code (`--root`), alternating.

`handler`: Django's WSGIHandler and config/handler.py's Handler, alternating in rounds, each called the way the
server calls it (config/http_threads.run_wsgi) for a real task run read and set_state (the database of the
settings, migrated; CONN_MAX_AGE as in production so that the connection is kept).

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/serving_path.py server|handler [-n 3000] [-r 7]
        [--root TREE]... [--profile]

Prints, per way, the minimum over the rounds of the process CPU per request (µs) and the Python calls per request.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_HEADERS = [("Content-Type", "application/json"), ("Allow", "GET, PATCH, DELETE, HEAD, OPTIONS"),
            ("RateLimit-Limit", "1000000000"), ("RateLimit-Remaining", "999999995"), ("RateLimit-Reset", "0"),
            ("X-Frame-Options", "DENY"), ("Content-Length", "1358"), ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin")]
_REQUEST = (b"GET /api/accounts/0b6c2d4e-6f1a-4b8c-9d0e-1f2a3b4c5d6e/workspaces/1c7d3e5f-7a2b-4c9d-8e1f-2a3b4c5d6e7f/"
            b"task_runs/7b02c418-2efa-4982-abb4-3801c39f9db0 HTTP/1.1\r\nhost: 127.0.0.1:4200\r\n"
            b"accept: */*\r\naccept-encoding: gzip, deflate\r\nconnection: keep-alive\r\n"
            b"user-agent: prefect/2.20.0 (API 0.8.4)\r\nx-prefect-api-version: 0.8.4\r\n"
            b"authorization: Bearer pnu_" + b"x" * 36 + b"\r\n\r\n")


_PROFILED = 1000  # requests profiled per way (a rate-limit lease is refilled every so many: counted on average)


def _setup(root: Path) -> None:
    sys.path.insert(0, str(root))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()


def _rounds(ways: dict, n: int, rounds: int, profile: bool) -> None:
    best = {name: float("inf") for name in ways}
    for _ in range(rounds):
        for name, fn in ways.items():
            start = time.process_time()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.process_time() - start) / n * 1e6)
    for name, fn in ways.items():
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(_PROFILED):
            fn()
        profiler.disable()
        stats = pstats.Stats(profiler)
        print(f"{name:24s} {best[name]:8.1f} µs CPU  {stats.total_calls / _PROFILED:7.1f} calls per request")
        if profile:
            stats.sort_stats("tottime").print_stats(25)


def server(n: int, rounds: int, profile: bool) -> None:
    import select
    import socket

    from config.http_server.connection import Connection
    from config.http_server.server import _READ, Server

    body = b"x" * 1358

    def app(environ, start_response):
        environ["wsgi.input"].read()
        start_response("200 OK", list(_HEADERS))
        return [body]

    srv = Server([], app, threads=1)
    srv.epoll = select.epoll()
    client, served = socket.socketpair()
    conn = Connection(srv, served)
    srv.connections[conn.fd] = conn
    srv.epoll.register(conn.fd, _READ)

    def one():
        client.sendall(_REQUEST)
        srv._readable(conn)
        client.recv(65536)

    _rounds({"server": one}, n, rounds, profile)


def handler(n: int, rounds: int, profile: bool) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections
    from hot_requests import setup_tenant

    from config.handler import Handler
    from config.http_threads import _environ, run_wsgi

    settings.ALLOWED_HOSTS = ["*"]
    connections["default"].settings_dict["CONN_MAX_AGE"] = 600
    prefix, key = setup_tenant()
    headers = [(b"host", b"127.0.0.1:4200"), (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate"),
               (b"connection", b"keep-alive"), (b"user-agent", b"prefect/2.20.0 (API 0.8.4)"),
               (b"x-prefect-api-version", b"0.8.4"), (b"authorization", f"Bearer {key}".encode())]

    def environ(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        sent = headers if body is None else [*headers, (b"content-type", b"application/json"),
                                             (b"content-length", str(len(data)).encode())]
        scope = {"method": method, "path": prefix + path, "query_string": b"", "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 4200), "client": ("127.0.0.1", 5555), "root_path": "",
                 "headers": sent}
        return _environ(scope, io.BytesIO(data), len(data))

    django_handler, handler_ = WSGIHandler(), Handler()

    def call(app, method, path, body=None):
        status, _, content = run_wsgi(app, environ(method, path, body))
        if int(status[:3]) >= 300:
            raise RuntimeError(f"{method} {path}: {status} {content[:300]!r}")
        return json.loads(content)

    flow = call(handler_, "POST", "/flows/", {"name": "serving-path"})["id"]
    run = call(handler_, "POST", "/flow_runs/", {"flow_id": flow, "name": "r", "state": {"type": "RUNNING"}})["id"]
    task = call(handler_, "POST", "/task_runs/", {"flow_run_id": run, "task_key": "t", "dynamic_key": "0",
                                                  "name": "t", "state": {"type": "PENDING"}})["id"]
    state = {"state": {"type": "RUNNING", "name": "Running"}, "force": True}
    ways = {}
    for name, app in (("django WSGIHandler", django_handler), ("config.handler.Handler", handler_)):
        ways[f"read {name}"] = lambda app=app: call(app, "GET", f"/task_runs/{task}")
        ways[f"set_state {name}"] = lambda app=app: call(app, "POST", f"/task_runs/{task}/set_state", state)
    _rounds(ways, n, rounds, profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["server", "handler"])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("-r", type=int, default=7)
    parser.add_argument("--root", type=Path, action="append", default=[])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "server" and args.root and not args.inner:
        for _ in range(2):  # each tree in a process of its own, back to back, twice
            for root in args.root:
                print(f"# {root}", flush=True)
                subprocess.run([sys.executable, __file__, "server", "-n", str(args.n), "-r", str(args.r),
                                "--inner", *(["--profile"] if args.profile else [])],
                               cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, check=True)
        return
    _setup(Path.cwd() if args.inner else ROOT)
    (server if args.part == "server" else handler)(args.n, args.r, args.profile)


if __name__ == "__main__":
    main()
