"""The serving layer's own CPU per request, Django left out: a WSGI application that answers at once, served in
this process by config/http_server/'s Server (the threads worker's) and by uvicorn + config/http_threads.py's
ThreadPoolHttp behind Channels' router (the uvicorn worker's), alternating; a client in another process sends
prefect-client-shaped POSTs (8 headers, a 60-byte body) over keep-alive connections.

    .venv/bin/python bench/server_overhead.py [-n 3000] [-c 3] [--rounds 3]

CPU is this process's (os.times, user + system) over the measured requests, so it is the server's alone: parsing,
the environ, the hand-off (uvicorn's), writing the answer, the wake-ups. Prints µs per request, requests/s and the
load average per run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from config.http_server import Server  # noqa: E402
from config.http_threads import ThreadPoolHttp  # noqa: E402

ANSWER = b'{"ok": true}'

_CLIENT = r"""
import socket, sys, threading
port, n, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
request = (b"POST /api/accounts/a/workspaces/w/task_runs/x/set_state HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nAuthorization: Bearer pnu_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
           b"X-Prefect-Api-Version: 0.8.4\r\nUser-Agent: prefect/2.20.26\r\nAccept: */*\r\n"
           b"Accept-Encoding: gzip, deflate\r\nContent-Length: 60\r\n\r\n" + b"x" * 60)

def one():
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in range(n):
        sock.sendall(request)
        data = b""
        while not data.endswith(b'{"ok": true}'):
            data += sock.recv(65536)

threads = [threading.Thread(target=one) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def answer(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER))),
                              ("Vary", "Accept")])
    return [ANSWER]


def drive(port: int, n: int, conns: int) -> tuple[float, float]:
    subprocess.run([sys.executable, "-c", _CLIENT, str(port), "200", str(conns)], check=True)  # warm-up
    before, started = os.times(), time.perf_counter()
    subprocess.run([sys.executable, "-c", _CLIENT, str(port), str(n), str(conns)], check=True)
    after, elapsed = os.times(), time.perf_counter() - started
    cpu = (after.user - before.user) + (after.system - before.system)  # this process: the server's threads only
    return cpu / (n * conns) * 1e6, n * conns / elapsed


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def threads_server(n: int, conns: int) -> tuple[float, float]:
    listener = _listener()
    server = Server([listener], answer, None, threads=4, poll_threads=1)
    server.start()
    try:
        return drive(listener.getsockname()[1], n, conns)
    finally:
        server.stop(1)
        listener.close()


def uvicorn_server(n: int, conns: int) -> tuple[float, float]:
    import uvicorn
    from channels.routing import ProtocolTypeRouter

    from config.server import remember_trusted_hosts

    listener = _listener()
    config = uvicorn.Config(ProtocolTypeRouter({"http": ThreadPoolHttp(answer, threads=4, poll_threads=1)}),
                            lifespan="off", log_level="warning", access_log=False, loop="uvloop", http="httptools")
    config.load()
    config.loaded_app = remember_trusted_hosts(config.loaded_app, config.forwarded_allow_ips)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        return drive(listener.getsockname()[1], n, conns)
    finally:
        server.should_exit = True
        thread.join(5)
        listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="requests per connection")
    parser.add_argument("-c", type=int, default=3, help="connections")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"server overhead: {args.c} connections x {args.n} requests, trivial WSGI app; {os.cpu_count()} cores")
    for _ in range(args.rounds):
        for name, run in (("threads (http_server)", threads_server), ("uvicorn + ThreadPoolHttp", uvicorn_server)):
            us, rate = run(args.n, args.c)
            print(f"  {name:26} {us:6.0f} µs/request  {rate:7.0f} requests/s  load {os.getloadavg()[0]:.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
