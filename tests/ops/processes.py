"""Helpers for the ops tests: a clean environment for subprocesses and bounded process groups."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent

# Variables the test process carries (pytest-django, config.settings.test) that would pull a
# subprocess out of the mode it is meant to run in.
_SCRUBBED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DEBUG",
    "PRAETOR_DATA_DIR",
    "PRAETOR_TEST_DB_NAME",
    "PRAETOR_BIND",
)


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any Praetor/Django configuration, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(overrides)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int = signal.SIGTERM):
    """A `preexec_fn` that has the kernel send `sig` to the child when the test process dies.

    Process groups let a fixture stop what it started; they do nothing when pytest itself is killed
    (a cancelled CI job, a SIGKILL), which used to leave servers running. The signal goes to the
    direct child only: a supervisor (honcho) should get SIGTERM so that it stops its own children.
    """

    def _set() -> None:
        _libc.prctl(_PR_SET_PDEATHSIG, sig)

    return _set


def start_group(cmd: list[str], *, env: dict[str, str], log: Path, cwd: Path = REPO) -> subprocess.Popen:
    """Start `cmd` in its own process group (so stop_group reaches every child), output to `log`.

    The child also gets SIGTERM if the test process dies without stopping it.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),
        )


def stop_group(proc: subprocess.Popen, *, grace: float = 20.0) -> None:
    """SIGTERM the whole group, wait up to `grace` seconds, then SIGKILL whatever is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader: a zombie still counts as a member of its group
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
    proc.wait(timeout=5)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(NoRedirect)


def http_get(url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET a loopback URL without following redirects: (status, body)."""
    return http_request(url, headers=headers, timeout=timeout)[::2]


def http_request(url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0):
    """GET a loopback URL without following redirects: (status, headers, body)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_for_http(
    url: str, *, proc: subprocess.Popen, log: Path, timeout: float, headers: dict[str, str] | None = None
) -> None:
    """Poll `url` until it answers 200; fail early if `proc` died, with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before {url} answered:\n{tail(log)}")
        try:
            if http_get(url, headers=headers, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s:\n{tail(log)}")


def tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
