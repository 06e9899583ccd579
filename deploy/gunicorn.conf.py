"""gunicorn: ASGI (uvicorn workers) so HTTP and the events websocket share one server."""

import multiprocessing
import os

bind = os.environ.get("PRAETOR_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
worker_class = "uvicorn_worker.UvicornWorker"
timeout = int(os.environ.get("PRAETOR_WEB_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
accesslog = "-" if os.environ.get("PRAETOR_ACCESS_LOG", "0") == "1" else None
errorlog = "-"
