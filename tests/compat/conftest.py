"""End-to-end harness: the real `prefect` 2.20 client (in .venv-prefect) against this server.

`praetor` serves the project's applications (config.asgi: Django's WSGI handler for HTTP, Channels for the
`…/events/in` websocket) with the server gunicorn's default worker runs (config/http_server/: request threads
sharing one epoll, the websocket on an asyncio thread with uvicorn's protocol) on a free loopback port, in the
test process, over
a transactional test database, and bootstraps a user, an organization, a workspace and an API key.
`praetor.run(...)` / `praetor.cli(...)` run a python script or a `prefect` command in the client's
virtualenv, pointed at that workspace as a Cloud workspace, and return what it printed.

Why a thread and not a subprocess: the server then shares the test's settings (the per-test
rate-limit namespace, anything a test overrides with `settings`) and its test database with no
configuration passed around, and tests can read what the server stored through the ORM at once.
The client is the expensive part and runs in its own process anyway, so the server thread competes
for the GIL only with a test process that is waiting on that subprocess. The database must be
transactional (`transactional_db`): the server's threads use their own connections and only see
committed rows.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
CLIENT_VERSION = "2.20.26"

# A client-side complaint about events: the events worker or its websocket client logging a warning
# or an error, or a traceback through prefect/events. Issue 4 item 4: a flow run produces none.
_EVENTS_TROUBLE = re.compile(
    r"(events?|websocket).*(error|warning|exception|traceback|failed|unable|refused|rejected)"
    r"|(error|warning|exception|failed|unable).*(events?|websocket)"
    r"|prefect/events/",
    re.IGNORECASE,
)
# The client's API log worker prints this when a batch of logs could not be sent (and drops it).
_LOGS_LOST = "--- Error logging to API ---"
# Lines that mention events for reasons that are not trouble: flow or task logs written by user code.
_NOT_EVENTS = re.compile(r"eventually|prevent", re.IGNORECASE)


def client_python() -> str:
    """The client virtualenv's interpreter (made by scripts/prefect-env.sh; `make test` runs it)."""
    python = REPO / ".venv-prefect" / "bin" / "python"
    if not python.exists():
        pytest.fail("The prefect client venv is missing: run scripts/prefect-env.sh (or `make test`).")
    return str(python)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ClientResult:
    """What one client process did: exit code and output."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def events_trouble(self) -> list[str]:
        return [line for line in self.output.splitlines()
                if _EVENTS_TROUBLE.search(line) and not _NOT_EVENTS.search(line)]

    def describe(self) -> str:
        return (f"$ {' '.join(self.args)}\n-> exit {self.returncode} in {self.seconds:.1f}s\n"
                f"--- stdout ---\n{self.stdout[-6000:]}\n--- stderr ---\n{self.stderr[-6000:]}")


class _Server:
    """config/http_server/'s Server (what gunicorn's default worker runs) on a free loopback port, in this
    process: `stop()` stops it gracefully and waits."""

    def __init__(self):
        from django.conf import settings

        from config.asgi import django_wsgi_app, websocket_application
        from config.http_server import Server

        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.server = Server([self.listener], django_wsgi_app, websocket_application,
                             threads=settings.PRAETOR_WEB_THREADS, poll_threads=settings.PRAETOR_WEB_POLL_THREADS,
                             ws="wsproto")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop(timeout=1)
        self.listener.close()


class _UvicornThread(threading.Thread):
    """uvicorn serving config.asgi in this process (the browser walk's server, tests/browser); `stop()` shuts it
    down and waits."""

    def __init__(self, port: int):
        super().__init__(name=f"praetor-uvicorn-{port}", daemon=True)
        import uvicorn

        from config.asgi import application

        config = uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                ws="wsproto", access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # reported by start() instead of dying silently in the thread
            self.error = exc

    def start_and_wait(self, timeout: float = 20.0) -> None:
        self.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self.error is not None or not self.is_alive():
                raise RuntimeError(f"uvicorn did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.join(timeout=15)


class Praetor:
    """A running server with one bootstrapped workspace, and the means to point the client at it."""

    def __init__(self, *, port: int, home: Path, user, organization, workspace, api_key: str):
        self.port = port
        self.home = home
        self.user = user
        self.organization = organization
        self.workspace = workspace
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def cloud_api_url(self) -> str:
        return f"{self.base_url}/api"

    @property
    def api_url(self) -> str:
        return f"{self.cloud_api_url}/accounts/{self.organization.pk}/workspaces/{self.workspace.pk}"

    @property
    def slug(self) -> str:
        return f"{self.organization.handle}/{self.workspace.handle}"

    def env(self, *, logged_in: bool = True, **extra: str) -> dict[str, str]:
        """The client's environment: Cloud API URL, an isolated PREFECT_HOME (profiles, local result
        storage) and, unless `logged_in=False`, the workspace's API URL and key."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PREFECT_", "DJANGO_", "PRAETOR_")) and k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            PREFECT_HOME=str(self.home),
            PREFECT_CLOUD_API_URL=self.cloud_api_url,
            PREFECT_PROFILES_PATH=str(self.home / "profiles.toml"),
            PYTHONUNBUFFERED="1",
            COLUMNS="250",  # rich wraps at 80 columns when not on a terminal
            PYTHONDONTWRITEBYTECODE="1",
        )
        if logged_in:
            env.update(PREFECT_API_URL=self.api_url, PREFECT_API_KEY=self.api_key)
        env.update(extra)
        return env

    def _run(self, args: list[str], *, env: dict[str, str], timeout: float, check: bool,
             allow_events_trouble: bool) -> ClientResult:
        started = time.monotonic()
        try:
            proc = subprocess.run(args, env=env, cwd=self.home, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            pytest.fail(f"client timed out after {timeout}s: {' '.join(args)}\n{out[-4000:]}\n{err[-4000:]}")
        result = ClientResult(args=args, returncode=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                              seconds=time.monotonic() - started)
        if check:
            assert result.returncode == 0, result.describe()
        if not allow_events_trouble:
            assert result.events_trouble() == [], "client complained about events:\n" + result.describe()
        assert _LOGS_LOST not in result.output, "the client failed to send logs:\n" + result.describe()
        return result

    def run(self, script: str, *args: str, timeout: float = 300, check: bool = True, logged_in: bool = True,
            allow_events_trouble: bool = False, env: dict[str, str] | None = None) -> ClientResult:
        """Run python `script` (source text, dedented) with the client's interpreter. By default the exit
        code must be 0 and the output free of complaints about events."""
        path = self.home / f"script_{time.monotonic_ns()}.py"
        path.write_text(textwrap.dedent(script))
        return self._run([client_python(), str(path), *args], env=self.env(logged_in=logged_in, **(env or {})),
                         timeout=timeout, check=check, allow_events_trouble=allow_events_trouble)

    def cli(self, *args: str, timeout: float = 240, check: bool = True, logged_in: bool = True,
            allow_events_trouble: bool = False, env: dict[str, str] | None = None) -> ClientResult:
        """Run `prefect ARGS…` (the client's CLI) with the same environment as `run`."""
        prefect = str(Path(client_python()).parent / "prefect")
        return self._run([prefect, *args], env=self.env(logged_in=logged_in, **(env or {})),
                         timeout=timeout, check=check, allow_events_trouble=allow_events_trouble)

    def _request(self, method: str, path: str, json=None, *, key: str | None = None, timeout: float = 10.0):
        import json as jsonlib
        import urllib.error
        import urllib.request

        data = None if json is None else jsonlib.dumps(json).encode()
        request = urllib.request.Request(
            f"{self.api_url}/{path.lstrip('/')}", data=data, method=method,
            headers={"Authorization": f"Bearer {key or self.api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                status, headers, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, headers, body = exc.code, exc.headers, exc.read()
        return status, headers, (jsonlib.loads(body) if body else None)

    def api(self, method: str, path: str, json=None, *, key: str | None = None, timeout: float = 10.0):
        """One request to the workspace API (path relative to it) over real HTTP: (status, body)."""
        status, _, body = self._request(method, path, json, key=key, timeout=timeout)
        return status, body

    def api_patiently(self, method: str, path: str, json=None, *, within: float = 180.0):
        """A request that waits out 429s (sleeping Retry-After, as the client does) and must then
        succeed; returns the body. For reading back under a tiny rate limit."""
        deadline = time.monotonic() + within
        while True:
            status, headers, body = self._request(method, path, json)
            if status != 429:
                assert 200 <= status < 300, (status, body)
                return body
            assert time.monotonic() < deadline, f"still 429 after {within}s: {body}"
            time.sleep(float(headers.get("Retry-After", "1")))


def _bootstrap(tier: str, limits: dict | None):
    """A verified owner, an organization on `tier` (or on Enterprise with operator-set `limits`), one
    workspace (system blocks seeded) and a pnu_ key, made through the same services the product uses."""
    from apps.billing.services.entitlements import enterprise_set, organization_tier_set
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create

    user = user_create(email="compat@example.com", password="correct horse battery")
    organization = organization_create(name="Compat", handle="compat", owner=user)
    if limits:
        enterprise_set(organization=organization, overrides=limits)
    elif tier != organization.tier:
        organization_tier_set(organization=organization, tier=tier, reason="compat tests")
    workspace = workspace_create(organization=organization, name="Prod", handle="prod", actor=user)
    _, secret = api_key_create(owner=user, name="compat", expires_at=None)
    return user, organization, workspace, secret


@pytest.fixture
def praetor_tier() -> str:
    """The organization's tier; Growth by default so ordinary tests are never throttled. Override this
    fixture (or parametrize it indirectly) to test the client under a small rate limit."""
    return "growth"


@pytest.fixture
def praetor_limits() -> dict | None:
    """Operator-set limits (billing's Enterprise overrides, e.g. {"rate_limit_api_per_minute": 30}) for
    the organization; None keeps the tier's. Override this fixture to run the client under tiny limits."""
    return None


@pytest.fixture
def praetor(transactional_db, tmp_path, praetor_tier, praetor_limits):
    """The server on a free loopback port plus one bootstrapped workspace; see `Praetor`."""
    user, organization, workspace, secret = _bootstrap(praetor_tier, praetor_limits)
    home = tmp_path / "prefect-home"
    home.mkdir()
    server = _Server()
    server.start()
    try:
        yield Praetor(port=server.port, home=home, user=user, organization=organization,
                      workspace=workspace, api_key=secret)
    finally:
        server.stop()


def pytest_report_header(config):
    return f"compat: prefect client {CLIENT_VERSION} from {REPO / '.venv-prefect'} (python {sys.version.split()[0]})"
