"""A WSGI application for tests/ops/test_gunicorn_gc.py: answers with its worker's pid and garbage-collector state."""

import gc
import json
import os


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "frozen": gc.get_freeze_count(), "enabled": gc.isenabled(),
                       "threshold": gc.get_threshold()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
