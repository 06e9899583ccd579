"""Python function calls inside the handlers of the run create and read views, per request (median).

Runs bench/hot_requests.py's workload (its unprofiled passes) and counts, with cProfile, the calls made inside
`TaskRunCreateView.post`, `TaskRunDetailView.get`, `FlowRunCreateView.post` and `FlowRunDetailView.get` only:
the view's own work (body validation, the service, the JSON, DRF's Response), without the fixed path around
it (authentication, tenant, rate limit, the response's finishing) that `--handler-only` includes.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/view_calls.py [-F 6] [--dump 'POST task_runs/' FILE]
        [--cpu]

`--cpu` times the handlers instead (process CPU per call, no profiler): median and minimum µs per request,
which a loaded machine moves less than the mean.

The database must exist and be migrated (`manage.py migrate` with the same settings).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import functools
import io
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEWS = (("task_runs", "TaskRunCreateView", "post", "POST task_runs/"),
         ("task_runs", "TaskRunDetailView", "get", "GET task_runs/{id}"),
         ("flow_runs", "FlowRunCreateView", "post", "POST flow_runs/"),
         ("flow_runs", "FlowRunDetailView", "get", "GET flow_runs/{id}"))


def _counted(method, name: str, counts: dict, dumps: dict, dump_name: str | None, cpu: bool):
    @functools.wraps(method)
    def counted(*args, **kwargs):
        if sys.getprofile() is not None:  # hot_requests' own profiled pass: not counted here
            return method(*args, **kwargs)
        if cpu:
            start = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                counts[name].append((time.process_time() - start) * 1e6)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return method(*args, **kwargs)
        finally:
            profiler.disable()
            stats = pstats.Stats(profiler)
            counts[name].append(stats.total_calls - 1)  # without the profiler's own disable()
            if name == dump_name:
                dumps.setdefault(name, []).append(stats)

    return counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=6, help="flow runs (of 10 task runs) per pass")
    parser.add_argument("--cpu", action="store_true", help="time the handlers (µs) instead of counting calls")
    parser.add_argument("--dump", nargs=2, metavar=("ENDPOINT", "FILE"),
                        help="write the pstats of this endpoint's later half of requests to FILE")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import importlib

    from bench import hot_requests

    counts: dict = defaultdict(list)
    dumps: dict = {}
    for module, cls, method, name in VIEWS:
        view = getattr(importlib.import_module(f"apps.engine.api.{module}"), cls)
        setattr(view, method, _counted(getattr(view, method), name, counts, dumps,
                                       args.dump[0] if args.dump else None, args.cpu))
    sys.argv = [sys.argv[0], "-F", str(args.F)]
    with contextlib.redirect_stdout(io.StringIO()):
        hot_requests.main()
    print(f"{'view handler':24} {'n':>5} {'median µs' if args.cpu else 'median calls':>13} {'min':>6} {'max':>6}")
    for _, _, _, name in VIEWS:
        measured = counts[name][len(counts[name]) // 2:]  # after the warm-up runs
        print(f"{name:24} {len(measured):5d} {statistics.median(measured):13.0f} {min(measured):6.0f} "
              f"{max(measured):6.0f}")
    if args.dump and dumps.get(args.dump[0]):
        kept = dumps[args.dump[0]]
        stats = kept[len(kept) // 2]
        for more in kept[len(kept) // 2 + 1:]:
            stats.add(more)
        stats.dump_stats(args.dump[1])


if __name__ == "__main__":
    main()
