"""CPU of the per-request parts the djtrim step changed, each timed against what it replaced, in one process.

Each part runs its former way and its new way alternately, N calls per round, R rounds; printed is the minimum
over the rounds of the process CPU per call (µs), so the machine's load moves both ways alike and a spike is
not counted. The ways are built from the same inputs a task run's set_state or create carries (the bench's
bodies and rows). The database of the settings must be migrated (the statements part runs two reads).

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/request_parts.py [-n 2000] [-r 7]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(fn, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def _result() -> dict:
    stamp = datetime.datetime.now(datetime.UTC).isoformat()
    return {"state": {"id": str(uuid.uuid4()), "type": "RUNNING", "name": "Running", "timestamp": stamp,
                      "message": None, "data": None, "state_details": {"flow_run_id": str(uuid.uuid4()),
                                                                       "task_run_id": str(uuid.uuid4()),
                                                                       "pause_keys": [], "retriable": None}},
            "status": "ACCEPT", "details": {"type": "accept_details"}}


def parts() -> dict:
    """{name: (former, new)}: two callables of the same work."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import JSONField
    from django.test import RequestFactory
    from django.utils import timezone
    from rest_framework.renderers import JSONRenderer
    from rest_framework.response import Response
    from rest_framework.utils import json as drf_json

    from apps.core import authcache, prepared, rows
    from apps.core.api import lean
    from apps.core.api.views import _as_uuid, _workspace_key, workspace_context
    from apps.core.lean_middleware import LeanRouteMiddleware
    from apps.engine.models.runs import TaskRun
    from apps.ratelimit import middleware as ratelimit
    from apps.ratelimit.limiter import Decision

    data, found = _result(), {}
    middleware = LeanRouteMiddleware(lambda request: None)
    decision = Decision(allowed=True, limit=600, remaining=599, reset_after=0.4, retry_after=0.0)

    def prepared_response(make):
        response = make(data, status=201)
        response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        response.renderer_context = {"view": None, "args": (), "kwargs": {}, "request": None}
        response["Allow"] = "POST, OPTIONS"
        return response

    def request():
        r = RequestFactory().post("/api/accounts/a/workspaces/w/task_runs/", HTTP_HOST="testserver")
        ratelimit._state(r).decision = decision
        return r

    requests = [request() for _ in range(4)]

    def finish_former():
        r = requests[0]
        response = prepared_response(Response).render()
        response = ratelimit.keyed_response_finish(r, response)
        response = middleware.xframe.process_response(r, response)
        response = middleware.common.process_response(r, response)
        return middleware.security.process_response(r, response)

    def finish_new():
        r, response = requests[0], prepared_response(Response)
        lean.lean_render(response)
        middleware._finish_plain(r, response)
        return response

    found["response made, rendered, finished"] = (finish_former, finish_new)
    found["CommonMiddleware's request check"] = (lambda: middleware.common.process_request(requests[1]),
                                                 lambda: middleware._common_passes(requests[1]))

    class Actor:
        pk = 7

    actor, org, ws = Actor(), str(uuid.uuid4()), str(uuid.uuid4())
    # Entries that stay for the run: no expiry, no epoch poll emptying them (both ways hit the cache).
    settings.PRAETOR_AUTH_CACHE_SECONDS = 10**6
    authcache._cache._check_epoch = lambda now: None
    authcache.put(_workspace_key(actor, uuid.UUID(org), uuid.UUID(ws)), ("workspace", "access"))
    path_key = ("workspace path", "Actor", 7, org, ws)
    # as resolve_tenant derives it: the workspace entry's answer with the workspace's organization
    authcache.derive(path_key, _workspace_key(actor, uuid.UUID(org), uuid.UUID(ws)),
                     lambda found: (*found, "organization"))
    found["workspace from the auth cache"] = (
        lambda: workspace_context(actor, _as_uuid(org, "W"), _as_uuid(ws, "W")), lambda: authcache.get(path_key))

    body = ('{"state": {"type": "RUNNING", "name": null, "message": null, "data": null, "state_details": {}}, '
            '"force": false}')
    found["set_state body JSON decode"] = (lambda: drf_json.loads(body), lambda: lean._DECODE(body))

    field = JSONField()
    texts = ['{"retries": 0, "retry_delay": 0}', "[]", '{"a": [1, 2, {"b": null}]}', "{}", '["x", "y"]', "null"]
    converters = {n: ([field.from_db_value], None) for n in range(len(texts))}
    compiler = type("Compiler", (), {"connection": connection})()
    conversions = prepared._conversions(compiler, converters)

    def convert_former():
        row = list(texts)
        for position, (convs, expression) in converters.items():
            value = row[position]
            for converter in convs:
                value = converter(value, expression, connection)
            row[position] = value
        return row

    def convert_new():
        row = list(texts)
        for position, convert in conversions:
            row[position] = convert(row[position])
        return row

    found["six JSON columns of a row"] = (convert_former, convert_new)

    now = timezone.now()
    values = {"id": uuid.uuid4(), "workspace_id": uuid.uuid4(), "flow_run_id": uuid.uuid4(), "task_key": "k",
              "dynamic_key": "0", "name": "t-0", "empirical_policy": {"retries": 0}, "tags": [], "task_inputs": {},
              "cache_key": None, "cache_expiration": None, "task_version": None}
    names, row_values = tuple(values), tuple(values.values())
    found["a new TaskRun"] = (lambda: TaskRun(**values), lambda: rows.new_instance(TaskRun, names, row_values))

    # Two statements in turn on one connection, as a set_state's read and write: psycopg's own cursor (a new
    # Transformer each time the statement changes, psycopg's UUID dumper) against this module's.
    import psycopg
    from psycopg.types import numeric

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = 2**62  # psycopg prepares when told (prepare=True), never by count
    former_cursor = psycopg.Cursor(raw)
    for wrapper, dumper in ((numeric.Int2, numeric.Int2Dumper), (numeric.Int4, numeric.Int4Dumper),
                            (numeric.Int8, numeric.Int8Dumper)):
        former_cursor.adapters.register_dumper(wrapper, dumper)
    new_cursor = prepared._RawCursor(connection).cursor
    first = "SELECT %s::uuid, %s::uuid, %s::uuid, %s::timestamptz, %s::text, %s::int"
    second = "SELECT %s::uuid, %s::text, %s::timestamptz, %s::uuid"
    params1 = [uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), now, "x", numeric.Int4(3)]
    params2 = [uuid.uuid4(), "y", now, uuid.uuid4()]

    def statements(cursor):
        def run():
            cursor.execute(first, params1, prepare=True)
            cursor.fetchone()
            cursor.execute(second, params2, prepare=True)
            cursor.fetchone()
        return run

    found["two statements in turn (pair)"] = (statements(former_cursor), statements(new_cursor))
    return found


def main(parts_of=None, description: str | None = None) -> None:
    """Time `parts_of()` ({name: (former, new)}, called after django.setup(); this module's `parts` by default),
    each way alternately, and print the minimum per call. bench/create_read_parts.py runs its parts through it."""
    parser = argparse.ArgumentParser(description=description or __doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="calls per way per round")
    parser.add_argument("-r", type=int, default=7, help="rounds (the minimum is printed)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    found = (parts_of or parts)()
    print(f"load average {os.getloadavg()[0]:.2f}; minimum of {args.r} rounds of {args.n} calls, CPU µs per call")
    print(f"{'part':40} {'former':>8} {'new':>8} {'saved':>8}")
    for name, (former, new) in found.items():
        former(), new()  # warm: caches, compiled plans, prepared statements
        times = {"former": [], "new": []}
        for _ in range(args.r):
            times["former"].append(_timed(former, args.n))
            times["new"].append(_timed(new, args.n))
        a, b = min(times["former"]), min(times["new"])
        print(f"{name:40} {a:8.1f} {b:8.1f} {a - b:8.1f}")


if __name__ == "__main__":
    main()
