"""Server CPU, Python function calls and SQL statements per request of the real client's requests other than
the hot run endpoints (bench/client_mix.py measures the mix: per flow run the client creates-or-reads its
flow by name, `POST flows/`, and probes `GET csrf-token?client=…`; per process it reads `GET health`), in
one process through Django's own request handler, as bench/hot_requests.py does for the hot ones.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/client_extras.py [-n 200] [--profile 'POST flows/']
    [--ab-lean]

`--ab-lean` alternates request by request between the full middleware chain (PRAETOR_LEAN_VIEWS off; names
marked [full chain]) and the lean route. The database must exist and be migrated.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))


def requests(client_id: str) -> list[tuple[str, str, str, dict | None, int]]:
    """(name, method, path below the workspace, body, expected status) as the prefect 2.20 client sends them."""
    return [
        ("GET csrf-token", "GET", f"/csrf-token?client={client_id}", None, 422),
        ("POST flows/", "POST", "/flows/", {"name": "bench-flow", "tags": []}, 200),
        ("GET health", "GET", "/health", None, 200),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="rounds of the requests, each pass")
    parser.add_argument("--profile", help="print the top functions of this request (e.g. 'POST flows/')")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--ab-lean", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings
    from django.core import signals
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from hot_requests import setup_tenant

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    prefix, key = setup_tenant()
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_PREFECT_API_VERSION": "0.8.4"}
    lean_on = settings.PRAETOR_LEAN_VIEWS
    variants = (("", lean_on), (" [full chain]", False)) if args.ab_lean else (("", lean_on),)
    cpu, calls, statements = defaultdict(list), defaultdict(list), defaultdict(list)
    stats = None

    def send(method, path, body):
        kwargs = dict(headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        return getattr(client, method.lower())(prefix + path, **kwargs)

    for _name, method, path, body, _status in requests(str(uuid.uuid4())):  # warm-up; the flow made
        send(method, path, body)
    for mode in ("cpu", "calls", "statements"):
        for _ in range(args.n):
            for name, method, path, body, status in requests(str(uuid.uuid4())):
                for suffix, lean in variants:
                    settings.PRAETOR_LEAN_VIEWS = lean
                    label = name + suffix
                    if mode == "cpu":
                        start = time.process_time()
                        response = send(method, path, body)
                        cpu[label].append(time.process_time() - start)
                    elif mode == "statements":  # a pass of its own: the capture's calls are not counted
                        with CaptureQueriesContext(connection) as queries:
                            response = send(method, path, body)
                        statements[label].append(len(queries))
                    else:
                        profiler = cProfile.Profile(time.process_time)
                        profiler.enable()
                        response = send(method, path, body)
                        profiler.disable()
                        run = pstats.Stats(profiler)
                        calls[label].append(run.total_calls)
                        if label == args.profile:
                            stats = run if stats is None else (stats.add(run) or stats)
                    if response.status_code != status:
                        raise SystemExit(f"{label}: {response.status_code} {response.content[:300]!r}")
    settings.PRAETOR_LEAN_VIEWS = lean_on
    print(f"{'request':36} {'n':>5} {'calls/req':>10} {'statements':>10} {'CPU ms/req':>11} {'CPU ms p50':>11}")
    for label in cpu:
        print(f"{label:36} {len(cpu[label]):5d} {statistics.fmean(calls[label]):10.0f} "
              f"{statistics.fmean(statements[label]):10.1f} {statistics.fmean(cpu[label]) * 1000:11.3f} "
              f"{statistics.median(cpu[label]) * 1000:11.3f}")
    if stats is not None:
        stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
