"""deploy/gunicorn.conf.py's huge pages: with PRAETOR_HUGEPAGES on, each worker, before it serves, has its heap
collapsed into transparent huge pages (config/hugepages.py, post_worker_init); off (the default) it has none
(docs/performance.md, "Thirteenth step: transparent huge pages"). Served by tests/ops/hugepages_app.py, which
reports its worker's memory."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.ops.processes import clean_env, free_port, http_get, start_group, stop_group, tail, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

BIN = Path(sys.executable).parent


def _thp() -> str:
    try:
        return Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "[never]"


def _worker_memory(tmp_path, **extra) -> dict:
    port = free_port()
    env = clean_env(PRAETOR_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", PATH=f"{BIN}:{clean_env()['PATH']}",
                    **extra)
    log = tmp_path / "gunicorn.log"
    proc = start_group([str(BIN / "gunicorn"), "tests.ops.hugepages_app:application", "-c", "deploy/gunicorn.conf.py",
                        "--worker-class", "sync"], env=env, log=log)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, proc=proc, log=log, timeout=60)
        got = json.loads(http_get(url, timeout=30)[1])
    finally:
        stop_group(proc)
    assert "Traceback" not in log.read_text(), tail(log)
    return got


@pytest.mark.skipif("[never]" in _thp(), reason="transparent huge pages are off on this kernel")
def test_on_a_worker_serves_from_huge_pages(tmp_path):
    got = _worker_memory(tmp_path, PRAETOR_HUGEPAGES="on")
    assert got["AnonHugePages"] >= 2048, got


@pytest.mark.skipif("[madvise]" not in _thp(), reason="only where huge pages are given to those who ask")
def test_by_default_the_worker_stays_on_small_pages(tmp_path):
    got = _worker_memory(tmp_path)
    assert got["AnonHugePages"] == 0, got
