"""deploy/gunicorn.conf.py plus a bench-only garbage-collector probe (bench/gc_served.py): each worker counts its
collections per generation and the thread CPU and wall time they took (gc.callbacks, from the fork on), and every
0.25 s rewrites PRAETOR_BENCH_GC_DIR/gc.PID with those totals, its thresholds and its freeze count (read once, at
the fork: gc.get_freeze_count() walks the whole frozen list). PRAETOR_BENCH_GC picks a variant on top of the
deployed settings: `deployed` (as is), `freeze` (gc.freeze() in the master before each fork), `threshold:N`
(gc.set_threshold(N) in each worker), `unfreeze` (gc.unfreeze() in each worker: the collector sees the preloaded
objects again, whatever the deployed hooks did). PRAETOR_BENCH_MAX_REQUESTS, if set, replaces max_requests (no
jitter), to follow a worker past its deployed life."""

import gc
import json
import os
import threading
import time
from pathlib import Path

exec(compile(Path(__file__).resolve().parent.parent.joinpath("deploy", "gunicorn.conf.py").read_text(),
             "deploy/gunicorn.conf.py", "exec"))

if os.environ.get("PRAETOR_BENCH_MAX_REQUESTS"):  # a worker kept past its deployed life, to see what a life holds
    max_requests, max_requests_jitter = int(os.environ["PRAETOR_BENCH_MAX_REQUESTS"]), 0
_deployed_pre_fork = globals().get("pre_fork")
_deployed_post_fork = globals().get("post_fork")
_VARIANT = os.environ.get("PRAETOR_BENCH_GC", "deployed")


def pre_fork(server, worker):
    if _deployed_pre_fork is not None:
        _deployed_pre_fork(server, worker)
    if _VARIANT == "freeze":
        gc.freeze()


def post_fork(server, worker):
    if _deployed_post_fork is not None:
        _deployed_post_fork(server, worker)
    if _VARIANT.startswith("threshold:"):
        gc.set_threshold(int(_VARIANT.split(":", 1)[1]), *gc.get_threshold()[1:])
    elif _VARIANT == "unfreeze":
        gc.unfreeze()
    passes, collected, cpu, wall = [0, 0, 0], [0, 0, 0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    started: dict = {}

    def callback(phase, info):
        generation = info["generation"]
        if phase == "start":
            started[generation] = (time.thread_time(), time.perf_counter())
        else:
            cpu0, wall0 = started.pop(generation)
            passes[generation] += 1
            collected[generation] += info["collected"]
            cpu[generation] += time.thread_time() - cpu0
            wall[generation] += time.perf_counter() - wall0

    gc.callbacks.append(callback)
    out = Path(os.environ["PRAETOR_BENCH_GC_DIR"]) / f"gc.{os.getpid()}"
    # Read once: gc.get_freeze_count() walks the whole frozen list (O(objects) on 3.11), a busy probe otherwise.
    frozen = gc.get_freeze_count()

    def write():
        while True:
            tmp = out.parent / f"tmp.{out.name}"
            tmp.write_text(json.dumps({"pid": os.getpid(), "variant": _VARIANT, "passes": passes,
                                       "collected": collected, "cpu_s": cpu, "wall_s": wall,
                                       "frozen": frozen, "threshold": gc.get_threshold()}))
            tmp.rename(out)
            time.sleep(0.25)

    threading.Thread(target=write, daemon=True, name="gc-probe").start()
