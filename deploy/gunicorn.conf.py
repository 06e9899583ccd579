"""gunicorn: HTTP and the events websocket share one server. PRAETOR_WEB_SERVER picks the worker: `threads` (the
default, config/server.py ThreadsWorker): request threads sharing one epoll parse HTTP and run Django's WSGI handler
themselves, no event loop on the HTTP path, the websocket on one asyncio thread with uvicorn's websocket protocol
(config/http_server/; docs/performance.md, "Eighth step"); `uvicorn`: uvicorn's worker, as before, described
next. HTTP requests run
Django's WSGI handler on PRAETOR_WEB_THREADS threads per worker (config/http_threads.py), each keeping
its database connection; measured with bench/flows.py, that halves the CPU per request of Django's own
ASGI handler, which connects anew (or leaks a connection) on every request. Polls have threads of their own
(PRAETOR_WEB_POLL_THREADS). uvicorn's worker picks uvloop and httptools (pinned in pyproject.toml) for its
event loop and HTTP parser: less event-loop CPU per request than asyncio and h11 (bench/http_layer.py). The
worker class is uvicorn's with its trusted-proxy test (forwarded_allow_ips below) kept per address
(config/server.py).

Used by the Procfile (`make run`) and the production image alike; tuned by environment variables
listed in docs/configuration.md."""

import gc
import multiprocessing
import os

bind = os.environ.get("PRAETOR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
_WORKERS = {"threads": "config.server.ThreadsWorker", "uvicorn": "config.server.Worker"}
worker_class = _WORKERS[os.environ.get("PRAETOR_WEB_SERVER", "threads")]
timeout = int(os.environ.get("PRAETOR_WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak in a dependency cannot grow without bound. The app is
# loaded once in the master (preload) so a recycled worker is a cheap fork, not a fresh Django import
# (about a second of CPU each time); nothing opens a connection at import time.
max_requests = 10000
max_requests_jitter = 1000
preload_app = True


def pre_fork(server, worker):
    """Move every object the master holds (the preloaded app and Django: about 274,000 tracked) out of the garbage
    collector's view before each fork. Insurance, not a per-request saving: young collections, the ones requests
    trigger, never visit these objects (about 0.2% of a worker's CPU, frozen or not), and in 14,000 requests of
    the real client's mix a worker ran no full collection; but one would walk them all (120-240 ms of CPU) and,
    the first time, write every one's gc header, copying about 19,000 shared pages (74 MB) into the worker;
    frozen, it takes 0.5 ms and copies none. docs/performance.md, "Eleventh step: the garbage collector";
    tests/ops/test_gunicorn_gc.py checks each worker sees them frozen."""
    gc.freeze()


def post_worker_init(worker):
    """PRAETOR_HUGEPAGES on: the worker's heap (the preloaded app included) on transparent huge pages before it
    serves (config/hugepages.py: advised MADV_HUGEPAGE, its mostly resident 2 MiB blocks collapsed). Measured under
    the real client (docs/performance.md, "Thirteenth step: transparent huge pages"): 7.5% less server CPU per task
    run with 4 client processes and 1% with 2 in `task_run_instructions.py ab`, no gain in `compare.py --pairs 4`,
    for ~50 MiB more PSS a worker (the preloaded heap copied, no longer shared with the master); off by default.
    tests/ops/test_gunicorn_hugepages.py."""
    if os.environ.get("PRAETOR_HUGEPAGES", "off").lower() in ("1", "true", "yes", "on"):
        from config.hugepages import use_huge_pages

        done = use_huge_pages()
        worker.log.info("huge pages: %d MiB advised, %d MiB collapsed, %d refused %s", done.advised >> 20,
                        done.collapsed >> 20, done.refused, sorted(done.errors))


# Proxies whose X-Forwarded-* headers uvicorn believes (client address and scheme in its logs).
forwarded_allow_ips = os.environ.get("PRAETOR_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Heartbeat files in memory, not on a container's overlay filesystem, which can stall them.
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's own recommendation for its worker heartbeat files
if os.path.isdir(_SHM):
    worker_tmp_dir = _SHM
accesslog = "-" if os.environ.get("PRAETOR_ACCESS_LOG", "0") == "1" else None
errorlog = "-"
