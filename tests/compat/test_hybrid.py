"""The hybrid model, end to end with the real prefect 2.20 client (issue 5 items 1-5): an agent and a process
worker run deployments, a schedule makes runs that a worker picks up, a running run is cancelled, all
while the server's process may connect to nothing but PostgreSQL and Redis.

The server runs in this test process (see conftest.py), so the socket guard below is installed in the
server's process: every `connect()` elsewhere (an agent, a worker, the internet) is refused and recorded,
and the test fails on it. The client processes are the customer's side and are not guarded.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.conf import settings

from apps.engine.models import Deployment, DeploymentSchedule, FlowRun, StateType, Worker
from apps.engine.services.deployments import SchedulingWindow
from apps.engine.services.sweeps import deployments_schedule_due
from tests.compat.conftest import client_python
from tests.ops.processes import die_with_parent

pytestmark = pytest.mark.slow

FAST_POLLS = {"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_AGENT_QUERY_INTERVAL": "2",
              "PREFECT_WORKER_HEARTBEAT_SECONDS": "5", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
              "PREFECT_AGENT_PREFETCH_SECONDS": "5"}

HELLO = '''
import time
from prefect import flow, task

@task
def shout(name):
    return f"hello {name}!"

@flow(log_prints=True)
def hello(name: str = "world", sleep: int = 0):
    print(shout(name))
    time.sleep(sleep)
    return name
'''


def _allowed_endpoints() -> set[tuple[str, int]]:
    """PostgreSQL and Redis, from the settings the server runs with: the only places it may connect to."""
    db = settings.DATABASES["default"]
    allowed = {(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))}
    redis_url = getattr(settings, "REDIS_URL", "") or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
    parsed = urlparse(redis_url)
    allowed.add((parsed.hostname or "127.0.0.1", parsed.port or 6379))
    out = set()
    for host, port in allowed:
        for alias in {host, "127.0.0.1", "::1", "localhost"} if host in ("127.0.0.1", "localhost", "::1") else {host}:
            out.add((alias, port))
    return out


@pytest.fixture
def outbound_guard():
    """Refuse and record every connect() of this (the server's) process except to PostgreSQL and Redis."""
    allowed = _allowed_endpoints()
    refused: list = []
    original_connect, original_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def permitted(sock, address) -> bool:
        if sock.family == socket.AF_UNIX:
            return False
        return (address[0], address[1]) in allowed

    def connect(sock, address):
        if not permitted(sock, address):
            refused.append(address)
            raise ConnectionRefusedError(f"hybrid guard: the server may not connect to {address!r}")
        return original_connect(sock, address)

    def connect_ex(sock, address):
        if not permitted(sock, address):
            refused.append(address)
            return 111  # ECONNREFUSED
        return original_connect_ex(sock, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    try:
        yield refused
    finally:
        socket.socket.connect, socket.socket.connect_ex = original_connect, original_connect_ex
    assert refused == [], f"the server process tried to open connections: {refused}"


def test_the_guard_refuses_and_records_other_connections(outbound_guard):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert outbound_guard == [("127.0.0.1", 9)]
    outbound_guard.clear()  # expected here; every other test must end with none


class Background:
    """A long-running client command (agent, worker) in its own process group, stopped by its pid."""

    def __init__(self, praetor, *args: str):
        prefect = str(Path(client_python()).parent / "prefect")
        self.log = praetor.home / f"bg_{time.monotonic_ns()}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen([prefect, *args], env=praetor.env(**FAST_POLLS), cwd=praetor.home,
                                     stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent())

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._out.close()
        return self.log.read_text()


def wait_for(predicate, timeout: float, what: str, logs=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n" + (logs() if logs else ""))


def _flow_source(praetor) -> Path:
    src = praetor.home / "flowsrc"
    src.mkdir(exist_ok=True)
    (src / "hello.py").write_text(textwrap.dedent(HELLO))
    return src


def _agent_deployment(praetor, name="dep", schedule_seconds=None):
    src = _flow_source(praetor)
    schedule = (f"IntervalSchedule(interval=timedelta(seconds={schedule_seconds}))"
                if schedule_seconds else "None")
    praetor.run(f"""
        import sys; sys.path.insert(0, {str(src)!r})
        from datetime import timedelta
        from prefect.deployments import Deployment
        from prefect.server.schemas.schedules import IntervalSchedule
        from hello import hello
        Deployment.build_from_flow(hello, name={name!r}, work_queue_name="default", parameters={{"name": "agent"}},
                                   path={str(src)!r}, entrypoint="hello.py:hello", schedule={schedule}).apply()
    """)


def _worker_deployment(praetor, name="wdep", parameters=None):
    src = _flow_source(praetor)
    praetor.run(f"""
        from prefect import flow
        flow.from_source(source={str(src)!r}, entrypoint="hello.py:hello").deploy(
            name={name!r}, work_pool_name="mypool", parameters={parameters or {}!r})
    """)


def _runs(praetor, deployment_name):
    return list(FlowRun.objects.for_workspace(praetor.workspace).filter(deployment__name=deployment_name)
                .order_by("created"))


def test_agent_runs_a_deployment(praetor, outbound_guard):
    _agent_deployment(praetor)
    praetor.cli("deployment", "run", "hello/dep")
    agent = praetor.cli("agent", "start", "-q", "default", "--run-once", timeout=180, env=FAST_POLLS)
    (run,) = _runs(praetor, "dep")
    assert run.state_type == StateType.COMPLETED, agent.describe()
    assert run.parameters == {"name": "agent"}
    assert run.infrastructure_pid  # the agent reported the process it started


def test_worker_runs_a_deployment_and_heartbeats(praetor, outbound_guard):
    praetor.cli("work-pool", "create", "mypool", "--type", "process")
    _worker_deployment(praetor, parameters={"name": "worker"})
    praetor.cli("deployment", "run", "hello/wdep")
    worker = praetor.cli("worker", "start", "-p", "mypool", "--run-once", timeout=180, env=FAST_POLLS)
    (run,) = _runs(praetor, "wdep")
    assert run.state_type == StateType.COMPLETED, worker.describe()
    assert run.parameters == {"name": "worker"}
    # the worker heartbeated into its pool
    assert Worker.objects.for_workspace(praetor.workspace).filter(work_pool__name="mypool").exists()


def test_schedule_makes_runs_an_agent_picks_up_and_pausing_the_schedule_stops_them(praetor, outbound_guard):
    _agent_deployment(praetor, name="every", schedule_seconds=20)
    deployment = Deployment.objects.for_workspace(praetor.workspace).get(name="every")
    # what beat does, in the server's process; a short window keeps the agent's machine from drowning in runs
    window = SchedulingWindow(min_runs=2, min_time=datetime.timedelta(0))
    assert deployments_schedule_due(window=window) == 2
    assert deployments_schedule_due(window=window) == 0
    agent = Background(praetor, "agent", "start", "-q", "default")
    try:
        wait_for(lambda: any(r.state_type == StateType.COMPLETED and r.auto_scheduled
                             for r in _runs(praetor, "every")), 240, "a scheduled run to complete", agent.stop)
    finally:
        logs = agent.stop()
    praetor.cli("deployment", "pause-schedule", "hello/every")
    schedule = DeploymentSchedule.objects.for_workspace(praetor.workspace).get(deployment=deployment)
    assert schedule.active is False
    assert not FlowRun.objects.for_workspace(praetor.workspace).filter(
        deployment=deployment, state_type=StateType.SCHEDULED, auto_scheduled=True).exists(), logs
    assert deployments_schedule_due(window=window) == 0


def test_cancelling_a_running_run_kills_it(praetor, outbound_guard):
    praetor.cli("work-pool", "create", "mypool", "--type", "process")
    _worker_deployment(praetor, name="slow", parameters={"name": "slow", "sleep": 120})
    praetor.cli("deployment", "run", "hello/slow")
    worker = Background(praetor, "worker", "start", "-p", "mypool")
    try:
        run = wait_for(lambda: next((r for r in _runs(praetor, "slow") if r.state_type == StateType.RUNNING), None),
                       150, "the run to be Running", worker.stop)
        praetor.cli("flow-run", "cancel", str(run.pk))
        wait_for(lambda: FlowRun.objects.for_workspace(praetor.workspace).get(pk=run.pk).state_type
                 == StateType.CANCELLED, 90, "the run to be Cancelled", worker.stop)
    finally:
        worker.stop()
    states = list(FlowRun.objects.for_workspace(praetor.workspace).get(pk=run.pk).states
                  .order_by("timestamp").values_list("type", flat=True))
    assert states[-2:] == [StateType.CANCELLING, StateType.CANCELLED]
