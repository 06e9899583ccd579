"""Servers a benchmark starts: each in a session of its own (its own process group), logged to a file, waited for
over HTTP, stopped by group, so that only the processes we started are ever stopped. `start_gunicorn` starts this
server as deployed (gunicorn, config.asgi, deploy/gunicorn.conf.py unless told otherwise)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A server started in a new session (its own process group), logged to a file, stopped by group."""

    running: list[Service] = []

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path, cwd: Path = ROOT):
        self.name, self.log = name, log
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=cwd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        Service.running.append(self)

    def wait_http(self, url: str, timeout: float = 180) -> None:
        """Until `url` answers (below 400); stops the server and exits if it ends or does not answer in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.proc.returncode}); see {self.log}")
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"{self.name} did not answer {url} within {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self in Service.running:
            Service.running.remove(self)


def thread_ns(pid: int) -> int:
    """CPU time (user + system, ns) of a process's threads alive now, from /proc/PID/task/TID/schedstat: finer than
    /proc/PID/stat's 10 ms clock ticks for runs of a few seconds; 0 for a process gone."""
    total = 0
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                total += int((task / "schedstat").read_text().split()[0])
    return total


def production_env(database: str, port: int, workers: int) -> dict:
    """The environment of this server as deployed (production settings) on 127.0.0.1:`port` with `workers` worker
    processes, on database `database` and a Redis key prefix of its own."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": f"{PG}/{database}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "PRAETOR_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "PRAETOR_REDIS_PREFIX": f"praetor-bench-{secrets.token_hex(3)}:",
    }


def start_gunicorn(
    python: str,
    env: dict,
    log: Path,
    config: str = "deploy/gunicorn.conf.py",
    args: tuple = (),
    cwd: Path = ROOT,
    timeout: float = 180,
) -> tuple[Service, str]:
    """gunicorn serving config.asgi with `config` (and `args`), bound where env's PRAETOR_BIND says; returns it once
    GET /health answers, and its URL."""
    url = f"http://{env['PRAETOR_BIND']}"
    server = Service(
        "praetor (gunicorn)", [python, "-m", "gunicorn", "config.asgi:application", "-c", config, *args], env, log, cwd
    )
    server.wait_http(f"{url}/health", timeout)
    return server, url
