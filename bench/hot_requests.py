"""Server CPU and Python function calls per hot request, in one process, without HTTP.

Runs the per-task-run requests the prefect client makes (the `bench/flows.py api` workload: create a flow run,
set it Running, create task runs and set each Running then Completed, read a task run and the flow run, post a
log batch, set the flow run Completed) through Django's own request handler (django.test.Client: the
middleware stack, or the lean route for the endpoints that take it, apps/core/lean_middleware.py), against
the database of config.settings.test, keeping one connection as the production server does. Prints per
endpoint the function calls (cProfile, independent of the machine's load) and the process CPU time per
request, so a change is measured before and after at once.

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/hot_requests.py [-F 20 -T 10] [--profile ENDPOINT]

`--handler-only` counts the calls of (and times the CPU in) Django's `get_response` only (what a server calls
per request: the middleware, the lean route, the view), without the test client's own work (its signals, the
WSGIRequest).
`--ab` alternates body validation (serializers only / flat validators), `--ab-lean` the lean route and
dispatch (PRAETOR_LEAN_VIEWS off / on), `--ab-prepare` the statements of apps/core/prepared.py bound on the
client and never prepared / prepared (PRAETOR_DB_PREPARE off / on), `--ab-create` the flow run create (the ORM
way / the one statement), `--ab-filter` the filter page (the queryset / flow_run_page), flow run by flow run in
one process; `--filter` adds flow run filters. The CPU the PostgreSQL backend of the connection spent per
request is read from /proc/<its pid>/schedstat (nanoseconds on CPU) around each timed request, when the file is
readable (the server runs on this machine).

The database must exist and be migrated (`manage.py migrate` with the same settings).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _state(type_: str) -> dict:
    return {"type": type_, "name": None, "message": None, "data": None, "state_details": {}}


class Runner:
    """Sends the workload's requests. Unmeasured until `measure` is set; then a write, which cannot be sent
    twice, is either profiled (function calls) or timed (CPU), by `profiled_pass`: two passes measure both."""

    def __init__(self, client, prefix: str, key: str, profile: str | None):
        self.client, self.prefix = client, prefix
        # A Host header, as every HTTP/1.1 client sends (Django's test client sends none by itself)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_X_PREFECT_API_VERSION": "0.8.4",
                        "HTTP_HOST": "testserver"}
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.pg_cpu: dict[str, list[float]] = defaultdict(list)
        self.pg_schedstat: str | None = None  # /proc/<pid>/schedstat of the connection's PostgreSQL backend
        self.calls: dict[str, list[int]] = defaultdict(list)
        self.profile_name = profile
        self.stats: pstats.Stats | None = None
        self.measure = False
        self.profiled_pass = False
        self.variant = ""  # appended to the endpoint names (--ab)
        self.handler_only = False  # --handler-only: profile Django's get_response only
        self.profiler: cProfile.Profile | None = None
        self.inner_cpu: float | None = None  # CPU inside get_response of the request being timed (handler-only)
        if hasattr(client, "handler"):
            handler_get_response = client.handler.get_response

            def get_response(request):
                """Django's BaseHandler.get_response, profiled when a handler-only pass asks: what a WSGI or
                ASGI server calls per request, without the test client's own work or the request's building."""
                if self.profiler is None and self.inner_cpu is not None:  # a handler-only timed request
                    start = time.process_time()
                    try:
                        return handler_get_response(request)
                    finally:
                        self.inner_cpu += time.process_time() - start
                if self.profiler is None:
                    return handler_get_response(request)
                self.profiler.enable()
                try:
                    return handler_get_response(request)
                finally:
                    self.profiler.disable()

            client.handler.get_response = get_response

    def call(self, name: str, method: str, path: str, body=None):
        name += self.variant
        kwargs = dict(self.headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        send = getattr(self.client, method.lower())
        if not self.measure:
            response = send(self.prefix + path, **kwargs)
        elif self.profiled_pass:
            profiler = cProfile.Profile(time.process_time)
            if self.handler_only:
                self.profiler = profiler
                response = send(self.prefix + path, **kwargs)
                self.profiler = None
            else:
                profiler.enable()
                response = send(self.prefix + path, **kwargs)
                profiler.disable()
            stats = pstats.Stats(profiler)
            self.calls[name].append(stats.total_calls)
            if name == self.profile_name:
                if self.stats is None:
                    self.stats = stats
                else:
                    self.stats.add(stats)
        else:
            pg_start = _on_cpu(self.pg_schedstat)
            self.inner_cpu = None if not self.handler_only else 0.0
            start = time.process_time()
            response = send(self.prefix + path, **kwargs)
            self.cpu[name].append((time.process_time() - start) if self.inner_cpu is None else self.inner_cpu)
            if pg_start is not None:
                self.pg_cpu[name].append(_on_cpu(self.pg_schedstat) - pg_start)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.content[:300]!r}")
        return response.json() if response.content else None


def _on_cpu(schedstat: str | None) -> float | None:
    """Seconds a process has run on a CPU, from its /proc/<pid>/schedstat; None without one."""
    if schedstat is None:
        return None
    with open(schedstat) as f:
        return int(f.read().split()[0]) / 1e9


def _backend_schedstat() -> str | None:
    """/proc/<pid>/schedstat of the PostgreSQL backend of the default connection, if readable here."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        path = f"/proc/{cursor.fetchone()[0]}/schedstat"
    try:
        _on_cpu(path)
    except (OSError, ValueError, IndexError):
        return None
    return path


