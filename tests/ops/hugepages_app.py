"""A WSGI application for tests/ops/test_gunicorn_hugepages.py: answers with its worker's pid and memory
(/proc/self/smaps_rollup, KiB)."""

import json
import os

from config.hugepages import memory


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), **memory()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
