"""Instructions of each layer of the task run cycle's four requests (valgrind's callgrind, in one process, production
settings): where a task run's instructions go, to choose what to cut.

bench/instructions.py's in-process `count` (config/handler.py's Handler, callgrind_control -z/-d around a batch of
`-n`, an empty batch subtracted, CONN_MAX_AGE 600, PRAETOR_AUTH_CACHE_SECONDS=3600), with each request's pieces
called alone, their inputs made before the batch (outside the count) from a real request of the kind:

- `whole`: Handler.serve(environ) (the environ built before), as bench/instructions.py counts a request;
- `middleware`: the middleware chain (its first, apps/core/lean_middleware.py's LeanRouteMiddleware, answers) on a
  WSGIRequest built before: `whole` less this is the handler, the WSGIRequest, the signals and the close;
- `prepare`: apps/core/api/lean.py's lean_prepare_on (authentication by the auth cache, body read and decode);
  `auth` the authentication alone;
- `dispatch`: the view's lean dispatch (tenancy, rate-limit draw, permission, the view's handler: validation,
  service, JSON build, Response); `tenancy` its resolve_tenant + rate_limit_draw + check_declared_permission alone,
  `resolve`, `draw` and `permission` each of the three alone (the view's tenancy resolved before, outside the count);
  `validate` the body's FlatValidator (and the create's task_run_create_set; a read's path_uuid); `service` the
  service or selector alone (task_run_create, task_run_set_state, task_run_get); `json` the answer's dict
  (task_run_json, SetStateResult.as_json);
- `render`: lean_render (the answer encoded, headers); `encode` its JSON encoding alone (lean.py's `_RENDER`);
- `request` (WSGIRequest(environ)), `started` (set_script_prefix + request_started_send), `close` (a response
  closed as Handler.serve closes it: config/handler.py's `close`, request_finished_send); `closedjango` (the
  response's own close(): HttpResponseBase.close, request_finished by Signal.send);
- `replay` / `replayraw`: the one statement the kind's service sends (captured from a call), sent again by
  prepared.py's path (`_run`: since branch rawexec its _Statements executor; before, cursor_for's
  _PreparingCursor.execute and fetch) / by psycopg's lower level (as `statement` / `raw` below, for every kind);
- `statement` (the read): the read's one statement by apps/core/prepared.py's path (PreparedQuery._execute: cursor_for,
  _PreparingCursor.execute, fetchone); `raw` the same prepared statement by psycopg's lower level
  (pgconn.exec_prepared, psycopg.adapt.Transformer to dump the parameters and load the row): a prototype of a leaner
  statement executor, bench only;
- `remembercreated` (create), `getparts`, `remember` (the set_states): the service's call of the process's copy of
  the task run (apps/engine/services/task_run_state_cache.py) alone, with the arguments the service passes.

Also the statements each request sends (counted natively), and per kind the `whole` request's functions by
inclusive instructions (callgrind_annotate --inclusive=yes; C-level: libpq, psycopg_binary, libpython's eval).

    .venv/bin/python bench/layer_instructions.py [-n 20] [--top 25]

Needs this checkout's database (praetor_<worktree>, migrated) and Redis, as bench/instructions.py does.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from instructions import _VALGRIND, KINDS, _control, _database, _functions, _headers, _summary  # noqa: E402

VARIANTS = ("whole", "middleware", "prepare", "auth", "dispatch", "tenancy", "resolve", "draw", "permission",
            "validate", "service", "json", "render", "encode", "statement", "raw", "request", "started", "close",
            "closedjango", "replay", "replayraw", "remembercreated", "getparts", "remember")


# ---- in process (the child under valgrind) ----

class Pieces:
    """A tenant, a flow run, and per kind and variant `make(variant, kind, n)`: n calls (thunks) of that piece with
    inputs made now; `run()` calls them (what is counted); `finish()` closes what they returned."""

    def __init__(self):
        from django.db import connections
        from hot_requests import setup_tenant

        from config.handler import Handler

        connections["default"].settings_dict["CONN_MAX_AGE"] = 600
        self.prefix, key = setup_tenant()
        self.headers = _headers("127.0.0.1", key)  # production settings: ALLOWED_HOSTS 127.0.0.1
        self.handler = Handler()
        self.thunks: list = []
        self.results: list = []
        status, content = self.send("POST", "/flows/", {"name": "layers", "tags": []})
        assert status < 300, content
        status, content = self.send("POST", "/flow_runs/", {"flow_id": json.loads(content)["id"], "name": "r",
                                                            "state": {"type": "RUNNING", "name": "Running"}})
        assert status < 300, content
        self.flow_run = json.loads(content)["id"]
        # the tenant as the view resolves it, and the lean route's views
        request = self.request(*self.planned("create"))
        self.user, self.auth, _ = self.prepare_on(request)
        view = self.view("create", request)
        self.workspace = view.workspace
        self.pending: list[str] = []  # task runs in Pending
        self.running: list[str] = []  # task runs in Running

    # requests
    def environ(self, method, path, data):
        from config.http_threads import _environ

        body = None if data is None else json.dumps(data).encode()
        sent = self.headers if body is None else [*self.headers, (b"content-type", b"application/json"),
                                                  (b"content-length", str(len(body)).encode())]
        scope = {"method": method, "path": self.prefix + path, "query_string": b"", "http_version": "1.1",
                 "scheme": "http", "server": ("127.0.0.1", 4200), "client": ("127.0.0.1", 5555), "root_path": "",
                 "headers": sent}
        return _environ(scope, io.BytesIO(body or b""), len(body or b""))

    def send(self, method, path, data):
        status, _, content = self.handler.serve(self.environ(method, path, data))
        return int(status[:3]), content

    def request(self, method, path, data):
        return self.handler.request_class(self.environ(method, path, data))

    @staticmethod
    def prepare_on(request):
        from apps.core.api.lean import lean_prepare_on

        return lean_prepare_on(request)

    def planned(self, kind: str, run: str | None = None):
        """(method, path, data) of a request of `kind`; set_state and read of task run `run`."""
        if kind == "create":
            return "POST", "/task_runs/", {"flow_run_id": self.flow_run, "task_key": "layers",
                                           "dynamic_key": uuid.uuid4().hex, "name": "t",
                                           "state": {"type": "PENDING", "name": "Pending"}, "tags": [],
                                           "task_inputs": {}}
        if kind == "read":
            return "GET", f"/task_runs/{run}", None
        return "POST", f"/task_runs/{run}/set_state", {"state": {"type": kind.upper(), "name": kind.capitalize()},
                                                       "force": False}

    def route(self, path):
        from apps.core.lean_middleware import _PATH, LeanRouteMiddleware, route_kwargs

        # the chain's first: Django's convert_exception_to_response around the middleware instance
        chain = self.handler._middleware_chain
        (middleware,) = [c.cell_contents for c in chain.__closure__ or ()
                         if isinstance(c.cell_contents, LeanRouteMiddleware)]
        return middleware, route_kwargs(_PATH.match(self.prefix + path))

    def view(self, kind, request, run=None):
        """A view instance of the kind's route, set up as _lean_dispatch sets it up, tenancy resolved."""
        from apps.core.api.lean import LeanRequest

        method, path, data = self.planned(kind, run or str(uuid.uuid4()))
        middleware, (route, kwargs) = self.route(path)
        dispatch = middleware._lean_views()[route][1]
        view_class, initkwargs = dispatch.args
        view = view_class(**initkwargs)
        lean = LeanRequest(request, data, self.user, self.auth)
        view.request, view.args, view.kwargs, view.format_kwarg = lean, (), kwargs, None
        view.headers = {}
        view.resolve_tenant(lean, kwargs)
        return view

    # task runs to move, made by the service (outside the count)
    def runs(self, kind: str, n: int) -> list[str]:
        from apps.engine.schemas import states as state_schemas
        from apps.engine.services import task_runs as services

        pool = self.pending if kind == "running" else self.running if kind == "completed" else None
        if kind == "read":
            pool = self.running
        while pool is not None and len(pool) < n + 1:
            _, _, data = self.planned("create")
            run, _ = services.task_run_create(workspace=self.workspace, actor=self.user, **self._create_set(data))
            if kind in ("completed", "read"):
                body = state_schemas.set_state_body({"state": {"type": "RUNNING", "name": "Running"}})
                services.task_run_set_state(workspace=self.workspace, task_run_id=run.pk, state=body["state"],
                                            actor=self.user)
            pool.append(str(run.pk))
        if kind == "read":
            return [pool[0]] * n  # a read changes nothing: the same run
        taken, pool[:n] = pool[:n], []
        return taken

    @staticmethod
    def _create_set(data):
        from apps.engine.api.task_runs import task_run_create_set
        from apps.engine.schemas import runs as schemas

        return task_run_create_set(schemas.task_run_create_body(data))

    def make(self, variant: str, kind: str, n: int) -> None:
        from django.core.handlers.wsgi import WSGIHandler, get_script_name
        from django.urls import set_script_prefix

        from apps.core.api.lean import _AUTHENTICATION, _RENDER, lean_render
        from apps.engine.api.common import path_uuid
        from apps.engine.schemas import runs as schemas
        from apps.engine.schemas import states as state_schemas
        from config.handler import close as handler_close
        from config.handler import request_started_send

        runs = self.runs(kind, n) if kind != "create" else [None] * n
        planned = [self.planned(kind, run) for run in runs]
        thunks = []
        if variant == "whole":
            for p in planned:
                environ = self.environ(*p)
                thunks.append(lambda e=environ: self.handler.serve(e))
        elif variant == "middleware":
            chain = self.handler._middleware_chain
            for p in planned:
                request = self.request(*p)
                thunks.append(lambda r=request: chain(r))
        elif variant == "prepare":
            for p in planned:
                request = self.request(*p)
                thunks.append(lambda r=request: self.prepare_on(r))
        elif variant == "auth":
            for p in planned:
                request = self.request(*p)
                thunks.append(lambda r=request: _AUTHENTICATION.authenticate(r))
        elif variant in ("dispatch", "render", "encode"):
            for p in planned:
                request = self.request(*p)
                prepared = self.prepare_on(request)
                middleware, (route, kwargs) = self.route(p[1])
                dispatch = middleware._lean_views()[route][1]
                if variant == "dispatch":
                    thunks.append(lambda d=dispatch, r=request, k=kwargs, q=prepared: d(r, k, *q))
                else:
                    response = dispatch(request, kwargs, *prepared)
                    self.results.append(response)
                    if variant == "render":
                        thunks.append(lambda r=response: lean_render(r))
                    else:
                        thunks.append(lambda d=response.data: _RENDER(d))
        elif variant == "tenancy":
            for p, run in zip(planned, runs, strict=True):
                request = self.request(*p)
                view = self.view(kind, request, run)
                lean, kwargs = view.request, view.kwargs

                def tenancy(v=view, r=lean, k=kwargs):
                    v.resolve_tenant(r, k)
                    v.rate_limit_draw(r)
                    v.check_declared_permission(r)

                thunks.append(tenancy)
        elif variant in ("resolve", "draw", "permission"):  # tenancy's three parts alone
            for p, run in zip(planned, runs, strict=True):
                request = self.request(*p)
                view = self.view(kind, request, run)
                lean, kwargs = view.request, view.kwargs
                if variant == "resolve":
                    thunks.append(lambda v=view, r=lean, k=kwargs: v.resolve_tenant(r, k))
                elif variant == "draw":
                    thunks.append(lambda v=view, r=lean: v.rate_limit_draw(r))
                else:
                    thunks.append(lambda v=view, r=lean: v.check_declared_permission(r))
        elif variant == "validate":
            for _, path, data in planned:
                if kind == "create":
                    thunks.append(lambda d=data: self._create_set(d))
                elif kind == "read":
                    run_id = path.rsplit("/", 1)[1]
                    thunks.append(lambda i=run_id: path_uuid(i))
                else:
                    thunks.append(lambda d=data: state_schemas.set_state_body(d))
        elif variant in ("service", "json"):
            for (_, _, data), run in zip(planned, runs, strict=True):
                call = self._service(kind, data, run)
                if variant == "service":
                    thunks.append(call)
                    continue
                result = call()
                if kind == "create":
                    thunks.append(lambda r=result[0]: schemas.task_run_json(r))
                elif kind == "read":
                    thunks.append(lambda r=result: schemas.task_run_json(r))
                else:
                    thunks.append(result.as_json)
        elif variant == "request":
            for p in planned:
                environ = self.environ(*p)
                thunks.append(lambda e=environ: self.handler.request_class(e))
        elif variant == "started":
            for p in planned:
                environ = self.environ(*p)

                def started(e=environ):
                    set_script_prefix(get_script_name(e))
                    request_started_send(e)

                thunks.append(started)
        elif variant in ("close", "closedjango"):
            chain = self.handler._middleware_chain
            for p in planned:
                response = chain(self.request(*p))
                response._handler_class = WSGIHandler  # as Handler._response sets it
                thunks.append(response.close if variant == "closedjango" else lambda r=response: handler_close(r))
        elif variant in ("replay", "replayraw"):
            thunks = self._replay(variant, kind, planned[0], runs[0], n)
        elif variant in ("statement", "raw"):
            if kind != "read":
                raise ValueError("statement and raw: the read only")
            thunks = [self._statement(variant, uuid.UUID(run)) for run in runs]
        elif variant in ("remembercreated", "getparts", "remember"):
            thunks = self._state_cache(variant, kind, planned, runs)
        elif variant != "none":
            raise ValueError(variant)
        self.thunks = thunks

    def _state_cache(self, variant: str, kind: str, planned, runs) -> list:
        """n calls of the set_state copy's own call (apps/engine/services/task_run_state_cache.py) as the kind's
        service makes it: `remembercreated` (create), `getparts` and `remember` (running, completed); each with the
        arguments the service passed (captured from a call of it now, the call itself skipped) or, for
        `getparts`, the run's ids (its entry made by the runs' creates and set_states)."""
        from apps.engine.services import task_run_state_cache as state_cache

        name = {"remembercreated": "remember_created", "getparts": "get_parts", "remember": "remember"}[variant]
        if (kind == "create") != (variant == "remembercreated"):
            raise ValueError(f"{variant}: not a call of the {kind} service")
        real = getattr(state_cache, name)
        if variant == "getparts":
            workspace_id = getattr(self.workspace, "pk", self.workspace)
            return [lambda r=run_id: real(workspace_id, r) for run_id in map(uuid.UUID, runs)]
        thunks = []
        for (_, _, data), run in zip(planned, runs, strict=True):
            seen: list = []
            setattr(state_cache, name, lambda *args, seen=seen, **kw: seen.append((args, kw)))
            try:
                self._service(kind, data, run)()
            finally:
                setattr(state_cache, name, real)
            ((args, kw),) = seen
            thunks.append(lambda a=args, k=kw: real(*a, **k))
        return thunks

    def _replay(self, variant: str, kind: str, planned, run_id, n: int) -> list:
        """n sends of the one statement the kind's service sends (captured from a call of it now), by
        prepared.py's path (`replay`: prepared._run: cursor_for, then _Statements.run and the rows loaded, or the
        cursor's execute and fetch where _Statements is not used) or by psycopg's lower level (`replayraw`, a bench
        prototype). Sent again, a set_state's write finds the run's state changed and writes nothing (its optimistic
        guard), a create's finds the run there; a read reads."""
        import psycopg
        from django.db import connections
        from psycopg import pq
        from psycopg._queries import PostgresQuery
        from psycopg.adapt import Transformer

        from apps.core import prepared
        from apps.core.prepared import cursor_for

        seen = []
        run = prepared._run

        def seen_run(connection, sql, params, fetch, prepare=True):
            seen.append((sql, params, fetch, prepare))
            return run(connection, sql, params, fetch, prepare)

        prepared._run = seen_run
        try:
            self._service(kind, planned[2], run_id)()
        finally:
            prepared._run = run
        ((query, params, fetch, prepare),) = seen
        connection = connections["default"]
        if variant == "replay":
            def replay():
                return run(connection, query, params, fetch, prepare)

            return [replay] * n
        cursor = cursor_for(connection).cursor
        tx = Transformer(cursor.adapters)
        converted = PostgresQuery(tx)
        converted.convert(query, params)
        pgconn = connection.connection.pgconn
        name = f"praetor_layers_{kind}".encode()
        if name not in self.__dict__.setdefault("_named", set()):
            result = pgconn.prepare(name, converted.query, param_types=converted.types)
            assert result.status == pq.ExecStatus.COMMAND_OK, result.error_message
            self._named.add(name)
        formats = converted._want_formats

        def replay_raw():
            dumped = tx.dump_sequence(params, formats)
            result = pgconn.exec_prepared(name, dumped, tx.formats)
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise psycopg.DatabaseError(result.error_message)
            tx.set_pgresult(result)
            return tx.load_rows(0, result.ntuples, tuple)

        return [replay_raw] * n

    def _service(self, kind: str, data, run):
        """The kind's service (or selector) call with its inputs made now."""
        from apps.engine.schemas import states as state_schemas
        from apps.engine.selectors import task_runs as selectors
        from apps.engine.services import task_runs as services

        if kind == "create":
            fields = self._create_set(data)
            return lambda: services.task_run_create(workspace=self.workspace, actor=self.user, **fields)
        run_id = uuid.UUID(run)
        if kind == "read":
            return lambda: selectors.task_run_get(workspace=self.workspace, task_run_id=run_id)
        body = state_schemas.set_state_body(data)
        return lambda: services.task_run_set_state(workspace=self.workspace, task_run_id=run_id, state=body["state"],
                                                   force=body.get("force", False), actor=self.user)

    def _statement(self, variant: str, run: uuid.UUID):
        from django.db import connections
        from psycopg import pq
        from psycopg._queries import PostgresQuery
        from psycopg.adapt import Transformer

        from apps.core.prepared import cursor_for
        from apps.engine.selectors.task_runs import _TASK_RUN_GET

        values = (self.workspace.pk, run)
        if variant == "statement":
            return lambda: _TASK_RUN_GET._execute(values, "fetchone")
        raw = getattr(self, "_raw", None)
        if raw is None:  # once: the statement _TASK_RUN_GET sends, prepared under a name of this bench's
            connection = connections["default"]
            key = (connection.alias, connection.vendor)
            _TASK_RUN_GET._execute(values, "fetchone")
            compiled = _TASK_RUN_GET._compiled[key]
            params = list(compiled.params)
            for position, index, convert in compiled.slots:
                params[position] = convert(values[index])
            cursor = cursor_for(connection).cursor
            tx = Transformer(cursor.adapters)
            query = PostgresQuery(tx)
            query.convert(compiled.sql, params)
            pgconn = connection.connection.pgconn
            name = b"praetor_layers_bench"
            result = pgconn.prepare(name, query.query, param_types=query.types)
            assert result.status == pq.ExecStatus.COMMAND_OK, result.error_message
            raw = self._raw = (pgconn, name, tx, query._want_formats, compiled)

        pgconn, name, tx, formats, compiled = raw

        def execute(values=values):
            params = list(compiled.params)
            for position, index, convert in compiled.slots:
                value = values[index]
                params[position] = value if type(value) is uuid.UUID else convert(value)
            dumped = tx.dump_sequence(params, formats)
            result = pgconn.exec_prepared(name, dumped, tx.formats)
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise RuntimeError(result.error_message)
            tx.set_pgresult(result)
            return tx.load_row(0, tuple) if result.ntuples else None

        return execute

    def run(self) -> None:
        # the garbage collector off for the batch (a collection falls in one batch of many; its cost is its own
        # question, docs/performance.md "the garbage collector"); collected in `finish`, outside the count
        gc.disable()
        self.results.extend(thunk() for thunk in self.thunks)

    def finish(self, variant: str) -> None:
        from django.http import HttpResponseBase

        from apps.core.api.lean import lean_render

        for result in self.results:  # every answer a success (a set_state's an ACCEPT)
            if variant == "whole":
                assert int(result[0][:3]) < 300 and b'"REJECT"' not in result[2], result
            if isinstance(result, HttpResponseBase):
                assert result.status_code < 300, (result.status_code, getattr(result, "data", None))
                if isinstance(getattr(result, "data", None), dict) and "status" in result.data:
                    assert result.data["status"] == "ACCEPT", result.data
                if not getattr(result, "_is_rendered", True):
                    lean_render(result)
                result.close()
        self.results, self.thunks = [], []
        gc.enable()
        gc.collect()

    def statements(self) -> dict:
        """{kind: [what one request sends the database: its statements' first 90 characters, COMMIT]} (counted
        natively, before the counts): psycopg's Cursor.execute and Connection.commit, prepared._Statements.run patched
        for the while."""
        import psycopg

        from apps.core.prepared import _Statements

        seen: list = []
        execute, commit, run = psycopg.Cursor.execute, psycopg.Connection.commit, _Statements.run

        def seen_execute(cursor, query, params=None, **kw):
            seen.append(str(query)[:90])
            return execute(cursor, query, params, **kw)

        def seen_run(statements, sql, params, prepare=True):  # prepared.py's executor, below psycopg's cursor
            seen.append(sql[:90])
            return run(statements, sql, params, prepare)

        def seen_commit(connection):
            seen.append("COMMIT")
            return commit(connection)

        out = {}
        psycopg.Cursor.execute, psycopg.Connection.commit, _Statements.run = seen_execute, seen_commit, seen_run
        try:
            for kind in KINDS:
                self.make("whole", kind, 1)
                seen.clear()
                self.run()
                self.finish("whole")
                out[kind] = list(seen)
        finally:
            psycopg.Cursor.execute, psycopg.Connection.commit, _Statements.run = execute, commit, run
        return out