def _logs(run_id: str, task_ids: list[str], size: int) -> list[dict]:
    """A log batch as the client's log worker sends it: the run's line first, then what its tasks logged
    (three lines a task, as prefect 2.20 logs a task run), `size` logs in all."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    logs = [{"name": "bench", "level": 20, "message": f"run {run_id} done", "timestamp": stamp,
             "flow_run_id": run_id, "task_run_id": None}]
    lines = [("prefect.flow_runs", "Created task run '{t}' for task 'bench-task'", False),
             ("prefect.flow_runs", "Executing '{t}' immediately...", False),
             ("prefect.task_runs", "Finished in state Completed()", True)]
    for i in range(size - 1):
        task_id = task_ids[(i // 3) % len(task_ids)] if task_ids else None
        name, message, in_task = lines[i % 3]
        logs.append({"name": name, "level": 20, "message": message.format(t=f"t-{i // 3}"), "timestamp": stamp,
                     "flow_run_id": run_id, "task_run_id": task_id if in_task else None})
    return logs


def workload(r: Runner, flow_id: str, flows: int, tasks: int, logs: int = 1, filters: bool = False) -> None:
    c = r.call
    for _ in range(flows):
        run = c("POST flow_runs/", "POST", "/flow_runs/",
                {"flow_id": flow_id, "state": _state("PENDING"), "parameters": {"n": tasks}})
        if filters:  # as a worker or the UI reads runs: this one by id, and the latest page of a flow's runs
            c("POST flow_runs/filter", "POST", "/flow_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
            c("POST flow_runs/filter", "POST", "/flow_runs/filter",
              {"flows": {"id": {"any_": [flow_id]}}, "sort": "START_TIME_DESC", "limit": 10})
        c("POST flow_runs/{id}/set_state", "POST", f"/flow_runs/{run['id']}/set_state",
          {"state": _state("RUNNING"), "force": False})
        c("GET flow_runs/{id}", "GET", f"/flow_runs/{run['id']}")
        task_ids = []
        for t in range(tasks):
            task = c("POST task_runs/", "POST", "/task_runs/", {
                "flow_run_id": run["id"], "task_key": "bench-task", "dynamic_key": str(t), "name": f"t-{t}",
                "state": _state("PENDING"), "tags": [], "task_inputs": {}})
            for type_ in ("RUNNING", "COMPLETED"):
                answer = c("POST task_runs/{id}/set_state", "POST", f"/task_runs/{task['id']}/set_state",
                           {"state": _state(type_), "force": False})
                assert answer["status"] == "ACCEPT", answer
            c("GET task_runs/{id}", "GET", f"/task_runs/{task['id']}")
            task_ids.append(task["id"])
        c("POST logs/", "POST", "/logs/", _logs(run["id"], task_ids, logs))
        c("POST flow_runs/{id}/set_state", "POST", f"/flow_runs/{run['id']}/set_state",
          {"state": _state("COMPLETED"), "force": False})


def setup_tenant():
    import uuid

    from apps.billing.services import enterprise_set
    from apps.identity.services import api_key_create, user_create
    from apps.organizations.services import organization_create
    from apps.workspaces.services import workspace_create

    tag = uuid.uuid4().hex[:8]
    user = user_create(email=f"bench-{tag}@example.com", password=None)
    org = organization_create(name=f"Bench {tag}", handle=f"bench-{tag}", owner=user)
    enterprise_set(organization=org, overrides={"rate_limit_api_per_minute": 10**9,
                                                "rate_limit_logs_events_per_minute": 10**9})
    workspace = workspace_create(organization=org, name="bench", handle="bench", description="", actor=user)
    _, secret = api_key_create(owner=user, name="bench", expires_at=None)
    return f"/api/accounts/{org.pk}/workspaces/{workspace.pk}", secret


def former_logs_create():
    """services.logs_create before the COPY step (docs/performance.md, "Sixth step"): a Log per log, then one
    multi-row INSERT per 1,000 in a transaction. After django.setup()."""
    from django.db import transaction

    from apps.core import prepared
    from apps.engine.models.runs import Log

    def logs_create(*, workspace, logs: list[dict], actor=None) -> int:
        if not logs:
            return 0
        rows = [Log(workspace=workspace, name=log["name"], level=log["level"], message=log["message"],
                    timestamp=log["timestamp"], flow_run_id=log.get("flow_run_id"),
                    task_run_id=log.get("task_run_id")) for log in logs]
        with transaction.atomic():
            prepared.insert_many(rows, batch_size=1000)
        return len(rows)

    return logs_create


def _alternate(runner: Runner, flow_id: str, args, variants: tuple, swap, filters: bool | None = None) -> None:
    """F times, for each (variant, implementation) of `variants`: `swap(implementation)`, then one flow run of the
    workload, its names marked with the variant. The last pair is the one in place before (variant ""): it stays."""
    for _ in range(args.F):
        for variant, implementation in variants:
            runner.variant = variant
            swap(implementation)
            workload(runner, flow_id, 1, args.T, args.L, args.filter if filters is None else filters)
    swap(variants[-1][1])
    runner.variant = ""


def _alternate_log_inserts(runner: Runner, flow_id: str, args) -> None:
    from apps.engine.api import logs as views

    _alternate(runner, flow_id, args, ((" [insert]", former_logs_create()), ("", views.logs_create)),
               lambda create: setattr(views, "logs_create", create))


def _alternate_flow_run_creates(runner: Runner, flow_id: str, args) -> None:
    """Flow run by flow run, its create by the ORM way (`_flow_run_create_orm`, SQLite's, names marked [orm]) and
    by the one statement (`flow_run_create`)."""
    from apps.engine.services import flow_runs

    def orm(*, actor=None, **kwargs):
        return flow_runs._flow_run_create_orm(**kwargs)

    _alternate(runner, flow_id, args, ((" [orm]", orm), ("", flow_runs.flow_run_create)),
               lambda create: setattr(flow_runs, "flow_run_create", create))


def _alternate_filter_pages(runner: Runner, flow_id: str, args) -> None:
    """Flow run by flow run (with --filter's two filters), the filter page read by the queryset (names marked
    [queryset]) and by `flow_run_page` (a query compiled once per shape for bodies of ids only)."""
    from apps.engine.schemas.filters import page
    from apps.engine.selectors import flow_runs as selectors

    def by_queryset(*, workspace, body):
        return list(selectors.flow_run_list(workspace=workspace, body=body, sort=body.get("sort", "ID_DESC"))[
            page(body)])

    _alternate(runner, flow_id, args, ((" [queryset]", by_queryset), ("", selectors.flow_run_page)),
               lambda read: setattr(selectors, "flow_run_page", read), filters=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=20, help="flow runs per pass")
    parser.add_argument("-T", type=int, default=10, help="task runs per flow run")
    parser.add_argument("-L", type=int, default=1, help="logs per log batch (the client sends a run's logs in "
                                                          "batches; 1 keeps the figures of earlier steps)")
    parser.add_argument("--ab", action="store_true",
                        help="alternate flow run by flow run between body validation by the serializers only "
                             "(names marked [serializer]) and the flat validators, in this one process")
    parser.add_argument("--ab-lean", action="store_true",
                        help="alternate flow run by flow run between PRAETOR_LEAN_VIEWS off (the full middleware "
                             "chain and DRF for every request, names marked [full chain]) and on, in this one "
                             "process")
    parser.add_argument("--filter", action="store_true",
                        help="add two POST flow_runs/filter a flow run (not part of the client's own workload)")
    parser.add_argument("--ab-logs", action="store_true",
                        help="alternate flow run by flow run between storing a log batch as before the COPY step "
                             "(a Log per log, one multi-row INSERT: names marked [insert]) and the COPY, in this "
                             "one process")
    parser.add_argument("--ab-prepare", action="store_true",
                        help="alternate flow run by flow run between PRAETOR_DB_PREPARE off (apps/core/prepared.py's "
                             "statements bound on the client, never prepared: names marked [unprepared]) and on, "
                             "in this one process")
    parser.add_argument("--ab-create", action="store_true",
                        help="alternate flow run by flow run between creating the flow run by the ORM (names marked "
                             "[orm]) and by the one statement, in this one process")
    parser.add_argument("--ab-filter", action="store_true",
                        help="with --filter's two filters a flow run, alternate flow run by flow run between reading "
                             "the filter page by the queryset (names marked [queryset]) and by flow_run_page")
    parser.add_argument("--handler-only", action="store_true",
                        help="count (and profile) only the calls of Django's get_response (the middleware, the lean "
                             "route, the view), and time only its CPU: not the test client's own work nor the "
                             "WSGIRequest's building")
    parser.add_argument("--profile", help="print the top functions of this endpoint (e.g. 'POST task_runs/')")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="write the profiled endpoint's pstats to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.core import signals
    from django.db import close_old_connections, connections
    from django.test import Client

    # Keep one connection, as the production server's threads do (the test settings close it per request).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    prefix, key = setup_tenant()
    runner = Runner(Client(), prefix, key, args.profile)
    runner.handler_only = args.handler_only
    flow = runner.call("POST flows/", "POST", "/flows/", {"name": "bench-flow", "tags": []})
    workload(runner, flow["id"], 2, args.T, args.L, args.filter)  # warm-up: caches, compiled queries
    runner.measure = True
    runner.pg_schedstat = _backend_schedstat()
    from django.conf import settings

    for profiled in (False, True):
        runner.profiled_pass = profiled
        if args.ab_logs:
            _alternate_log_inserts(runner, flow["id"], args)
            continue
        if args.ab_create:
            _alternate_flow_run_creates(runner, flow["id"], args)
            continue
        if args.ab_filter:
            _alternate_filter_pages(runner, flow["id"], args)
            continue
        if args.ab_lean:
            _alternate(runner, flow["id"], args, ((" [full chain]", False), ("", settings.PRAETOR_LEAN_VIEWS)),
                       lambda on: setattr(settings, "PRAETOR_LEAN_VIEWS", on))
            continue
        if args.ab_prepare:
            from django.db import connection

            def prepare(value):
                settings.PRAETOR_DB_PREPARE = value
                connection._praetor_raw_cursor = None  # apps/core/prepared.py makes its cursor anew

            _alternate(runner, flow["id"], args, ((" [unprepared]", False), ("", settings.PRAETOR_DB_PREPARE)),
                       prepare)
            continue
        if not args.ab:
            workload(runner, flow["id"], args.F, args.T, args.L, args.filter)
            continue
        from apps.core.api.flat import FlatValidator

        # None from `fast`: the serializer validates
        _alternate(runner, flow["id"], args, ((" [serializer]", lambda self, data: None), ("", FlatValidator.fast)),
                   lambda fast: setattr(FlatValidator, "fast", fast))
    print(f"{'endpoint':44} {'n':>5} {'calls/req':>10} {'CPU ms/req':>11} {'median calls':>13} {'PG ms/req':>10}")
    marker = (" [serializer]" if args.ab else " [full chain]" if args.ab_lean else " [insert]" if args.ab_logs
              else " [unprepared]" if args.ab_prepare else " [orm]" if args.ab_create
              else " [queryset]" if args.ab_filter else None)
    for variant in ((marker, "") if marker else ("",)):
        total_calls = total_cpu = total_n = total_pg = 0
        for name in runner.calls:
            if marker and name.endswith(marker) != bool(variant):
                continue
            calls, cpu, pg = runner.calls[name], runner.cpu[name], runner.pg_cpu[name]
            pg_ms = f"{1000 * sum(pg) / len(pg):10.3f}" if pg else f"{'-':>10}"
            print(f"{name:44} {len(calls):5d} {sum(calls) / len(calls):10.0f} {1000 * sum(cpu) / len(cpu):11.2f} "
                  f"{statistics.median(calls):13.0f} {pg_ms}")
            total_calls += sum(calls)
            total_cpu += sum(cpu)
            total_pg += sum(pg)
            total_n += len(calls)
        pg_ms = f"{1000 * total_pg / total_n:10.3f}" if runner.pg_schedstat else f"{'-':>10}"
        print(f"{'all (weighted by the workload)' + variant:44} {total_n:5d} {total_calls / total_n:10.0f} "
              f"{1000 * total_cpu / total_n:11.2f} {'':13} {pg_ms}")
    raw = connections["default"].connection
    held = getattr(raw, "_praetor_statements", None)
    if held is not None:
        # apps/core/prepared.py's executor: statements prepared and held on the connection
        print(f"prepared statements: {len(held.names)} held")
    if runner.stats is not None:
        if args.dump:
            runner.stats.dump_stats(args.dump)
        runner.stats.sort_stats("tottime").print_stats(args.top)
        runner.stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
