"""Ordinary `@flow`/`@task` code run by the real prefect 2.20 client against a workspace (issue 4 item 1),
then read back through the API and the client's own `prefect flow-run ls` / `prefect flow-run logs`:
the final states, task run counts and logs must be exactly what happened.

One client process runs every scenario (each start of the client costs seconds); it also records each
log it hands to its API log handler (the exact LogCreate payload), so the test can compare the logs the
server stored with the logs the client sent, one for one.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from itertools import pairwise

import pytest

pytestmark = pytest.mark.slow

SCENARIOS = r'''
import json, logging, sys, time
from datetime import timedelta

from prefect import flow, get_run_logger, task
from prefect.logging.handlers import APILogHandler
from prefect.task_runners import ConcurrentTaskRunner
from prefect.tasks import task_input_hash

SENT = []


class Recorder(APILogHandler):
    """Records exactly what the API log handler sends (its own `prepare`), without sending it twice."""

    def emit(self, record):
        if getattr(record, "send_to_api", True):
            SENT.append(self.prepare(record))


for name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(name).addHandler(Recorder())

calls = {"n": 0}


@task
def numbers(k: int) -> list:
    return list(range(1, k + 1))


@task(retries=1, retry_delay_seconds=0)
def unreliable(xs: list) -> int:
    calls["n"] += 1
    if calls["n"] == 1:
        raise RuntimeError("transient")
    return max(xs)


@task
def broken():
    raise KeyError("nope")


@task
def double(x: int) -> int:
    return 2 * x


@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(minutes=5), persist_result=True)
def expensive(x: int) -> int:
    get_run_logger().info("computing the cube of %s", x)
    return x ** 3


@flow
def inner(v: int) -> int:
    get_run_logger().warning("inner saw %s", v)
    return v + 1


@flow(task_runner=ConcurrentTaskRunner())
def outer(k: int = 3):
    get_run_logger().info("outer starts with k=%s", k)
    xs = numbers(k)
    m = unreliable(xs)
    caught = broken(return_state=True)
    futures = [double.submit(x) for x in xs]
    mapped = double.map(xs)
    cubes = [expensive(2), expensive(2)]
    return {"inner": inner(m), "submitted": [f.result() for f in futures], "mapped": [f.result() for f in mapped],
            "cubes": cubes, "caught": caught.type.value}


@flow
def failing():
    raise ValueError("the flow fails")


@task(tags=["compat-serial"])
def hold(i: int) -> int:
    time.sleep(0.5)
    return i


@flow(task_runner=ConcurrentTaskRunner())
def serial():
    return [f.result() for f in hold.map(range(3))]


def run(flow_fn):
    state = flow_fn(return_state=True)
    return {"id": str(state.state_details.flow_run_id), "type": state.type.value, "name": state.name,
            "message": state.message,
            "result": state.result(raise_on_failure=False) if state.is_completed() else None}


out = {"outer": run(outer), "failing": run(failing), "serial": run(serial)}
from prefect.logging.handlers import APILogWorker
APILogWorker.drain_all()
out["sent_logs"] = SENT
print("RESULT " + json.dumps(out, default=str))
'''


def _result(stdout: str) -> dict:
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _task_runs(praetor, flow_run_id: str) -> list[dict]:
    status, runs = praetor.api("POST", "task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}},
                                                          "sort": "EXPECTED_START_TIME_ASC"})
    assert status == 200, runs
    return runs


def _family(name: str) -> str:
    """'double-3' -> 'double': the client names task runs `<task name>-<dynamic key>` (the task run
    standing for a subflow gets a random key: 'inner-0a18f7f0'); no task name here has a dash."""
    return name.split("-", 1)[0]


def _state_names(praetor, task_run_id: str) -> list[str]:
    status, states = praetor.api("GET", f"task_run_states/?task_run_id={task_run_id}")
    assert status == 200, states
    return [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]


def _all_logs(praetor) -> list[dict]:
    logs, offset = [], 0
    while True:
        status, page = praetor.api("POST", "logs/filter", {"limit": 200, "offset": offset})
        assert status == 200, page
        logs += page
        if len(page) < 200:
            return logs
        offset += 200


def _key(log: dict) -> tuple:
    return (log["name"], log["level"], log["message"], log["flow_run_id"], log["task_run_id"],
            datetime.fromisoformat(log["timestamp"].replace("Z", "+00:00")))


def test_ordinary_flows_read_back_exactly(praetor, settings):
    # Tag-limited tasks told to wait retry after a second (Prefect's default is 30).
    settings.PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS = 1
    created = praetor.cli("concurrency-limit", "create", "compat-serial", "1")
    assert "Created concurrency limit with properties" in created.stdout

    ran = praetor.run(SCENARIOS)
    out = _result(ran.stdout)

    # --- what the client saw
    outer, failing, serial = out["outer"], out["failing"], out["serial"]
    assert (outer["type"], outer["result"]) == ("COMPLETED", {"inner": 4, "submitted": [2, 4, 6],
                                                              "mapped": [2, 4, 6], "cubes": [8, 8],
                                                              "caught": "FAILED"})
    assert (failing["type"], failing["name"]) == ("FAILED", "Failed")
    assert "the flow fails" in failing["message"]
    assert (serial["type"], serial["result"]) == ("COMPLETED", [0, 1, 2])

    # --- flow runs through the API: the three top-level runs plus the subflow, each in its final state
    status, flow_runs = praetor.api("POST", "flow_runs/filter", {"sort": "START_TIME_ASC"})
    assert status == 200, flow_runs
    status, flows = praetor.api("POST", "flows/filter", {})
    flow_names = {f["id"]: f["name"] for f in flows}
    by_flow = {flow_names[r["flow_id"]]: r for r in flow_runs}
    assert sorted(by_flow) == ["failing", "inner", "outer", "serial"]
    assert len(flow_runs) == 4
    assert {name: (r["state_type"], r["state"]["name"]) for name, r in by_flow.items()} == {
        "outer": ("COMPLETED", "Completed"), "inner": ("COMPLETED", "Completed"),
        "failing": ("FAILED", "Failed"), "serial": ("COMPLETED", "Completed")}
    assert by_flow["outer"]["id"] == outer["id"]
    assert by_flow["failing"]["id"] == failing["id"]
    assert all(r["run_count"] == 1 and r["end_time"] for r in flow_runs)

    # --- task runs of `outer`: 11 task runs plus the one standing for the subflow
    runs = _task_runs(praetor, outer["id"])
    families = Counter(_family(r["name"]) for r in runs)
    assert families == {"numbers": 1, "unreliable": 1, "broken": 1, "double": 6, "expensive": 2, "inner": 1}
    final = {r["name"]: (r["state_type"], r["state"]["name"], r["run_count"]) for r in runs}
    assert final["numbers-0"] == ("COMPLETED", "Completed", 1)
    assert final["unreliable-0"] == ("COMPLETED", "Completed", 2)
    assert final["broken-0"] == ("FAILED", "Failed", 1)
    assert sorted(v for k, v in final.items() if _family(k) == "double") == [("COMPLETED", "Completed", 1)] * 6
    assert sorted(v for k, v in final.items() if _family(k) == "expensive") == [
        ("COMPLETED", "Cached", 0), ("COMPLETED", "Completed", 1)]
    subflow_task = next(r for r in runs if _family(r["name"]) == "inner")
    assert by_flow["inner"]["parent_task_run_id"] == subflow_task["id"]
    assert subflow_task["state_type"] == "COMPLETED"

    # The retry went through AwaitingRetry; its second attempt is named Retrying (Prefect's names).
    unreliable = next(r for r in runs if r["name"] == "unreliable-0")
    assert _state_names(praetor, unreliable["id"]) == ["Pending", "Running", "AwaitingRetry", "Retrying",
                                                       "Completed"]

    # Persisted result: the cached run points at the file the first run wrote to the default result
    # storage (an anonymous local-file-system block document under PREFECT_HOME/storage).
    cached = next(r for r in runs if r["state"]["name"] == "Cached")
    first = next(r for r in runs if _family(r["name"]) == "expensive" and r["state"]["name"] == "Completed")
    storage_key = cached["state"]["data"]["storage_key"]
    assert storage_key == first["state"]["data"]["storage_key"]
    assert json.loads((praetor.home / "storage" / storage_key).read_text())["data"]
    status, block = praetor.api("GET", f"block_documents/{cached['state']['data']['storage_block_id']}")
    assert (status, block["block_type"]["slug"], block["is_anonymous"]) == (200, "local-file-system", True)

    # --- the tag limit held: the three `hold` runs never overlapped
    held = sorted(_task_runs(praetor, serial["id"]), key=lambda r: r["start_time"])
    assert [(r["state_type"], r["run_count"]) for r in held] == [("COMPLETED", 1)] * 3
    spans = [(datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"])) for r in held]
    assert all(prev_end <= next_start for (_, prev_end), (next_start, _) in pairwise(spans))
    status, limit = praetor.api("GET", "concurrency_limits/tag/compat-serial")
    assert (status, limit["active_slots"]) == (200, [])

    # --- logs: the server holds exactly what the client sent, each once
    stored = _all_logs(praetor)
    sent = out["sent_logs"]
    assert Counter(_key(log) for log in stored) == Counter(_key(log) for log in sent)
    messages = Counter(log["message"] for log in stored)
    assert messages["outer starts with k=3"] == 1
    assert messages["inner saw 3"] == 1
    assert messages["computing the cube of 2"] == 1  # the second call was a cache hit

    # --- the client's own read-back commands
    listed = praetor.cli("flow-run", "ls")
    for name, r in by_flow.items():
        assert r["name"] in listed.stdout, f"{name} run {r['name']} missing from `prefect flow-run ls`"
    assert listed.stdout.count("COMPLETED") == 3
    assert listed.stdout.count("FAILED") == 1

    shown = praetor.cli("flow-run", "logs", outer["id"])
    expected = [log["message"] for log in sorted(stored, key=lambda log: log["timestamp"])
                if log["flow_run_id"] == outer["id"]]
    assert expected and all(message.splitlines()[0] in shown.stdout for message in expected)
    assert shown.stdout.count("outer starts with k=3") == 1
