"""Work pool polls under load: K simulated workers polling while runs keep being created; prints poll latency
p50/p99 and the pick-up delay (a run's scheduled time → the poll that hands it to a worker).

    .venv/bin/python bench/polls.py [--workers 8] [--seconds 30] [--interval 1.0] [--runs-per-second 5]

Runs in-process against the test settings' real PostgreSQL and Redis (make test starts them), in the test
database, with a tenant of its own that is deleted at the end. Each worker is a thread with its own
database connection and its own test client: it heartbeats, then polls `work_pools/{name}/get_scheduled_
flow_runs` every `--interval` seconds through the whole Django stack (authentication, tenant resolution,
rate limiting, the handler) and claims what it receives (Scheduled → Pending, one conditional UPDATE, as
the Pending proposal would). A producer thread creates runs, due now, with `create_flow_run`, spread over
the pool's queues.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.dateparse import parse_datetime  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def setup_tenant(queues: int):
    from apps.billing.services import enterprise_set
    from apps.engine.models import Flow
    from apps.engine.services.deployments import deployment_upsert
    from apps.engine.services.work_pools import work_pool_create, work_queue_create
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create

    tag = uuid.uuid4().hex[:8]
    user = user_create(email=f"bench-{tag}@example.com", password=None)
    org = organization_create(name=f"Bench {tag}", handle=f"bench-{tag}", owner=user)
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 10**9})
    workspace = workspace_create(organization=org, name="prod", handle="prod", description="", actor=user)
    _, secret = api_key_create(owner=user, name="bench", expires_at=None)
    pool = work_pool_create(workspace=workspace, name="bench", type="process")
    flow = Flow.objects.for_workspace(workspace).create(workspace=workspace, name="bench-flow")
    deployments = []
    for i in range(queues):
        if i:
            work_queue_create(workspace=workspace, pool=pool, name=f"q{i}")
        dep, _ = deployment_upsert(workspace=workspace, data={
            "flow_id": flow.pk, "name": f"d{i}", "work_pool_name": "bench",
            "work_queue_name": "default" if i == 0 else f"q{i}"})
        deployments.append(dep.pk)
    return org, workspace, secret, deployments


def worker(url: str, secret: str, name: str, interval: float, stop: threading.Event, latencies: list,
           delays: list, claimed: list, lost: list) -> None:
    from apps.engine.models import FlowRun, StateType

    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    try:
        client.post(f"{url}/workers/heartbeat", {"name": name}, content_type="application/json")
        while not stop.is_set():
            began = time.perf_counter()
            response = client.post(f"{url}/get_scheduled_flow_runs",
                                   {"scheduled_before": timezone.now().isoformat(), "limit": 10},
                                   content_type="application/json")
            latencies.append(time.perf_counter() - began)
            received = timezone.now()
            assert response.status_code == 200, response.content
            for item in response.json():
                run = item["flow_run"]
                won = FlowRun.all_workspaces.filter(pk=run["id"], state_type=StateType.SCHEDULED).update(
                    state_type=StateType.PENDING, state_name="Pending")
                if not won:
                    lost.append(run["id"])  # another worker claimed it first (its Pending proposal won)
                else:
                    claimed.append(run["id"])
                    scheduled = parse_datetime(run["next_scheduled_start_time"])
                    delays.append(max(0.0, (received - scheduled).total_seconds()))
            stop.wait(interval)
    finally:
        connection.close()


def producer(base: str, secret: str, deployments: list, per_second: float, stop: threading.Event,
             created: list) -> None:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    try:
        i = 0
        while not stop.is_set():
            dep = deployments[i % len(deployments)]
            response = client.post(f"{base}/deployments/{dep}/create_flow_run", {},
                                   content_type="application/json")
            assert response.status_code == 201, response.content
            created.append(response.json()["id"])
            i += 1
            stop.wait(1 / per_second)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--queues", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a worker's polls")
    parser.add_argument("--runs-per-second", type=float, default=5)
    args = parser.parse_args()

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, keepdb=True)
    settings.PRAETOR_RATELIMIT_NAMESPACE = f"bench{uuid.uuid4().hex[:8]}:"
    org, workspace, secret, deployments = setup_tenant(args.queues)
    base = f"/api/accounts/{org.pk}/workspaces/{workspace.pk}"
    url = f"{base}/work_pools/bench"
    stop = threading.Event()
    latencies: list[float] = []
    delays: list[float] = []
    claimed: list[str] = []
    lost: list[str] = []
    created: list[str] = []
    threads = [threading.Thread(target=worker, args=(url, secret, f"w{i}", args.interval, stop, latencies, delays,
                                                     claimed, lost)) for i in range(args.workers)]
    threads.append(threading.Thread(target=producer, args=(base, secret, deployments, args.runs_per_second, stop,
                                                           created)))
    try:
        for t in threads:
            t.start()
        time.sleep(args.seconds)
    finally:
        stop.set()
        for t in threads:
            t.join()
        workspace.delete()
        org.delete()
    print(f"{args.workers} workers polling every {args.interval:.1f} s for {args.seconds:.0f} s, "
          f"{args.queues} queues, {len(created)} runs created ({args.runs_per_second}/s)")
    print(f"  poll latency     p50 {percentile(latencies, 50) * 1000:7.2f} ms   "
          f"p99 {percentile(latencies, 99) * 1000:7.2f} ms   ({len(latencies)} polls; target p99 < 50 ms)")
    print(f"  pick-up delay    p50 {percentile(delays, 50):7.3f} s    p99 {percentile(delays, 99):7.3f} s    "
          f"max {max(delays, default=float('nan')):.3f} s   (target: <= one poll interval)")
    print(f"  runs claimed {len(claimed)} of {len(created)} (each once); handed out again but claimed by "
          f"another worker first: {len(lost)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"  (machine load average {load} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
