"""Python function calls per hot request OUTSIDE the view's handler: the fixed per-request work of the lean
route (authentication, tenant, rate limit, permission, audit context, rendering, the response processing).

Runs bench/hot_requests.py's workload through Django's get_response (its --handler-only pass) with the
profiler paused while the lean views' own handler (their `get`/`post`) runs, so what is counted is what
every such request pays around the handler. Deterministic (cProfile's call counts), unlike CPU timings on a
shared machine.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/fixed_path.py [-F 12] [--profile ENDPOINT]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _pause_in_handlers(runner) -> None:
    """Wrap each lean view's handler so the runner's profiler does not count it."""
    from django.urls import resolve

    from apps.core.lean_middleware import _PREFIX, _ROUTES

    for method, sample, _ in _ROUTES.values():
        cls = resolve(f"{_PREFIX}a-c/workspaces/w-s/{sample}").func.cls
        name = method.lower()
        handler = getattr(cls, name)
        if getattr(handler, "_paused", False):
            continue

        def paused(self, *args, _handler=handler, **kwargs):
            profiler = runner.profiler
            if profiler is not None:
                profiler.disable()
            try:
                return _handler(self, *args, **kwargs)
            finally:
                if profiler is not None:
                    profiler.enable()

        functools.update_wrapper(paused, handler)
        paused._paused = True
        setattr(cls, name, paused)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=12, help="flow runs")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("--profile", help="print the top functions outside the handler of this endpoint")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import hot_requests
    from django.core import signals
    from django.db import close_old_connections
    from django.test import Client

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    prefix, key = hot_requests.setup_tenant()
    runner = hot_requests.Runner(Client(), prefix, key, args.profile)
    runner.handler_only = True
    _pause_in_handlers(runner)
    flow = runner.call("POST flows/", "POST", "/flows/", {"name": "bench-flow", "tags": []})
    hot_requests.workload(runner, flow["id"], 2, args.T)
    runner.measure = runner.profiled_pass = True
    hot_requests.workload(runner, flow["id"], args.F, args.T)
    print(f"{'endpoint (calls outside the handler)':44} {'n':>5} {'calls/req':>10} {'median':>8}")
    total = n = 0
    for name, calls in runner.calls.items():
        print(f"{name:44} {len(calls):5d} {sum(calls) / len(calls):10.1f} {statistics.median(calls):8.0f}")
        total += sum(calls)
        n += len(calls)
    print(f"{'all (weighted by the workload)':44} {n:5d} {total / n:10.1f}")
    if runner.stats is not None:
        runner.stats.sort_stats("tottime").print_stats(args.top)
        if os.environ.get("FIXED_PATH_DUMP"):
            runner.stats.dump_stats(os.environ["FIXED_PATH_DUMP"])


if __name__ == "__main__":
    main()
