"""The README's first command, `make run`, booted for real in embedded mode (SQLite + kombu's
filesystem transport, no DATABASE_URL/REDIS_URL) in a temporary data folder: web, worker and beat
as the Procfile starts them. Proves the embedded scheduler runs periodic tasks and that the three
processes share the SQLite file without "database is locked"."""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from tests.ops.processes import NoRedirect, clean_env, free_port, http_get, start_group, stop_group, tail, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


class Stack:
    def __init__(self, base_url: str, data_dir, log, proc):
        self.base_url = base_url
        self.data_dir = data_dir
        self.db_path = data_dir / "praetor.sqlite3"
        self.log = log
        self.proc = proc

    def alive(self) -> bool:
        # honcho stops web, worker and beat together as soon as one of them exits.
        return self.proc.poll() is None

    def state(self) -> str:
        """What a failure needs to be diagnosed: whether the stack still runs, the broker's queue, the log."""
        waiting = sorted(p.name for p in (self.data_dir / "celery" / "queue").iterdir())
        running = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return (
            f"stack {running}; {len(waiting)} message(s) waiting in the broker's queue {waiting[:3]}\n"
            f"--- make-run.log (tail) ---\n{tail(self.log, 80)}"
        )

    def wait_until_gone(self, conn: sqlite3.Connection, prefix: str, seconds: float) -> set[str]:
        """Poll until no session key starts with `prefix` (the worker swept them), the stack died, or `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.alive() and _session_keys(conn, prefix):
            time.sleep(0.5)
        return _session_keys(conn, prefix)

    def wait_for_log(self, text: str, seconds: float) -> bool:
        """Whether `text` is in the log within `seconds` (polled while the stack runs)."""
        deadline = time.monotonic() + seconds
        while True:
            if text in self.log.read_text(errors="replace"):
                return True
            if time.monotonic() >= deadline or not self.alive():
                return False
            time.sleep(0.25)

    def db(self) -> sqlite3.Connection:
        # The same pragmas the app uses, so the test is one more well-behaved writer.
        conn = sqlite3.connect(self.db_path, timeout=20, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("praetor-embedded")
    log = data_dir / "make-run.log"
    port = free_port()
    env = clean_env(PRAETOR_DATA_DIR=str(data_dir), PRAETOR_BIND=f"127.0.0.1:{port}", PRAETOR_SESSION_SWEEP_SECONDS="1")
    proc = start_group(["make", "run"], env=env, log=log)
    try:
        # Covers venv check, migrate on a fresh SQLite file and gunicorn boot.
        wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc, log=log, timeout=180)
        yield Stack(f"http://127.0.0.1:{port}", data_dir, log, proc)
    finally:
        stop_group(proc)


def _sqlite_timestamp(moment: datetime) -> str:
    # How Django stores an aware UTC datetime in SQLite.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _insert_session(conn: sqlite3.Connection, key: str, expires: datetime) -> None:
    conn.execute(
        "INSERT INTO django_session (session_key, session_data, expire_date) VALUES (?, ?, ?)",
        (key, "e30:1:sig", _sqlite_timestamp(expires)),
    )


def _session_keys(conn: sqlite3.Connection, prefix: str) -> set[str]:
    rows = conn.execute("SELECT session_key FROM django_session WHERE session_key LIKE ?", (prefix + "%",))
    return {row[0] for row in rows}


def test_make_run_serves_health_ready_and_login_page_in_embedded_mode(stack):
    assert http_get(stack.base_url + "/health") == (200, b'{"status": "ok"}')
    status, body = http_get(stack.base_url + "/ready")
    assert status == 200
    assert body == b'{"status": "ok", "checks": {"database": "ok", "redis": "not configured"}}'
    status, body = http_get(stack.base_url + "/accounts/login/")
    assert status == 200
    assert b'name="password"' in body and b'name="csrfmiddlewaretoken"' in body
    # Worker and beat use the fixed filesystem transport (apps/core/broker.py), not kombu's own. Their banners
    # reach the log when each process prints them, which may be after the web answers: waited for.
    assert stack.wait_for_log(".> transport:   apps.core.broker:Transport://", 60), stack.state()
    assert stack.wait_for_log(". broker -> apps.core.broker:Transport://", 60), stack.state()


def test_embedded_beat_and_worker_delete_expired_sessions(stack):
    now = datetime.now(UTC)
    with stack.db() as conn:
        _insert_session(conn, "sweep-expired-1", now - timedelta(hours=1))
        _insert_session(conn, "sweep-expired-2", now - timedelta(seconds=1))
        _insert_session(conn, "sweep-live-1", now + timedelta(days=1))
    with stack.db() as conn:
        stack.wait_until_gone(conn, "sweep-expired-", 60)
        remaining = _session_keys(conn, "sweep-")
    assert remaining == {"sweep-live-1"}, stack.state()
    assert "praetor.core.clear_expired_sessions" in stack.log.read_text()


def _sign_up(base_url: str, email: str) -> tuple[int, str]:
    """A browser's sign-up, without a browser: GET the form for its CSRF token, POST it. A connection that
    fails (the stack stopped) is (0, the error), so the assertion reports it with the stack's state."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    try:
        with opener.open(base_url + "/accounts/signup/", timeout=30) as resp:
            token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', resp.read()).group(1).decode()
        form = {"csrfmiddlewaretoken": token, "email": email, "password1": "a long passphrase 42", "password2": ""}
        form["password2"] = form["password1"]
        request = urllib.request.Request(
            base_url + "/accounts/signup/", data=urllib.parse.urlencode(form).encode(), headers={"Referer": base_url}
        )
        with opener.open(request, timeout=30) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")
    except OSError as exc:  # URLError, a reset or a timeout
        return 0, repr(exc)


def test_web_worker_and_beat_share_sqlite_without_lock_errors(stack):
    # Light concurrent writing from every side: 12 sign-ups over 3 connections to the web
    # processes, the worker sweeping sessions every second, and this test writing directly.
    emails = [f"load-{i}@example.com" for i in range(12)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(_sign_up, stack.base_url, email) for email in emails]
        with stack.db() as conn:
            now = datetime.now(UTC)
            for i in range(20):
                _insert_session(conn, f"load-expired-{i}", now - timedelta(minutes=1))
                time.sleep(0.05)
        results = [f.result(timeout=120) for f in futures]
    assert results == [(302, "/accounts/confirm-email/")] * len(emails), stack.state()
    with stack.db() as conn:
        assert stack.wait_until_gone(conn, "load-expired-", 60) == set(), stack.state()
        placeholders = ",".join("?" * len(emails))
        (created,) = conn.execute(
            f"SELECT count(*) FROM identity_user WHERE email IN ({placeholders})", emails
        ).fetchone()
    assert created == len(emails), stack.state()
    # allauth's sign-up throttle counted all of them in the one cache the processes share.
    with stack.db() as conn:
        (throttles,) = conn.execute(
            "SELECT count(*) FROM praetor_cache WHERE cache_key LIKE '%allauth:rl:signup:ip:127.0.0.1'"
        ).fetchone()
    assert throttles == 1, stack.state()
    log = stack.log.read_text(errors="replace")
    assert "database is locked" not in log, stack.state()
    assert "OperationalError" not in log, stack.state()
    assert stack.alive(), stack.state()
