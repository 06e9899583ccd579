"""What a full garbage collection costs a forked worker, with and without gc.freeze() in the parent before the fork
(docs/performance.md, "Eleventh step: the garbage collector"). Imports config.asgi and the URLconf as gunicorn's
preloading master and a worker's first request do, then forks, alternately plain and after gc.freeze(); the child
runs gc.collect() twice and reports each one's thread CPU and the minor page faults it caused (a page the child
writes that it still shares with the parent is copied: the first full collection writes every tracked object's gc
header). Counted before anything else touches the parent's objects in the child (gc.get_objects() alone, by taking
a reference to each, would copy the pages first).

    .venv/bin/python bench/gc_fork.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _child(write_end: int) -> None:
    lines = []
    for which in ("first", "second"):
        faults, cpu = _faults(), time.thread_time()
        gc.collect()
        lines.append(f"{which} full collection {(time.thread_time() - cpu) * 1000:6.1f} ms CPU, "
                     f"{_faults() - faults:6d} faults")
    tracked = len(gc.get_objects())
    os.write(write_end, f"tracked {tracked}, frozen {gc.get_freeze_count()}: {'; '.join(lines)}".encode())
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    from django.urls import get_resolver

    import config.asgi  # noqa: F401 - the preloaded application

    get_resolver().url_patterns  # noqa: B018 - as a worker has after its first request
    for _ in range(args.rounds):
        for mode in ("plain", "freeze"):
            if mode == "freeze":
                gc.freeze()
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                _child(write_end)
            os.waitpid(pid, 0)
            print(f"{mode:6s} {os.read(read_end, 4096).decode()}", flush=True)
            os.close(read_end)
            os.close(write_end)
            gc.unfreeze()


if __name__ == "__main__":
    main()
