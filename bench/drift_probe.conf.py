"""deploy/gunicorn.conf.py plus a bench-only probe (bench/drift.py --probe): after the fork, each worker counts its
garbage collector's passes per generation, the objects they collected and the seconds they took (gc.callbacks),
and appends them with the objects gc tracks, its thread count and the asyncio tasks of its loop as one JSON line a
second to PRAETOR_BENCH_GC_LOG."""

import gc
import json
import os
import threading
import time
from pathlib import Path

exec(compile(Path(__file__).resolve().parent.parent.joinpath("deploy", "gunicorn.conf.py").read_text(),
             "deploy/gunicorn.conf.py", "exec"))


def post_fork(server, worker):
    passes, collected, seconds = [0, 0, 0], [0, 0, 0], [0.0, 0.0, 0.0]
    started: dict = {}

    def callback(phase, info):
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.perf_counter()
        else:
            passes[generation] += 1
            collected[generation] += info["collected"]
            seconds[generation] += time.perf_counter() - started.pop(generation, time.perf_counter())

    gc.callbacks.append(callback)
    log = os.environ["PRAETOR_BENCH_GC_LOG"]

    def write():
        with open(log, "a", buffering=1) as out:
            while True:
                time.sleep(1)
                out.write(json.dumps({"pid": os.getpid(), "t": round(time.time(), 1), "passes": passes,
                                      "collected": collected, "gc_s": [round(s, 4) for s in seconds],
                                      "tracked": len(gc.get_objects()), "counts": gc.get_count(),
                                      "threads": threading.active_count(),
                                      "names": sorted({t.name.split("_")[0] for t in threading.enumerate()})}) + "\n")

    threading.Thread(target=write, daemon=True, name="gc-probe").start()