def inner() -> None:
    import django

    django.setup()
    pieces = Pieces()
    for kind in KINDS:  # warm-up
        for variant in ("whole", "middleware", "dispatch", "service"):
            pieces.make(variant, kind, 10)
            pieces.run()
            pieces.finish(variant)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *words = line.split()
        if command == "make":
            pieces.make(words[0], words[1], int(words[2]))
        elif command == "run":
            pieces.run()
        elif command == "finish":
            pieces.finish(words[0])
        elif command == "statements":
            print(json.dumps(pieces.statements()), flush=True)
        print("ok", flush=True)


# ---- counting ----

def _inclusive(dump: Path, top: int) -> list[tuple[int, str]]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", str(dump)],
                         check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$", line)
        if m and ":" in m.group(2) and not m.group(2).startswith(("PROGRAM", "Ir")):
            name = re.sub(r"^/tmp/python-build[^ ]*?/Python-[\d.]+/", "", m.group(2))
            # the interpreter's own functions (its eval loop recursing through every Python call) and callgrind's
            # unnamed entries say nothing by themselves: the C functions of the other objects (libpq, psycopg's,
            # json's, libc) are listed
            if "libpython" in name or name.startswith(("???", "./Include", "Objects/", "Python/", "Modules/")):
                continue
            rows.append((int(m.group(1).replace(",", "")), name))
    return rows[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", default="count", choices=["count", "inner"])
    parser.add_argument("-n", type=int, default=20, help="calls a batch")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3, help="batches a variant; the median is kept")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    args = parser.parse_args()
    if args.part == "inner":
        inner()
        return
    from servers import free_port, production_env

    work = Path(tempfile.mkdtemp(prefix="praetor-layers-"))
    out = work / "cg"
    env = {**production_env(_database(), free_port(), 1), "PRAETOR_AUTH_CACHE_SECONDS": "3600",
           "DB_CONN_MAX_AGE": "600"}
    proc = subprocess.Popen([*_VALGRIND, f"--callgrind-out-file={out}.%p", sys.executable, __file__, "inner"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=(work / "inner.log").open("w"),
                            text=True, env=env, cwd=ROOT)
    started = time.time()

    def command(*words):
        proc.stdin.write(" ".join(map(str, words)) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline().strip()
        while line != "ok":
            if not line:
                raise RuntimeError(f"the child ended: see {work / 'inner.log'}")
            print("  ", line[:2000], flush=True)
            line = proc.stdout.readline().strip()

    def measure(variant, kind, n):
        command("make", variant, kind, n)
        before = set(work.glob(f"cg.{proc.pid}.*"))
        _control(proc.pid, "-z")
        command("run")
        _control(proc.pid, "-d")
        for _ in range(600):
            new = set(work.glob(f"cg.{proc.pid}.*")) - before
            if new:
                break
            time.sleep(0.1)
        command("finish", variant)
        (dump,) = new
        return dump

    results: dict = {}
    try:
        assert proc.stdout.readline().strip() == "ready", f"see {work / 'inner.log'}"
        print(f"child ready in {time.time() - started:.0f} s; dumps in {work}", flush=True)
        command("statements")
        _control(proc.pid, "-i", "on")
        for kind in KINDS:  # warm-up with instrumentation on
            command("make", "whole", kind, 5)
            command("run")
            command("finish", "whole")
        empty = sorted(_summary(measure("none", "create", 0)) for _ in range(args.repeat))[args.repeat // 2]
        whole_dumps = {}
        for kind in KINDS:
            for variant in args.variants:
                if variant in ("statement", "raw") and kind != "read":
                    continue
                if variant in ("remembercreated", "getparts", "remember") and (
                        (kind == "create") != (variant == "remembercreated") or kind == "read"):
                    continue
                counted = sorted((_summary(dump), dump) for dump in (measure(variant, kind, args.n)
                                                                      for _ in range(args.repeat)))
                total, dump = counted[args.repeat // 2]
                results.setdefault(kind, {})[variant] = (total - empty) / args.n
                spread = [(c - empty) / args.n for c, _ in counted]
                if variant == "whole":
                    whole_dumps[kind] = dump
                print(f"  {kind:10} {variant:11} {results[kind][variant]:12,.0f}   (batches {spread[0]:,.0f} to "
                      f"{spread[-1]:,.0f})", flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=300)
    print(f"\ninstructions per call (callgrind, user space; {args.n} calls a batch, an empty batch subtracted)")
    print(f"  {'variant':12}" + "".join(f"{k:>12}" for k in KINDS))
    for variant in args.variants:
        print(f"  {variant:12}" + "".join(f"{results[k].get(variant, float('nan')):12,.0f}" for k in KINDS))
    for kind, dump in whole_dumps.items():
        funcs = _functions(dump)
        objects: dict = {}
        for f, v in funcs.items():
            obj = f.rsplit(" [", 1)[-1].rstrip("]") if " [" in f else "libpython (inlined)"
            objects[Path(obj).name] = objects.get(Path(obj).name, 0) + v / args.n
        print(f"\n{kind} whole: own instructions per request by object")
        for obj, v in sorted(objects.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {v:12,.0f}  {obj}")
        print(f"{kind} whole: inclusive instructions per request (top {args.top})")
        for v, name in _inclusive(dump, args.top):
            print(f"  {v / args.n:12,.0f}  {name[:140]}")
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults in {work / 'results.json'}")


if __name__ == "__main__":
    main()
