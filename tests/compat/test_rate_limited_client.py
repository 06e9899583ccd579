"""Issue 7 item 2: under a tiny rate limit the real prefect 2.20 client is answered 429 with Retry-After,
slows down, and still finishes its flow with every state and every log recorded exactly once."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest

from apps.ratelimit.selectors import API, LOGS_EVENTS, organization_usage

pytestmark = pytest.mark.slow

TASKS = 6
CHATTY_LINES = 45

FLOW = r'''
import json, logging
from prefect import flow, get_run_logger, task
from prefect.logging.handlers import APILogHandler, APILogWorker

SENT = []


class Recorder(APILogHandler):
    def emit(self, record):
        if getattr(record, "send_to_api", True):
            SENT.append(self.prepare(record))


for name in ("prefect.flow_runs", "prefect.task_runs"):
    logging.getLogger(name).addHandler(Recorder())


@task
def step(i: int) -> int:
    get_run_logger().info("step %s ran", i)
    return i * i


@task
def chatty(n: int) -> int:
    logger = get_run_logger()
    for line in range(n):
        logger.info("chatty line %s", line)
    return n


@flow
def throttled(tasks: int, lines: int):
    total = sum(step(i) for i in range(tasks))
    return total + chatty(lines)


state = throttled(TASKS_N, LINES_N, return_state=True)
APILogWorker.drain_all()
print("RESULT " + json.dumps({"id": str(state.state_details.flow_run_id), "type": state.type.value,
                              "result": state.result(), "sent_logs": SENT}, default=str))
'''


@pytest.fixture
def praetor_limits():
    # Far below any tier: the flow makes ~45 API requests and ~70 log lines and ~25 events in well under a
    # minute, so both buckets refuse it. Its log batches are paid in logs_events alone: when they also drew
    # from api, a batch could lose the race for api tokens to the run's own requests five retries in a row
    # and be dropped (the limiter is not FIFO-fair; docs/ratelimit.md, "Buckets").
    return {"rate_limit_api_per_minute": 30, "rate_limit_logs_events_per_minute": 40}


def _denied(organization, bucket: str) -> int:
    usage = next(u for u in organization_usage(organization=organization) if u.bucket == bucket)
    return usage.denied_last_hour


def _key(log: dict) -> tuple:
    return (log["name"], log["level"], log["message"], log["flow_run_id"], log["task_run_id"],
            datetime.fromisoformat(log["timestamp"].replace("Z", "+00:00")))


def test_client_slows_down_under_a_tiny_limit_and_records_everything_once(praetor, caplog):
    script = FLOW.replace("TASKS_N", str(TASKS)).replace("LINES_N", str(CHATTY_LINES))
    ran = praetor.run(script, timeout=420)
    out = json.loads(next(line for line in ran.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert (out["type"], out["result"]) == ("COMPLETED", sum(i * i for i in range(TASKS)) + CHATTY_LINES)

    # The server did refuse the client, its orchestration requests and its log batches (which it sent again
    # after Retry-After): it was slowed down, not waved through, and lost nothing (below).
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Too Many Requests:")]
    assert _denied(praetor.organization, API) >= 1
    assert _denied(praetor.organization, LOGS_EVENTS) >= 1
    assert any(message.endswith("/logs/") for message in refused), refused
    assert any(not message.endswith("/logs/") for message in refused), refused

    # Reading back (these requests are throttled too; the helper's reads wait for the bucket).
    flow_runs = praetor.api_patiently("POST", "flow_runs/filter", {})
    assert [(r["id"], r["state_type"], r["run_count"]) for r in flow_runs] == [(out["id"], "COMPLETED", 1)]
    flow_states = praetor.api_patiently("GET", f"flow_run_states/?flow_run_id={out['id']}")
    assert sorted(s["name"] for s in flow_states) == ["Completed", "Pending", "Running"]

    task_runs = praetor.api_patiently("POST", "task_runs/filter", {"flow_runs": {"id": {"any_": [out["id"]]}}})
    assert sorted(r["name"] for r in task_runs) == sorted([f"step-{i}" for i in range(TASKS)] + ["chatty-0"])
    assert {(r["state_type"], r["run_count"]) for r in task_runs} == {("COMPLETED", 1)}
    for run in task_runs:
        states = praetor.api_patiently("GET", f"task_run_states/?task_run_id={run['id']}")
        assert sorted(s["name"] for s in states) == ["Completed", "Pending", "Running"], run["name"]

    stored = []
    while True:
        page = praetor.api_patiently("POST", "logs/filter", {"limit": 200, "offset": len(stored)})
        stored += page
        if len(page) < 200:
            break
    assert Counter(_key(log) for log in stored) == Counter(_key(log) for log in out["sent_logs"])
    messages = Counter(log["message"] for log in stored)
    assert all(messages[f"chatty line {i}"] == 1 for i in range(CHATTY_LINES))
    assert all(messages[f"step {i} ran"] == 1 for i in range(TASKS))
