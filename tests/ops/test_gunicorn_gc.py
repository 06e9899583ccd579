"""deploy/gunicorn.conf.py's garbage-collector setting: the master freezes what it has loaded before each fork
(gc.freeze() in pre_fork), so every worker, the first ones and each one forked again after max_requests, starts
with the preloaded objects out of its collector's view, with collection enabled and the default thresholds
(docs/performance.md, "Eleventh step: the garbage collector"). Served by tests/ops/gc_state_app.py, which reports
its worker's gc state, under gunicorn's sync worker: the hooks are the master's, whatever the worker class."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.ops.processes import clean_env, free_port, http_get, start_group, stop_group, tail, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

BIN = Path(sys.executable).parent


def test_every_worker_starts_with_the_preloaded_objects_frozen(tmp_path):
    port = free_port()
    env = clean_env(PRAETOR_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", PATH=f"{BIN}:{clean_env()['PATH']}")
    log = tmp_path / "gunicorn.log"
    proc = start_group([str(BIN / "gunicorn"), "tests.ops.gc_state_app:application", "-c", "deploy/gunicorn.conf.py",
                        "--worker-class", "sync", "--max-requests", "2", "--max-requests-jitter", "0"],
                       env=env, log=log)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, proc=proc, log=log, timeout=60)
        # Each worker answers two requests, then exits and the master forks another: six answers, three workers at
        # least (the listening socket queues a request while the next one is forked).
        states = [json.loads(http_get(url, timeout=30)[1]) for _ in range(6)]
    finally:
        stop_group(proc)
    assert len({state["pid"] for state in states}) >= 3, (states, tail(log))
    for state in states:
        assert state["frozen"] > 0, (state, tail(log))
        assert state["enabled"] is True
        assert state["threshold"] == [700, 10, 10]
    assert "Traceback" not in log.read_text()
