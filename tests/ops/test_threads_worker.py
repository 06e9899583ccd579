"""gunicorn running the threads worker (config/server.py ThreadsWorker, the default of deploy/gunicorn.conf.py):
max_requests recycles the worker, and SIGTERM lets a request in flight finish (answered with Connection: close)
before the worker and the master exit cleanly."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from tests.ops.processes import clean_env, free_port, start_group, stop_group, tail, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

BIN = Path(sys.executable).parent


def _workers(master: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    found.add(int(entry.name))
            except (OSError, ValueError):
                continue
    return found


@pytest.fixture
def gunicorn(tmp_path):
    port = free_port()
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings.test", ALLOWED_HOSTS="127.0.0.1",
                    PRAETOR_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", PRAETOR_WEB_SERVER="threads",
                    PATH=f"{BIN}:{clean_env()['PATH']}")
    log = tmp_path / "gunicorn.log"
    proc = start_group([str(BIN / "gunicorn"), "config.asgi:application", "-c", "deploy/gunicorn.conf.py",
                        "--max-requests", "4", "--max-requests-jitter", "0"], env=env, log=log)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc, log=log, timeout=90)
        yield proc, port, log
    finally:
        stop_group(proc)


def _health(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_max_requests_recycles_the_worker(gunicorn):
    proc, port, log = gunicorn
    seen = set()
    for _ in range(14):
        assert _health(port).startswith(b"HTTP/1.1 200 OK"), tail(log)
        seen |= _workers(proc.pid)
        time.sleep(0.3)
    text = log.read_text()
    assert "Using worker: config.server.ThreadsWorker" in text
    assert "Autorestarting worker after current request." in text
    assert len(seen) >= 2, text  # a new worker forked after the old one reached max_requests
    assert "Traceback" not in text


def test_sigterm_lets_the_request_in_flight_finish_then_exits(gunicorn):
    proc, port, log = gunicorn
    body = b'{"a": 1}'
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.sendall(b"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body[:3])
    time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)  # the master: it sends SIGTERM to the worker and waits graceful_timeout
    time.sleep(1.5)  # the worker is stopping: the request half read is waited for
    sock.sendall(body[3:])
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 "), data  # answered (Django's CSRF 403 or 405), not cut
    assert b"connection: close" in head
    assert proc.wait(timeout=30) == 0, tail(log)
    assert "Traceback" not in log.read_text()
