"""deploy/gunicorn.conf.py plus transparent huge pages for the heap placed otherwise (config/hugepages.py;
docs/performance.md, "Thirteenth step: transparent huge pages"). PRAETOR_BENCH_HUGEPAGES picks a variant on top
of the deployed settings: `off` (as deployed), `master` (the master's heap advised MADV_HUGEPAGE and its mostly
resident 2 MiB blocks collapsed with MADV_COLLAPSE after preload, before the first fork), `worker` (the same in
each worker before it serves: what PRAETOR_HUGEPAGES=on does), `both`, `advise` (each worker only advises
MADV_HUGEPAGE). Each step logs what it advised and collapsed. Used by `bench/task_run_instructions.py ab --config
bench/hugepages.conf.py`."""

import os
from pathlib import Path

exec(compile(Path(__file__).resolve().parent.parent.joinpath("deploy", "gunicorn.conf.py").read_text(),
             "deploy/gunicorn.conf.py", "exec"))

_VARIANT = os.environ.get("PRAETOR_BENCH_HUGEPAGES", "off")
if _VARIANT not in ("off", "master", "worker", "both", "advise"):
    raise RuntimeError(f"PRAETOR_BENCH_HUGEPAGES={_VARIANT!r}: off, master, worker, both or advise")


def _huge_pages(log, where: str) -> None:
    from config.hugepages import use_huge_pages

    done = use_huge_pages(collapse=_VARIANT != "advise")
    log.info("huge pages (%s, %s): %d MiB advised, %d MiB collapsed, %d refused %s", _VARIANT, where,
             done.advised >> 20, done.collapsed >> 20, done.refused, sorted(done.errors))


def when_ready(server):  # after preload, before the first fork
    if _VARIANT in ("master", "both"):
        _huge_pages(server.log, "master")


def post_worker_init(worker):  # in each worker, before it serves
    if _VARIANT in ("worker", "both", "advise"):
        _huge_pages(worker.log, f"worker {os.getpid()}")
