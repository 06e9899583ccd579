"""Work pool polls under load: K simulated workers, each its own process, poll a running server while runs
keep being created; prints poll latency p50/p99 and the pick-up delay (a run's scheduled time → the poll
that hands it to a worker).

    # a workspace on this server's database (as bench/flows.py setup), then:
    .venv/bin/python bench/polls.py --url URL [--key KEY] [--workers 8] [--seconds 30] [--interval 1.0]
                                    [--jitter 0.3] [--runs-per-second 5] [--queues 3]

URL is a workspace's API URL (…/api/accounts/{a}/workspaces/{w}) or `http://127.0.0.1:4200/api` for
`prefect server start`: the script creates what it needs through the API (a `process` work pool with
`--queues` queues, a flow, one deployment per queue), so it runs the same against both servers.
Each worker heartbeats, then polls `work_pools/{pool}/get_scheduled_flow_runs` every `--interval` seconds on
average, waiting between polls as prefect 2.20's worker and agent do (`--jitter` 0.3: their service loop's
`jitter_range`, so workers started together drift out of step; `--jitter 0` polls in step on a fixed period),
over its own keep-alive connection and claims each run it receives by proposing Pending
(`flow_runs/{id}/set_state`), as the prefect worker does; a producer process creates runs, due now,
with `deployments/{id}/create_flow_run`. bench/compare.py runs it while the flows workload runs.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from flows import Api, percentile


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _parse(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def setup(url: str, key: str | None, queues: int) -> tuple[str, list[str]]:
    """A work pool with `queues` queues and a deployment on each; returns (pool name, deployment ids)."""
    api = Api(url, key, defaultdict(list))
    pool = f"bench-{uuid.uuid4().hex[:6]}"
    api.call("setup", "POST", "/work_pools/", {"name": pool, "type": "process"})
    flow = api.call("setup", "POST", "/flows/", {"name": "bench-poll-flow", "tags": []})
    deployments = []
    for i in range(queues):
        queue = "default" if i == 0 else f"q{i}"
        if i:
            api.call("setup", "POST", f"/work_pools/{pool}/queues", {"name": queue})
        dep = api.call("setup", "POST", "/deployments/", {
            "name": f"{pool}-d{i}", "flow_id": flow["id"], "work_pool_name": pool, "work_queue_name": queue,
            "parameters": {}, "tags": []})
        deployments.append(dep["id"])
    return pool, deployments


def _lower_bound(mean: float, upper: float) -> float:
    """The lower bound a of an exponential variate (mean `mean`) truncated to [a, upper] whose mean stays
    `mean` (bisection on the truncated mean, which grows with a)."""

    def truncated_mean(a: float) -> float:
        ea, eb = math.exp(-a / mean), math.exp(-upper / mean)
        return mean + (a * ea - upper * eb) / (ea - eb)

    low, high = 0.0, mean
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if truncated_mean(mid) < mean else (low, mid)
    return low


def jittered_sleep(interval: float, jitter: float, rng: random.Random) -> float:
    """How long a worker waits before its next poll. With `jitter` > 0, as prefect 2.20's worker and agent
    do (their service loop is run with `jitter_range=0.3`): an exponential variate of mean `interval`, kept
    within [a, interval x (1 + jitter)] with a chosen so the mean stays `interval`; so workers started
    together drift out of step. 0: exactly `interval`."""
    if jitter <= 0:
        return interval
    upper = interval * (1 + jitter)
    lower = _lower_bound(interval, upper)
    # Inverse CDF of the exponential, restricted to [lower, upper].
    lo, hi = 1 - math.exp(-lower / interval), 1 - math.exp(-upper / interval)
    return -interval * math.log(1 - rng.uniform(lo, hi))


def worker(url, key, pool, name, interval, deadline, results, jitter: float = 0.3) -> None:
    rng = random.Random()
    timings: dict = defaultdict(list)
    api = Api(url, key, timings)
    delays, claimed, lost = [], 0, 0
    api.call("heartbeat", "POST", f"/work_pools/{pool}/workers/heartbeat", {"name": name})
    while time.time() < deadline:
        began = time.time()
        runs = api.call("poll", "POST", f"/work_pools/{pool}/get_scheduled_flow_runs",
                        {"scheduled_before": _now_iso(), "limit": 10})
        received = time.time()
        for item in runs:
            run = item["flow_run"]
            answer = api.call("claim", "POST", f"/flow_runs/{run['id']}/set_state",
                              {"state": {"type": "PENDING", "name": "Pending", "message": None, "data": None,
                                         "state_details": {}}, "force": False})
            if answer["status"] == "ACCEPT":
                claimed += 1
                scheduled = run.get("next_scheduled_start_time") or run.get("expected_start_time")
                delays.append(max(0.0, received - _parse(scheduled)))
            else:
                lost += 1  # another worker's Pending won
        if jitter > 0:  # prefect's loop sleeps after the work, a jittered interval
            time.sleep(jittered_sleep(interval, jitter, rng))
        else:
            time.sleep(max(0.0, interval - (time.time() - began)))
    results.put({"polls": timings["poll"], "delays": delays, "claimed": claimed, "lost": lost})


def producer(url, key, deployments, per_second, deadline, results) -> None:
    api = Api(url, key, defaultdict(list))
    created, i = 0, 0
    while time.time() < deadline:
        began = time.time()
        api.call("create", "POST", f"/deployments/{deployments[i % len(deployments)]}/create_flow_run", {})
        created += 1
        i += 1
        time.sleep(max(0.0, 1 / per_second - (time.time() - began)))
    results.put({"created": created})


def run(url: str, key: str | None, *, workers: int, seconds: float, interval: float, per_second: float,
        queues: int, jitter: float = 0.3) -> dict:
    """Run the poll benchmark and return its figures (also printed)."""
    pool, deployments = setup(url, key, queues)
    results = multiprocessing.Queue()
    deadline = time.time() + seconds
    procs = [multiprocessing.Process(target=worker, args=(url, key, pool, f"w{i}", interval, deadline, results,
                                                                jitter))
             for i in range(workers)]
    procs.append(multiprocessing.Process(target=producer, args=(url, key, deployments, per_second, deadline,
                                                                 results)))
    for p in procs:
        p.start()
    gathered = [results.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    polls = [x for g in gathered for x in g.get("polls", ())]
    delays = [x for g in gathered for x in g.get("delays", ())]
    figures = {
        "workers": workers, "interval": interval, "jitter": jitter, "seconds": seconds, "polls": len(polls),
        "created": sum(g.get("created", 0) for g in gathered),
        "claimed": sum(g.get("claimed", 0) for g in gathered), "lost": sum(g.get("lost", 0) for g in gathered),
        "poll_p50_ms": percentile(polls, 50) * 1000 if polls else float("nan"),
        "poll_p99_ms": percentile(polls, 99) * 1000 if polls else float("nan"),
        "delay_p50_s": percentile(delays, 50) if delays else float("nan"),
        "delay_p99_s": percentile(delays, 99) if delays else float("nan"),
        "delay_max_s": max(delays, default=float("nan")),
    }
    print(f"polls: {workers} worker processes polling every {interval:.1f} s (jitter {jitter}) for {seconds:.0f} s "
          f"against {url}; "
          f"{figures['created']} runs created ({per_second}/s) over {queues} queues")
    print(f"  poll latency   p50 {figures['poll_p50_ms']:7.2f} ms   p99 {figures['poll_p99_ms']:7.2f} ms   "
          f"({len(polls)} polls; target p99 < 50 ms)")
    print(f"  pick-up delay  p50 {figures['delay_p50_s']:7.3f} s    p99 {figures['delay_p99_s']:7.3f} s    "
          f"max {figures['delay_max_s']:.3f} s   (target: <= one poll interval, {interval:.1f} s)")
    print(f"  runs claimed {figures['claimed']} of {figures['created']}; proposals that lost to another "
          f"worker: {figures['lost']}")
    print(f"  (machine load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores)")
    if log := os.environ.get("PRAETOR_HTTP_TIMING_LOG"):
        figures["server"] = server_split(log)
    return figures


def server_split(log: str) -> dict:
    """The server's side of the polls, from the lines config/http_threads.py wrote to LOG.PID (the server was
    started with PRAETOR_HTTP_TIMING_LOG=LOG): time waiting for a thread, in Django (wall and CPU), and from
    arrival to sent; what the client saw beyond `total` is the network, the event loop before the request's
    task ran, and the client's own process waiting for a CPU."""
    columns = {"queued": [], "django": [], "django_cpu": [], "total": []}
    for path in Path(log).parent.glob(Path(log).name + ".*"):
        for line in path.read_text().splitlines():
            kind, method, url, *values = line.split("\t")
            if kind == "poll" and url.endswith("/get_scheduled_flow_runs"):
                for name, value in zip(columns, values, strict=True):
                    columns[name].append(float(value) / 1000)
    out = {}
    for name, values in columns.items():
        if values:
            out[f"{name}_p50_ms"] = percentile(values, 50) * 1000
            out[f"{name}_p99_ms"] = percentile(values, 99) * 1000
    if out:
        print(f"  server side of {len(columns['total'])} polls (ms, p50 / p99): "
              + "   ".join(f"{name} {out[f'{name}_p50_ms']:.2f} / {out[f'{name}_p99_ms']:.2f}" for name in columns))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--key")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--queues", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a worker's polls")
    parser.add_argument("--jitter", type=float, default=0.3,
                        help="prefect's jitter_range for the wait between polls (0: a fixed period, all in step)")
    parser.add_argument("--runs-per-second", type=float, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures = run(args.url, args.key, workers=args.workers, seconds=args.seconds, interval=args.interval,
                  per_second=args.runs_per_second, queues=args.queues, jitter=args.jitter)
    if args.json:
        Path(args.json).write_text(json.dumps(figures))


if __name__ == "__main__":
    main()
