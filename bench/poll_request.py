"""Server CPU, Python function calls and statements of one worker poll, in one process, without HTTP.

Sends `work_pools/{pool}/get_scheduled_flow_runs` (and the worker heartbeat) through Django's own request
handler (django.test.Client: the full middleware stack, URL resolution, DRF), as bench/hot_requests.py does
for the flow-run workload, against a pool of `--queues` queues whose flow-run table holds `--history`
finished runs and `--due` runs due now (created through the API, as bench/polls.py's producer does). Prints
per request the function calls (cProfile, independent of the machine's load), the process CPU time and the
statements sent, then EXPLAIN ANALYZE of the poll's windowed read.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/poll_request.py [--due 3] [--history 10000]
                                                                             [-n 200] [--profile] [--top 30]

The database must exist and be migrated (`manage.py migrate` with the same settings).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def populate(prefix: str, headers: dict, client, *, queues: int, due: int, history: int):
    """A process pool with `queues` queues and a deployment on each; `history` Completed runs spread over the
    queues (inserted in bulk) and `due` Scheduled runs due now (through the API). Returns the pool's name."""
    from apps.engine.models import FlowRun, StateType, WorkQueue

    def call(method, path, body=None):
        response = getattr(client, method)(prefix + path, data=json.dumps(body or {}),
                                           content_type="application/json", **headers)
        assert response.status_code < 300, (path, response.status_code, response.content[:300])
        return response.json() if response.content else None

    pool = f"bench-{os.urandom(3).hex()}"
    call("post", "/work_pools/", {"name": pool, "type": "process"})
    flow = call("post", "/flows/", {"name": "bench-poll-flow", "tags": []})
    deployments = []
    for i in range(queues):
        queue = "default" if i == 0 else f"q{i}"
        if i:
            call("post", f"/work_pools/{pool}/queues", {"name": queue})
        deployments.append(call("post", "/deployments/", {
            "name": f"{pool}-d{i}", "flow_id": flow["id"], "work_pool_name": pool, "work_queue_name": queue,
            "parameters": {}, "tags": []}))
    rows = list(WorkQueue.all_workspaces.filter(work_pool__name=pool).order_by("priority"))
    now = datetime.datetime.now(datetime.UTC)
    FlowRun.all_workspaces.bulk_create([
        FlowRun(workspace_id=rows[0].workspace_id, flow_id=flow["id"], deployment_id=deployments[i % queues]["id"],
                work_queue=rows[i % queues], work_queue_name=rows[i % queues].name, name=f"old-{i}",
                state_type=StateType.COMPLETED, state_name="Completed", state_timestamp=now,
                expected_start_time=now - datetime.timedelta(seconds=i),
                next_scheduled_start_time=now - datetime.timedelta(seconds=i))
        for i in range(history)], batch_size=2000)
    for i in range(due):
        call("post", f"/deployments/{deployments[i % queues]['id']}/create_flow_run", {})
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queues", type=int, default=3)
    parser.add_argument("--due", type=int, default=3, help="runs due now that every poll returns")
    parser.add_argument("--history", type=int, default=10000, help="finished runs in the pool's queues")
    parser.add_argument("-n", type=int, default=200, help="measured polls (and as many profiled)")
    parser.add_argument("--profile", action="store_true", help="print the poll's top functions")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core import signals
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    sys.path.insert(0, str(ROOT / "bench"))
    from hot_requests import setup_tenant

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    prefix, key = setup_tenant()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_PREFECT_API_VERSION": "0.8.4"}
    client = Client()
    pool = populate(prefix, headers, client, queues=args.queues, due=args.due, history=args.history)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE engine_flowrun")

    def poll():
        body = {"scheduled_before": datetime.datetime.now(datetime.UTC).isoformat(), "limit": 10}
        return client.post(f"{prefix}/work_pools/{pool}/get_scheduled_flow_runs", data=json.dumps(body),
                           content_type="application/json", **headers)

    def heartbeat():
        return client.post(f"{prefix}/work_pools/{pool}/workers/heartbeat", data=json.dumps({"name": "w0"}),
                           content_type="application/json", **headers)

    for send in (poll, heartbeat):
        for _ in range(20):  # warm-up: caches, compiled statements
            response = send()
            assert response.status_code < 300, response.content[:300]
    returned = len(poll().json())
    print(f"pool of {args.queues} queues, {args.history} finished runs, {args.due} due; a poll returns "
          f"{returned} runs, {len(poll().content)} bytes")
    print(f"{'request':12} {'calls/req':>10} {'CPU ms/req':>11} {'statements':>11}")
    stats_by_name = {}
    for name, send in (("poll", poll), ("heartbeat", heartbeat)):
        start = time.process_time()
        for _ in range(args.n):
            send()
        cpu = (time.process_time() - start) / args.n
        profiler = cProfile.Profile(time.process_time)
        for _ in range(args.n):
            profiler.enable()
            send()
            profiler.disable()
        stats = stats_by_name[name] = pstats.Stats(profiler)
        with CaptureQueriesContext(connection) as queries:
            send()
        print(f"{name:12} {stats.total_calls / args.n:10.0f} {1000 * cpu:11.2f} {len(queries):11d}")
    with CaptureQueriesContext(connection) as queries:
        poll()
    for query in queries.captured_queries:
        print("  ", query["sql"][:160])
    windowed = next((q["sql"] for q in queries.captured_queries if "ROW_NUMBER" in q["sql"]), None)
    if windowed:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + windowed)
            print("\n".join(row[0] for row in cursor.fetchall()))
    if args.profile:
        stats_by_name["poll"].sort_stats("tottime").print_stats(args.top)
        stats_by_name["poll"].sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
