"""Querysets of a fixed shape compiled once per process: each call binds its values into the saved SQL and
builds the same model instances (select_related included) the queryset would have built.

Why: on the hot orchestration path, Django spends more CPU compiling a four-table select_related lock query
(about 1 ms) than PostgreSQL spends running it. Use it only for a handful of hot, fixed-shape reads; the
queryset itself stays the documentation of what is read, tenancy filter included.

    _TASK_RUN_FOR_UPDATE = PreparedQuery(lambda ws, pk: TaskRun.objects.for_workspace(ws)
                                         .select_for_update(of=("self",)).select_related("state").filter(pk=pk))
    run = _TASK_RUN_FOR_UPDATE.one(workspace.pk, task_run_id)

Values are found in the compiled parameters by sentinels: UUIDs unless `types=` names another type per
argument (str, int or datetime: a unique value of that type stands in). `all()` reads several rows.
`server_prepared=False`: the SQL is still compiled once, but the statement is not prepared on the server, so
PostgreSQL plans each execution with its values (as for the ORM's statements): for a read whose only good index
is one leading with workspace_id (a flow by name), which a generic plan without statistics may pass over for the
workspace_id index alone (docs/performance.md, "generic plans of the by-id statements").
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import itertools
import json
import operator
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from asgiref.local import Local
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import DateTimeField, Field, JSONField, QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.query import get_related_populators
from django.utils.asyncio import async_unsafe
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result
from psycopg.types import numeric
from psycopg.types import uuid as psycopg_uuid

from apps.core import rows


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: list
    slots: list  # (position in params, index of the value, conversion)
    compiler: object
    converters: dict
    conversions: tuple  # (position, value -> value) per converted column: _conversions(converters)
    model: type
    init_list: list
    model_columns: slice
    populators: list
    build: Callable | None  # rows.instance_builder of the model, or None: from_db
    related: list  # per populator: (populator, its builder or None, its own related)
    models: tuple  # every model built, for the init signals check


def _as_uuid(value) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


# A value of each parameter type that no real query carries, and the forms it may take in compiled params.
_SENTINELS = {
    str: lambda: f"prepared-sentinel-{uuid.uuid4().hex}",
    int: lambda: (1 << 30) | secrets.randbits(30),  # within int4: Django settles out-of-range comparisons itself
    datetime.datetime: lambda: (datetime.datetime(2401, 1, 1, tzinfo=datetime.UTC)
                                + datetime.timedelta(microseconds=secrets.randbits(40))),
}


_SCAN = json.JSONDecoder().scan_once  # json.loads's own scanner (C), with the default decoder's settings


def _json_conversion(from_db_value, expression, connection):
    """Django's `JSONField.from_db_value` (no decoder of its own) for a column: `json.loads` of the text, or the
    text itself if it is not JSON. A str that is one JSON value and nothing more (PostgreSQL's jsonb text) is
    read by the scanner `json.loads` ends in; anything else (surrounding whitespace, a BOM, not JSON, not a
    str) goes through `from_db_value` itself."""

    def convert(value):
        if type(value) is str:
            try:
                found, end = _SCAN(value, 0)
            except Exception:  # from_db_value decides: the text, or its error
                return from_db_value(value, expression, connection)
            if end == len(value):
                return found
        return from_db_value(value, expression, connection)

    return convert


def _chain_conversion(converters, expression, connection):
    """A column's converters applied as the compiler's apply_converters applies them."""

    def convert(value):
        for converter in converters:
            value = converter(value, expression, connection)
        return value

    return convert


def _conversions(compiler, converters: dict) -> tuple:
    """The compiler's converters as one function per column, Django's JSONField without a decoder read by
    `_json_conversion`; the same values as `compiler.apply_converters`."""
    connection, conversions = compiler.connection, []
    for position, (convs, expression) in converters.items():
        only = convs[0] if len(convs) == 1 else None
        field = getattr(only, "__self__", None)
        if (getattr(only, "__func__", None) is JSONField.from_db_value and type(field).from_db_value is
                JSONField.from_db_value and field.decoder is None and not isinstance(expression, KeyTransform)):
            conversions.append((position, _json_conversion(only, expression, connection)))
        else:
            conversions.append((position, _chain_conversion(convs, expression, connection)))
    return tuple(conversions)


class PreparedQuery:
    def __init__(self, build: Callable[..., QuerySet], *, types: tuple[type, ...] | None = None,
                 server_prepared: bool = True):
        self._build = build
        self._types = types  # one per argument; None: every argument is a UUID
        self._server_prepared = server_prepared
        self._compiled: dict = {}  # by database alias and vendor
        self._lock = threading.Lock()

    def _compile(self, alias: str, arity: int) -> _Compiled:
        types = self._types or (uuid.UUID,) * arity
        sentinels = [uuid.uuid4() if t is uuid.UUID else _SENTINELS[t]() for t in types]
        compiler = self._build(*sentinels).query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        slots = []
        for position, param in enumerate(params):
            for index, sentinel in enumerate(sentinels):
                if types[index] is not uuid.UUID:
                    if isinstance(param, type(sentinel)) and param == sentinel:
                        # as compiled: the value itself, or in the backend's wrapper (psycopg's Int4 for an int)
                        wrap = type(param)
                        slots.append((position, index, (lambda v: v) if wrap is type(sentinel) else wrap))
                elif param == sentinel:
                    slots.append((position, index, _as_uuid))
                elif param == str(sentinel):
                    slots.append((position, index, lambda v: str(_as_uuid(v))))
                elif param == sentinel.hex:
                    slots.append((position, index, lambda v: _as_uuid(v).hex))
        if {index for _, index, _ in slots} != set(range(arity)):
            raise ValueError("PreparedQuery: a value did not reach the SQL as a parameter.")
        klass_info, select = compiler.klass_info, compiler.select
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        model, init_list = klass_info["model"], [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, alias)
        models = [model]

        def related(populator):
            models.append(populator.model_cls)
            return (populator, rows.instance_builder(populator.model_cls, populator.init_list),
                    [related(child) for child in populator.related_populators])

        return _Compiled(
            sql=sql, params=list(params), slots=slots, compiler=compiler,
            converters=(converters := compiler.get_converters([column[0] for column in select[0:compiler.col_count]])),
            conversions=_conversions(compiler, converters),
            model=model, init_list=init_list, model_columns=slice(start, end), populators=populators,
            build=rows.instance_builder(model, init_list), related=[related(p) for p in populators],
            models=tuple(models),
        )

    def _execute(self, values: tuple, fetch: str):
        """Compile (once per connection alias and vendor), bind `values` and run; (alias, compiled, result of
        the cursor's `fetch` method)."""
        connection = default_connection()
        key = (connection.alias, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            with self._lock:
                compiled = self._compiled.get(key) or self._compile(connection.alias, len(values))
                self._compiled[key] = compiled
        params = list(compiled.params)
        for position, index, convert in compiled.slots:
            value = values[index]
            # `_as_uuid` of a UUID is the UUID itself: inline for the usual argument (an id)
            params[position] = value if convert is _as_uuid and type(value) is uuid.UUID else convert(value)
        # server_prepared=False: bound on the server, planned with its values
        return connection.alias, compiled, _run(connection, compiled.sql, params, fetch, self._server_prepared)

    @staticmethod
    def _instance(alias: str, compiled: _Compiled, row, quiet: bool):
        """The row's instance with its select_related objects, as the queryset builds it: without
        Model.__init__ where `rows.instance_builder` can (`quiet`: no init signal receivers), else by from_db."""
        if not quiet:
            obj = compiled.model.from_db(alias, compiled.init_list, row[compiled.model_columns])
            for populator in compiled.populators:
                populator.populate(row, obj)
            return obj
        build = compiled.build
        values = row[compiled.model_columns]
        obj = compiled.model.from_db(alias, compiled.init_list, values) if build is None else build(alias, values)
        for related in compiled.related:
            _populate(related, row, obj)
        return obj

    def one(self, *values: uuid.UUID):
        """The row as a model instance with its select_related objects, or None. The queryset must match at
        most one row (filter by primary key): no ORDER BY or LIMIT is added."""
        alias, compiled, row = self._execute(values, "fetchone")
        if row is None:
            return None
        if compiled.conversions:
            row = list(row)
            for position, convert in compiled.conversions:
                row[position] = convert(row[position])
        return self._instance(alias, compiled, row, rows.init_signals_quiet(compiled.models))

    def all(self, *values) -> list:
        """Every row, in the queryset's order, as model instances with their select_related objects (the
        queryset's annotations are not set on them)."""
        alias, compiled, fetched = self._execute(values, "fetchall")
        if fetched and compiled.conversions:
            conversions, converted = compiled.conversions, []
            for row in fetched:
                row = list(row)
                for position, convert in conversions:
                    row[position] = convert(row[position])
                converted.append(row)
            fetched = converted
        quiet = rows.init_signals_quiet(compiled.models)
        return [self._instance(alias, compiled, row, quiet) for row in fetched]


def _populate(related: tuple, row, from_obj) -> None:
    """Django's RelatedPopulator.populate, building the related instance as PreparedQuery._instance does."""
    populator, build, children = related
    if populator.reorder_for_init:
        data = populator.reorder_for_init(row)
    else:
        data = row[populator.cols_start:populator.cols_end]
    if data[populator.pk_idx] is None:
        obj = None
    else:
        if build is None:
            obj = populator.model_cls.from_db(populator.db, populator.init_list, data)
        else:
            obj = build(populator.db, data)
        for child in children:
            _populate(child, row, obj)
    populator.local_setter(from_obj, obj)
    if obj is not None:
        populator.remote_setter(obj, from_obj)


class _PreparingCursor(psycopg.Cursor):
    """psycopg's server-binding cursor (parameters sent apart from the SQL), preparing as psycopg does by default
    (by the connection's prepare_threshold: None, nothing; this module's fixed statements are prepared by
    _Statements under names of its own). The path of this module's statements where _Statements is not used (see
    `_run`), and of COPY and `insert_many`."""

    _transformers: dict | None = None

    def execute(self, query, params=None, *, prepare: bool | None = None, binary: bool | None = None):
        # psycopg keeps a cursor's Transformer (its dumpers by parameter type, loaders by column type) while the
        # same query object is executed again, and makes a new one for another: this cursor runs each of this
        # module's statements (one str object each, built once) in turn, so it keeps one per statement.
        transformers = self._transformers
        if transformers is None:
            transformers = self._transformers = {}
        if query is not self._last_query and type(query) is str:
            kept = transformers.get(query)
            if kept is not None and kept[0] is query:
                self._tx, self._last_query = kept[1], query
        super().execute(query, params, prepare=prepare, binary=binary)
        if self._last_query is query and type(query) is str:
            if len(transformers) >= 256:  # the fixed statements are a few dozen; anything else is not kept
                transformers.clear()
            transformers[query] = (query, self._tx)
        return self


class _UUIDBinaryDumper(psycopg_uuid.UUIDBinaryDumper):
    """psycopg's binary UUID dumper (`obj.bytes`), its `dump` the attribute getter itself rather than a method
    that calls it: one Python call a UUID fewer (the statements of this module send several per row, a log
    batch's COPY three or four a row)."""

    dump = operator.attrgetter("bytes")


class _PlainIntDumper(numeric.IntBinaryDumper):
    """psycopg's dumper of a plain int (int2, int4, int8 or numeric by its value, binary), under Transformer cache
    keys of its own. psycopg's keys a plain int by its sized dumper's class (Int2, Int4, Int8), the very key of
    Django's wrapped values: after a plain 5, a Transformer would send an Int2(40000) by the int2 dumper the 5 took
    (binary: truncated to -25536) instead of the digits the wrapper's registered dumper sends (refused by the
    server). _Statements keeps one Transformer for all its statements; psycopg's cursor one per statement."""

    def get_key(self, obj, format):
        return (int, super().get_key(obj, format))


class _RawCursor:
    """One psycopg cursor per database connection, used as Django's `connection.cursor()` is (`with … as
    cursor`), with database errors turned into Django's as its CursorWrapper does, but without building a
    wrapper per statement (about a third of a statement's client CPU). It reads timestamps through psycopg's
    C loader (rows.use_c_timestamptz_loader: the same datetimes as Django's loader).

    With settings.PRAETOR_DB_PREPARE (the default) the cursor binds parameters on the server (_PreparingCursor)
    and this module's statements are prepared and sent by `statements` (_Statements, through `_run`); without,
    it is the connection's own cursor (Django's client-side binding, nothing prepared), for a pooler that cannot
    keep prepared statements (pgbouncer in transaction mode before 1.21, or without max_prepared_statements)."""

    def __init__(self, connection):
        self.connection, self.raw = connection, connection.connection
        if settings.PRAETOR_DB_PREPARE:
            self.cursor = _PreparingCursor(self.raw)
            # Bound on the server, psycopg's C dumpers of Django's Int2/Int4 wrappers (IntegerField values)
            # send an out-of-range value truncated (40000 as smallint -25536) and Int8's raise OverflowError;
            # its Python dumpers send the value's digits, which PostgreSQL refuses (DataError), as it does
            # the literal of client-side binding.
            for wrapper, dumper in ((numeric.Int2, numeric.Int2Dumper), (numeric.Int4, numeric.Int4Dumper),
                                    (numeric.Int8, numeric.Int8Dumper)):
                self.cursor.adapters.register_dumper(wrapper, dumper)
            self.cursor.adapters.register_dumper(int, _PlainIntDumper)
            self.cursor.adapters.register_dumper(uuid.UUID, _UUIDBinaryDumper)
        else:
            self.cursor = self.raw.cursor()
        rows.use_c_timestamptz_loader(self.cursor.adapters)
        # This module's statements by psycopg's lower level, prepared under names of ours (`_run`), one executor
        # per physical connection, kept on it as psycopg keeps its cache of prepared statements (this cursor may be
        # made again for the same connection, whose statements are still there). Only where psycopg prepares
        # nothing itself (prepare_threshold None, as Django's backend sets it unless OPTIONS says otherwise): its
        # cache then stays empty, and it never sends the DEALLOCATE ALL it sends on a rollback when it holds
        # statements, which would drop ours too. The SQL is sent as UTF-8 (Django's backend sets client_encoding).
        self.statements = None
        if settings.PRAETOR_DB_PREPARE and self.raw.prepare_threshold is None and self.raw.info.encoding == "utf-8":
            self.statements = getattr(self.raw, "_praetor_statements", None)
            if self.statements is None:
                self.statements = self.raw._praetor_statements = _Statements(self.raw, self.cursor)

    def __enter__(self):
        self.connection.validate_no_broken_transaction()
        self.errors = self.connection.wrap_database_errors
        self.errors.__enter__()
        return self.cursor

    def __exit__(self, *exc):
        return self.errors.__exit__(*exc)


# --- this thread's connection and its cursor, without Django's per-call steps ----------------------------------
# `connections["default"]` reads asgiref's thread-critical Local (`connections._connections`): in a synchronous
# thread its `__getattr__` asks asyncio for a running loop (a RuntimeError made and caught) after Python's own
# lookup on the Local has failed (an AttributeError), then reads the thread's threading.local: ~10 k instructions.
# cursor_for's checks were ~10 k more: `connection.queries_logged` reads settings.DEBUG through LazySettings'
# `__getattribute__` (~3.2 k) and `connection.ensure_connection()` is wrapped by Django's async_unsafe (a
# RuntimeError again, ~4.8 k). docs/performance.md, "Sixteenth step: the connection lookup and cursor_for".


def _thread_storage_of(local):
    """The threading.local in which `local` (asgiref's thread-critical Local) keeps a synchronous thread's values,
    if asgiref keeps them there as `default_connection` relies on: checked on a Local of its own (a value written
    through the Local is the threading.local's, read back through both; the Local holds nothing else of its own);
    else None."""
    probe = Local(thread_critical=True)
    storage = vars(probe).get("_storage")
    if type(local) is not type(probe) or not isinstance(storage, threading.local) or asyncio._get_running_loop():
        return None
    marker = object()
    probe.alias = marker
    if getattr(storage, "alias", None) is not marker or probe.alias is not marker or set(vars(probe)) != {"_storage"}:
        return None
    mine = vars(local).get("_storage")
    return mine if isinstance(mine, threading.local) and set(vars(local)) == {"_storage"} else None


_connections_local = connections._connections
_connections_storage = _thread_storage_of(_connections_local)
if _connections_storage is None:
    _connections_local = None  # never the handler's: default_connection is always `connections["default"]`
_get_running_loop = asyncio._get_running_loop


def default_connection():
    """`connections["default"]`: this thread's default database connection, the same object, read where asgiref's
    thread-critical Local keeps it in a synchronous thread (no running event loop: the thread's threading.local)
    without going through the Local (~1.9 k instructions instead of ~10 k). With a running loop (asgiref keeps it
    per context then), before the thread's first lookup (Django makes the connection), when the handler's Local
    is not the one checked at import, or when asgiref did not keep its values as checked: `connections["default"]`
    itself."""
    if _get_running_loop() is None and connections._connections is _connections_local:
        found = getattr(_connections_storage, "default", None)
        if found is not None:
            return found
    return connections["default"]


_QUERIES_LOGGED = BaseDatabaseWrapper.queries_logged  # Django's property: force_debug_cursor or settings.DEBUG
# LazySettings' own store of the settings read: Django's `settings.X` keeps each value there at its first read
# (LazySettings.__getattr__) and empties it when a setting is assigned, deleted or overridden (its __setattr__ and
# __delattr__: override_settings replaces `_wrapped`); a value found there is what `settings.X` gives.
_settings_read = vars(settings)
_ASYNC_UNSAFE_CODE = async_unsafe(lambda: None).__code__  # the code of Django's async_unsafe wrapper


def _djangos_ensure_connection(function) -> bool:
    """Whether `function` is Django's BaseDatabaseWrapper.ensure_connection: async_unsafe's wrapper (a running
    event loop refused) around the method that connects only when `connection.connection` is None."""
    wrapped = getattr(function, "__wrapped__", None)
    return (getattr(function, "__code__", None) is _ASYNC_UNSAFE_CODE
            and getattr(wrapped, "__module__", None) == BaseDatabaseWrapper.__module__
            and getattr(wrapped, "__qualname__", None) == "BaseDatabaseWrapper.ensure_connection")


def _idle_when_connected(function) -> bool:
    """Whether `function` (what `connection.ensure_connection()` calls) does nothing but refuse a running event
    loop on a connection already open: Django's own, or Django's test-case patch of it (SimpleTestCase's
    ensure_connection_patch_method, under pytest-django's django_db too), which calls the function it replaced when
    the connection is open. Anything else (pytest-django's blocker, a mock) is called as Django calls it."""
    if _djangos_ensure_connection(function):
        return True
    code = getattr(function, "__code__", None)
    if (getattr(function, "__module__", None) != "django.test.testcases" or code is None
            or getattr(function, "__qualname__", None) != ("SimpleTestCase.ensure_connection_patch_method."
                                                           "<locals>.patched_ensure_connection")):
        return False
    cells = dict(zip(code.co_freevars, (cell.cell_contents for cell in function.__closure__ or ()), strict=True))
    return _djangos_ensure_connection(cells.get("real_ensure_connection"))


_ensure_seen = (None, False)  # the last ensure_connection function _ensure_connection met, and whether idle


def _ensure_connection(connection) -> None:
    """`connection.ensure_connection()`, left out while it would do nothing: the connection open, no running event
    loop, the method Django's own or Django's test-case patch of it (`_idle_when_connected`). Otherwise called (it
    connects, or refuses a running loop as Django does)."""
    global _ensure_seen
    ensure = connection.ensure_connection
    function = getattr(ensure, "__func__", None)
    seen = _ensure_seen
    if seen[0] is not function:
        seen = _ensure_seen = (function, _idle_when_connected(function))
    if not seen[1] or connection.connection is None or _get_running_loop() is not None:
        ensure()


def cursor_for(connection):
    """A cursor for the statements of this module: the connection's own raw psycopg cursor on PostgreSQL
    (_RawCursor, its `statements` preparing them), Django's cursor when queries are being logged or wrapped
    (DEBUG, django_assert_num_queries, `execute_wrapper`), so every statement is still seen there (as Django runs
    it: bound on the client, not prepared).

    Django's checks, without their per-call overhead: `queries_logged` (Django's property: `force_debug_cursor or
    settings.DEBUG`) with DEBUG taken from LazySettings' own store when it holds it; `ensure_connection()` by
    `_ensure_connection`."""
    if connection.vendor != "postgresql":
        return connection.cursor()
    if getattr(type(connection), "queries_logged", None) is _QUERIES_LOGGED:  # (not a ConnectionProxy)
        if connection.force_debug_cursor:
            return connection.cursor()
        debug = _settings_read.get("DEBUG")
        if debug if type(debug) is bool else settings.DEBUG:
            return connection.cursor()
    elif connection.queries_logged:
        return connection.cursor()
    if connection.execute_wrappers:
        return connection.cursor()
    _ensure_connection(connection)
    raw = getattr(connection, "_praetor_raw_cursor", None)
    if raw is None or raw.raw is not connection.connection:
        raw = connection._praetor_raw_cursor = _RawCursor(connection)
    return raw


# The statuses as plain ints (what psycopg_binary's `status`, `transaction_status` give): an int compared with an
# IntEnum member goes by the member's reflected comparison, an int with an int directly
_OK, _IDLE = int(pq.ConnStatus.OK), int(pq.TransactionStatus.IDLE)
_TUPLES_OK, _COMMAND_OK = int(pq.ExecStatus.TUPLES_OK), int(pq.ExecStatus.COMMAND_OK)
_FATAL_ERROR = int(pq.ExecStatus.FATAL_ERROR)
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: "prepared statement … does not exist"
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)
# Statement names, never one given twice in the process (a connection's _RawCursor may be made again, while
# the statements it prepared are still held by the server)
_names = itertools.count()
_converted: dict = {}  # SQL -> (its text as sent: $1, $2, …; UTF-8; its parameters' formats)


def _convert(sql: str) -> tuple:
    """`sql` (Django's placeholders: %s, and %% for a %) as PostgreSQL takes it ($1, $2, …), as psycopg's own
    conversion sends it (tested), and one PyFormat.AUTO per parameter (psycopg's for %s); cached."""
    found = _converted.get(sql)
    if found is None:
        count = 0

        def placeholder(match):
            nonlocal count
            if match.group(1) == "%":
                return "%"
            if match.group(1) != "s":
                raise psycopg.ProgrammingError(f"only '%s' and '%%' placeholders are sent this way: {sql[:80]!r}")
            count += 1
            return f"${count}"

        text = _PLACEHOLDER.sub(placeholder, sql)
        found = _converted[sql] = (text.encode(), [PyFormat.AUTO] * count)
    return found


class _Statements:
    """This module's fixed statements sent by psycopg's lower level (`pgconn.exec_prepared` of a statement
    prepared under a name of ours, parameters dumped and rows loaded by a psycopg Transformer kept for the
    connection): what psycopg's Cursor.execute would send for `execute(sql, params, prepare=True)`, without its
    Python-level steps per statement (query conversion, its prepared-statement cache, the wait loop: 52 Python
    calls a statement become 19; docs/performance.md "a lower-level statement executor"). libpq's blocking calls
    (PQexecPrepared…), the GIL released while they wait (tested), stand in for psycopg's non-blocking wait loop.

    One per physical connection (_RawCursor's); what psycopg's cache would do, done here: a statement (its SQL and
    its parameters' types, as psycopg keys it) is prepared on its first use on the connection, under a name never
    given before (praetor_N: psycopg's own are _pg3_N); a transaction is begun first as psycopg begins one
    (not in autocommit: inside an atomic block); a server error is raised as psycopg raises it (its class by
    SQLSTATE). PostgreSQL keeps a prepared statement through rollbacks; it forgets them on DEALLOCATE [ALL] or
    DISCARD ALL, which nothing of ours sends but `deallocate_all` (psycopg would send DEALLOCATE ALL on a rollback if
    it held prepared statements of its own: used only where its prepare_threshold is None, so it prepares none;
    see _RawCursor): a statement then answers "prepared
    statement does not exist"; every name is forgotten (prepared again on their next use), and the statement is
    prepared and sent again if it was its own transaction (autocommit), else the error is raised (the transaction
    is already aborted). Up to `most` statements are held per connection (the fixed statements are a few
    dozen; a flow run filter's page statement is one per body shape): another one past that deallocates them all
    first (`deallocate_all`)."""

    most = 100

    def __init__(self, raw, cursor):
        self.raw, self.pgconn, self.cursor = raw, raw.pgconn, cursor
        # The cursor's adapters: its dumpers (integers, UUIDs) and loaders (the C timestamptz loader)
        self.tx = Transformer(cursor)
        self.names: dict = {}  # (SQL, parameter types) -> the statement's name on the server
        # Per prepared statement's name: a Transformer of the same adapters holding the row loaders its first
        # result chose, and that result's column count (`loader`)
        self.loaders: dict = {}
        self.last = None  # the name of the statement `run` sent last; None: not prepared (exec_params)

    def _prepare(self, key: tuple, query: bytes) -> bytes:
        name = b"praetor_%d" % next(_names)
        result = self.pgconn.prepare(name, query, param_types=key[1])
        if result.status != _COMMAND_OK:
            raise self._error(result)
        self.names[key] = name
        return name

    def deallocate_all(self) -> None:
        """DEALLOCATE ALL on the connection (psycopg holds none of its own) and forget every name: each statement
        is prepared again on its next use. When `most` are held, before another is prepared (psycopg deallocates
        its least recently used one past its prepared_max, 100)."""
        result = self.pgconn.exec_(b"DEALLOCATE ALL")
        if result.status != _COMMAND_OK:
            raise self._error(result)
        self.names.clear()
        self.loaders.clear()

    def _error(self, result) -> psycopg.Error:
        if result.status == _FATAL_ERROR:
            return error_from_result(result, encoding=self.raw.info.encoding)
        return psycopg.InternalError(f"unexpected result status from query: {pq.ExecStatus(result.status)}")

    def run(self, sql: str, params, prepare: bool = True):
        """Send `sql` with `params` (prepared unless `prepare` is false: then bound on the server, planned with
        its values); the result (psycopg's PGresult), its rows loaded by `self.tx`. Errors are psycopg's."""
        raw, pgconn, tx = self.raw, self.pgconn, self.tx
        query, formats = _converted.get(sql) or _convert(sql)
        if len(params) != len(formats):
            raise psycopg.ProgrammingError(f"the query has {len(formats)} placeholders but {len(params)} parameters "
                                           "were passed")
        lock = raw.lock  # (acquired and released by its methods: `with` costs ~1.3 k instructions more)
        lock.acquire()
        try:
            if pgconn.status != _OK:
                raise psycopg.OperationalError("the connection is closed")
            if pgconn.transaction_status == _IDLE and not raw.autocommit:
                raw.wait(raw._start_query())  # psycopg's BEGIN (isolation level, read only… of the connection)
            values = tx.dump_sequence(params, formats)
            if not prepare:
                self.last = None
                result = pgconn.exec_params(query, values, tx.types, tx.formats)
            else:
                key = (sql, tx.types)
                name = self.names.get(key)
                if name is None:
                    if len(self.names) >= self.most:
                        self.deallocate_all()
                    name = self._prepare(key, query)
                self.last = name
                result = pgconn.exec_prepared(name, values, tx.formats)
                if result.status == _FATAL_ERROR and result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT:
                    self.names.clear()  # DEALLOCATE ALL or DISCARD ALL: every name is gone
                    self.loaders.clear()
                    if pgconn.transaction_status == _IDLE:  # autocommit: nothing else was undone
                        self.last = name = self._prepare(key, query)
                        result = pgconn.exec_prepared(name, values, tx.formats)
        finally:
            lock.release()
        status = result.status
        if status != _TUPLES_OK and status != _COMMAND_OK:
            raise self._error(result)
        return result

    def loader(self, result):
        """A Transformer set to load the rows of `result`, the answer of the statement `run` sent last. psycopg's
        `set_pgresult` looks up a loader per column (a dict lookup or two by type OID and format, ~0.7 k
        instructions a column: 24 k for a task run read's 36 columns); a prepared statement's columns (their
        types, their text format) are fixed for the statement's life (PostgreSQL refuses to run it once they would
        change: "cached plan must not change result type"), so each prepared statement keeps a Transformer of its
        own whose loaders its first result set, and later results are set on it without choosing them again
        (`set_loaders=False`, the Transformer protocol's own option). A result of another column count (never,
        for a prepared statement) chooses them afresh; a statement not prepared (exec_params) always does."""
        name = self.last
        if name is not None:
            kept = self.loaders.get(name)
            nfields = result.nfields
            if kept is not None and kept[1] == nfields:
                tx = kept[0]
                tx.set_pgresult(result, set_loaders=False)
                return tx
            tx = Transformer(self.cursor)
            tx.set_pgresult(result)
            self.loaders[name] = (tx, nfields)
            return tx
        tx = self.tx
        tx.set_pgresult(result)
        return tx


def _run(connection, sql: str, params, fetch: str | None, prepare: bool = True):
    """Execute one of this module's statements on `connection` (Django's) and answer by `fetch`: "fetchone" (the
    first row or None), "fetchall" (the rows), "rowcount" (the rows affected or read), None (nothing), as the cursor
    of cursor_for would (the rows as tuples). By _Statements where cursor_for gives the raw cursor of a preparing
    connection (behind Django's broken-transaction check and error wrapping, as _RawCursor is); else by the cursor
    cursor_for gives (Django's when queries are logged or wrapped, which then sees and counts the statement)."""
    handle = cursor_for(connection)
    statements = getattr(handle, "statements", None)
    if statements is None or statements.pgconn.pipeline_status:  # (Django opens no pipeline)
        with handle as cursor:
            cursor.execute(sql, params)
            if fetch is None:
                return None
            return cursor.rowcount if fetch == "rowcount" else getattr(cursor, fetch)()
    if connection.needs_rollback:  # Django's validate_no_broken_transaction() raises (it does nothing else)
        connection.validate_no_broken_transaction()
    try:
        result = statements.run(sql, params, prepare)
    except Exception:  # Django's error for psycopg's (`__cause__` psycopg's), as `with wrap_database_errors` around
        with connection.wrap_database_errors:  # the call makes it (the same traceback; ~2 k instructions fewer a
            raise  # statement that raises nothing: no __enter__ and __exit__ calls)
    if fetch == "fetchone" or fetch == "fetchall":
        if result.status != _TUPLES_OK:
            with connection.wrap_database_errors:
                status = (result.command_status or b"").decode()
                raise psycopg.ProgrammingError(  # as psycopg's fetch
                    f"the last operation didn't produce records (command status: {status})")
        if fetch == "fetchone" and not result.ntuples:
            return None
        tx = statements.loader(result)
        loaded = tx.load_row(0, tuple) if fetch == "fetchone" else tx.load_rows(0, result.ntuples, tuple)
        tx.set_pgresult(None, set_loaders=False)  # the result let go (a kept Transformer would hold it), loaders kept
        return loaded
    if fetch == "rowcount":
        if result.status == _TUPLES_OK:
            return result.ntuples
        count = result.command_tuples
        return count if count is not None else -1
    return None


# --- writes of one row, SQL built once per model (and set of columns) ------------------------------------
_write_sql: dict = {}


def _quoted(connection, name: str) -> str:
    return connection.ops.quote_name(name)


def _saved(connection, objs) -> None:
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def _columns(obj) -> list:
    return rows.insert_fields(obj._meta)


def _head(connection, obj) -> str:
    # Names come from the model's meta, quoted by the backend; every value is a parameter.
    return "INSERT INTO {} ({})".format(_quoted(connection, obj._meta.db_table),
                                        ", ".join(_quoted(connection, f.column) for f in _columns(obj)))


def _typed_marks(connection, obj) -> str:
    # INSERT … SELECT gives untyped parameters no column type to take: cast each (without a length, so an
    # over-long value still fails on assignment, as with VALUES).
    return ", ".join("%s::" + re.sub(r"\(.*?\)", "", f.db_type(connection)) for f in _columns(obj))


def _values(connection, obj) -> list:
    """[f.get_db_prep_save(f.pre_save(obj, True), connection) for f in _columns(obj)], by rows.values."""
    return rows.values(connection, obj, rows.plan(connection, obj._meta, None, True), True)


def _update_values(connection, obj, fields) -> list:
    """The SET parameters of `fields` (as `obj.save(update_fields=fields)` prepares them), then the primary key."""
    params = rows.values(connection, obj, rows.plan(connection, obj._meta, tuple(fields), False), False)
    params.append(rows.pk_value(connection, obj))
    return params


def write_together(inserts: list, updated=None, fields: list[str] = ()) -> None:
    """INSERT each of `inserts` (as `insert`) and UPDATE `fields` of `updated` (as `update`, raising if its
    row is gone): on PostgreSQL in one statement of data-modifying CTEs (one round trip, one parse), elsewhere
    one by one. Foreign keys between the rows must be deferrable (Django's are)."""
    connection = default_connection()
    if connection.vendor != "postgresql":
        for obj in inserts:
            insert(obj)
        if updated is not None:
            update(updated, list(fields))
        return
    key = ("together", tuple(o._meta.label for o in inserts), updated and updated._meta.label, tuple(fields))
    sql = _write_sql.get(key)
    if sql is None:
        parts = [f"i{n} AS ({_head(connection, o)} VALUES ({', '.join(['%s'] * len(_columns(o)))}))"
                 for n, o in enumerate(inserts)]
        if updated is not None:
            meta = updated._meta
            parts.append("u AS (UPDATE {} SET {} WHERE {} = %s RETURNING 1)".format(  # noqa: S608
                _quoted(connection, meta.db_table),
                ", ".join(f"{_quoted(connection, meta.get_field(n).column)} = %s" for n in fields),
                _quoted(connection, meta.pk.column)))
        sql = _write_sql[key] = "WITH {} SELECT {}".format(
            ", ".join(parts), "(SELECT count(*) FROM u)" if updated is not None else "1")
    params = [value for obj in inserts for value in _values(connection, obj)]
    if updated is not None:
        params += _update_values(connection, updated, fields)
    counted = _run(connection, sql, params, "fetchone")
    if updated is not None and counted[0] != 1:
        raise DatabaseError("Save with update_fields did not affect any rows.")
    _saved(connection, inserts)


@dataclass(frozen=True)
class _SwapPlan:
    """What `write_together_if` works from for one shape of call, worked out once: the statement and the
    `rows.plan` entries its parameters are made by, in the statement's order."""

    sql: str
    update: list  # the SET fields of the row
    pk: tuple  # the row's primary key
    scope: tuple  # the `scope` fields
    guard: tuple  # the `unchanged` fields
    other: tuple | None  # the `also` row's primary key and field
    inserts: tuple  # per row of `inserts`, its columns



def _swap_plan(connection, inserts: list, row, fields: list[str], unchanged: tuple[str, ...], scope: tuple[str, ...],
               also: tuple | None) -> _SwapPlan:
    """The plan of a `write_together_if` call of this shape (models, fields, guards), cached: the SQL depends
    only on them, and each parameter's preparation only on its field (rows.plan)."""
    key = ("together_if", tuple(map(type, inserts)), type(row), tuple(fields), unchanged, tuple(scope),
           also and (also[0], also[2]), connection.alias, connection.vendor)
    found = _write_sql.get(key)
    if found is not None:
        return found
    meta = row._meta
    guard_fields = [meta.get_field(name) for name in unchanged]
    scoped = [meta.get_field(name) for name in scope]
    other = None
    if also is not None:
        other_model, _, other_name, _ = also
        other = (other_model._meta, other_model._meta.get_field(other_name))
    # Names come from the models' meta, quoted by the backend; every value is a parameter.
    where = " AND ".join([f"{_quoted(connection, meta.pk.column)} = %s",
                          # IS NOT DISTINCT FROM: the same rows as `=` for the NOT NULL workspace, and no
                          # index serves it, so a generic plan finds the row by its primary key, never by
                          # the workspace_id index (as apps/core/models.py `for_workspace_unindexed`)
                          *(f"{_quoted(connection, f.column)} IS NOT DISTINCT FROM %s" for f in scoped),
                          *(f"{_quoted(connection, f.column)} IS NOT DISTINCT FROM %s" for f in guard_fields)])
    if other is not None:
        other_meta, other_field = other
        where += (f" AND EXISTS (SELECT 1 FROM {_quoted(connection, other_meta.db_table)} "  # noqa: S608
                  f"WHERE {_quoted(connection, other_meta.pk.column)} = %s "
                  f"AND {_quoted(connection, other_field.column)} IS NOT DISTINCT FROM %s)")
    if fields:
        guard = "g AS (UPDATE {} SET {} WHERE {} RETURNING 1)".format(  # noqa: S608
            _quoted(connection, meta.db_table),
            ", ".join(f"{_quoted(connection, meta.get_field(n).column)} = %s" for n in fields), where)
    else:
        guard = f"g AS (SELECT 1 FROM {_quoted(connection, meta.db_table)} WHERE {where})"  # noqa: S608
    parts = [guard] + [f"i{n} AS ({_head(connection, o)} SELECT {_typed_marks(connection, o)} "  # noqa: S608
                       "WHERE EXISTS (SELECT 1 FROM g))" for n, o in enumerate(inserts)]

    def entry(model_meta, field):
        return rows.plan(connection, model_meta, (field.name,), False)[0]

    plan = _write_sql[key] = _SwapPlan(
        sql=f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM g)",  # noqa: S608
        update=rows.plan(connection, meta, tuple(fields), False), pk=entry(meta, meta.pk),
        scope=tuple(entry(meta, f) for f in scoped), guard=tuple(entry(meta, f) for f in guard_fields),
        other=other and (entry(other[0], other[0].pk), entry(*other)),
        inserts=tuple(rows.plan(connection, o._meta, None, True) for o in inserts))
    return plan


def write_together_if(inserts: list, row, fields: list[str], *, unchanged: str | tuple[str, ...], value,
                      scope: tuple[str, ...] = (), also: tuple | None = None, connection=None) -> bool:
    """Compare-and-swap: `write_together(inserts, row, fields)` in one statement, but only if the column of
    `row`'s field `unchanged` still holds `value` (IS NOT DISTINCT FROM: NULL matches NULL); returns whether
    it did. `unchanged` may name several fields, `value` then being a tuple of their values in that order: each
    column must still hold its value (a flow run's state id and the other columns its rules read). With
    `fields`, the UPDATE carries the condition and the INSERTs run only if it updated the row; without, only
    the INSERTs run, if a plain read of the row in the statement's snapshot meets it. PostgreSQL only.
    In autocommit the statement is its own transaction: the deferred foreign keys between the rows are checked
    when it ends.

    `scope`: fields of `row` whose columns must still hold its values (its workspace), compared IS NOT DISTINCT
    FROM. `also`: (model, primary key, field, value): another row that must exist with that field's column IS NOT
    DISTINCT FROM `value` (a task run's flow run with the state id it was decided from), read in the statement's
    snapshot.

    Why this settles races (READ COMMITTED): an UPDATE that finds the row locked by a writer waits for it,
    then re-evaluates its WHERE on the committed version (EvalPlanQual): if the writer changed the column,
    nothing is updated and nothing inserted. A plain read sees the last version committed when the statement
    began: the inserts (a decision that changes nothing) are then right as of that instant, and a writer
    still in progress is ordered after it. The `also` row is read as of that instant too: a change of it
    committed later is ordered after this statement, as if it had come second.

    `connection`: `default_connection()` when the caller has it already (this thread's, looked up once a
    request); None: looked up here."""
    if connection is None:
        connection = default_connection()
    if connection.vendor != "postgresql":
        raise NotImplementedError("write_together_if needs PostgreSQL.")
    if type(unchanged) is str:
        unchanged, value = (unchanged,), (value,)
    plan = _swap_plan(connection, inserts, row, fields, unchanged, scope, also)
    # The SET values (if any), then the primary key (as `_update_values`), the scope's, the guards' values.
    params = rows.values(connection, row, plan.update, False)
    params.append(rows.lookup_value(connection, plan.pk, row.pk))
    for entry in plan.scope:
        params.append(rows.lookup_value(connection, entry, getattr(row, entry[0])))
    for entry, expected in zip(plan.guard, value, strict=True):
        params.append(rows.lookup_value(connection, entry, expected))
    if also is not None:
        params.append(rows.lookup_value(connection, plan.other[0], also[1]))
        params.append(rows.lookup_value(connection, plan.other[1], also[3]))
    for obj, entries in zip(inserts, plan.inserts, strict=True):
        params += rows.values(connection, obj, entries, True)
    done = _run(connection, plan.sql, params, "fetchone")[0] == 1
    if done:
        _saved(connection, inserts)
    return done


@dataclass(frozen=True)
class _InsertIfPlan:
    """What `insert_if` works from for one shape of call, worked out once: the statement, the `rows.plan`
    entries of the `exists` columns and of each row's columns (the row's, then its dependents')."""

    sql: str
    where: list
    rows: tuple



def _insert_if_plan(connection, obj, meta, names: tuple, dependents) -> _InsertIfPlan:
    """The plan of an `insert_if` of this shape (models and `exists` columns), cached."""
    key = ("insert_if", type(obj), meta, names, tuple(map(type, dependents)), connection.alias, connection.vendor)
    found = _write_sql.get(key)
    if found is not None:
        return found
    # Names come from the models' meta, quoted by the backend; every value is a parameter.
    # The other columns (the workspace) IS NOT DISTINCT FROM, which no index serves: every plan, a generic
    # one too, finds the row by its primary key (WorkspaceScopedManager.by_pk_for_workspace).
    fields = [meta.get_field(n) for n in names]
    guard = " AND ".join(f"{_quoted(connection, f.column)} {'=' if f.primary_key else 'IS NOT DISTINCT FROM'} %s"
                         for f in fields)
    parts = [f"g AS (SELECT 1 FROM {_quoted(connection, meta.db_table)} WHERE {guard})",  # noqa: S608
             f"r AS ({_head(connection, obj)} SELECT {_typed_marks(connection, obj)} WHERE EXISTS "  # noqa: S608
             "(SELECT 1 FROM g) ON CONFLICT DO NOTHING RETURNING 1)"]
    parts += [f"d{n} AS ({_head(connection, d)} SELECT {_typed_marks(connection, d)} FROM r)"  # noqa: S608
              for n, d in enumerate(dependents)]
    found_inserted = "SELECT (SELECT count(*) FROM g), (SELECT count(*) FROM r)"
    plan = _write_sql[key] = _InsertIfPlan(
        sql=f"WITH {', '.join(parts)} {found_inserted}", where=rows.plan(connection, meta, names, False),
        rows=tuple(rows.plan(connection, row._meta, None, True) for row in (obj, *dependents)))
    return plan


def insert_if(obj, *, exists: tuple[type, dict], dependents: list = ()) -> tuple[bool, bool]:
    """INSERT `obj` only if the row `exists` names (a model and column values: its primary key and e.g. its
    workspace, matched as Django's `exact` matches them) is there, skipping a row that violates a unique
    constraint (ON CONFLICT DO NOTHING), and the rows of `dependents` only if `obj` was inserted. Returns (the
    row exists, `obj` was inserted). On PostgreSQL one statement; elsewhere a check, then `insert`, in one
    transaction."""
    connection = default_connection()
    model, where = exists
    meta = model._meta
    if connection.vendor != "postgresql":
        with transaction.atomic():
            if not model._base_manager.filter(**where).exists():
                return False, False
            inserted = insert(obj, ignore_conflicts=True)
            for row in dependents if inserted else ():
                insert(row)
        return True, inserted
    plan = _insert_if_plan(connection, obj, meta, tuple(where), dependents)
    params = [rows.lookup_value(connection, entry, value) for entry, value in zip(plan.where, where.values(),
                                                                                  strict=True)]
    for row, entries in zip((obj, *dependents), plan.rows, strict=True):
        params += rows.values(connection, row, entries, True)
    found, inserted = _run(connection, plan.sql, params, "fetchone")
    if inserted:
        _saved(connection, [obj, *dependents])
    return bool(found), bool(inserted)


def insert(obj, *, ignore_conflicts: bool = False) -> bool:
    """INSERT `obj` as `obj.save(force_insert=True)` would (auto_now fields stamped, values prepared by each
    field), without compiling the statement again. For models with a client-side primary key; sends no
    signals (we use none). With `ignore_conflicts`, a row that violates a unique constraint is skipped
    (ON CONFLICT DO NOTHING); returns whether the row was inserted."""
    connection = default_connection()
    meta = obj._meta
    fields = _columns(obj)
    key = ("insert", meta.label, ignore_conflicts, connection.vendor)
    sql = _write_sql.get(key)
    if sql is None:
        # Names come from the model's meta, quoted by the backend; every value is a parameter.
        sql = _write_sql[key] = "INSERT INTO {} ({}) VALUES ({}){}".format(  # noqa: S608
            _quoted(connection, meta.db_table), ", ".join(_quoted(connection, f.column) for f in fields),
            ", ".join(["%s"] * len(fields)), " ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    params = _values(connection, obj)
    inserted = _run(connection, sql, params, "rowcount") == 1
    if inserted:
        obj._state.adding = False
        obj._state.db = connection.alias
    return inserted


def insert_many(objs: list, *, batch_size: int = 1000) -> None:
    """INSERT rows of one model as `bulk_create(objs, batch_size=…)` would for a client-side primary key
    (auto_now fields stamped, values prepared by each field), one multi-row statement per batch, without
    compiling a queryset; sends no signals (we use none)."""
    if not objs:
        return
    connection = default_connection()
    meta = objs[0]._meta
    fields = _columns(objs[0])
    key = ("insert_many", meta.label, connection.vendor)
    head = _write_sql.get(key)
    if head is None:
        # Names come from the model's meta, quoted by the backend; every value is a parameter.
        head = _write_sql[key] = ("INSERT INTO {} ({}) VALUES ".format(  # noqa: S608
            _quoted(connection, meta.db_table), ", ".join(_quoted(connection, f.column) for f in fields)),
            "({})".format(", ".join(["%s"] * len(fields))))
    into, row_marks = head
    with cursor_for(connection) as cursor:
        execute = cursor.execute
        if isinstance(cursor, _PreparingCursor):
            # Bound on the server: at most 65,535 parameters a statement; and one statement per number of
            # rows, not worth preparing.
            batch_size = max(1, min(batch_size, 65535 // len(fields)))
            execute = functools.partial(cursor.execute, prepare=False)
        for start in range(0, len(objs), batch_size):
            batch = objs[start:start + batch_size]
            params = [value for obj in batch for value in _values(connection, obj)]
            execute(into + ", ".join([row_marks] * len(batch)), params)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


# --- many rows from plain values: one COPY on PostgreSQL --------------------------------------------------


# The column types insert_rows copies in binary, by OID: those whose binary dumper sends any value psycopg
# accepts exactly (text and varchar: the server checks the length) and the integers, whose dumpers would send
# an out-of-range value truncated (insert_rows checks their ranges). The ones tests/engine/test_logs_copy.py
# compares with the INSERT's rows, and bool; add another with a test of its odd values.
_COPY_TYPES = {"uuid": 2950, "text": 25, "varchar": 1043, "timestamptz": 1184, "bool": 16, "int2": 21,
               "int4": 23, "int8": 20}
_INTEGER_RANGES = {21: (-(2**15), 2**15 - 1), 23: (-(2**31), 2**31 - 1), 20: (-(2**63), 2**63 - 1)}
_present = functools.partial(operator.is_not, None)


@dataclass(frozen=True)
class _CopyPlan:
    sql: str
    types: tuple  # the columns' type OIDs, as the binary format needs them
    ranges: tuple  # (column, lowest, highest) of the integer columns
    stamped: tuple  # per row, in field order: the callables of the fields not given that take a new value each row
    constant: tuple  # the values of the fields not given that hold one value for every row
    entries: list  # rows.plan entries of the columns: stamped, constant, then `same`, then `names`


def _copy_plan(connection, model, names: tuple, same: tuple) -> _CopyPlan:
    key = ("copy", model._meta.label, names, same, connection.alias, settings.USE_TZ)
    plan = _write_sql.get(key)
    if plan is not None:
        return plan
    meta = model._meta
    fields = rows.insert_fields(meta)
    given = [meta.get_field(name) for name in (*same, *names)]
    if len(set(given)) != len(given) or any(f not in fields for f in given):
        raise ValueError(f"insert_rows: {model.__name__} fields {names + same} repeated or not inserted.")
    # timezone.now(), as a DateTimeField's pre_save stamps auto_now/auto_now_add fields, without its Python frame
    now = functools.partial(datetime.datetime.now, datetime.UTC) if settings.USE_TZ else datetime.datetime.now
    stamped, constant = [], []
    for field in fields:
        if field in given:
            continue
        if type(field).pre_save is DateTimeField.pre_save and (field.auto_now or field.auto_now_add):
            stamped.append((field, now))
        elif type(field).pre_save is not Field.pre_save:
            raise ValueError(f"insert_rows: {field} takes its value from its own pre_save.")
        elif field.has_default() and callable(field.default):
            stamped.append((field, field.default))  # a new one per row (a uuid4 id), as Model.__init__ calls it
        else:
            constant.append((field, field.get_default()))
    order = [f for f, _ in stamped] + [f for f, _ in constant] + given
    entries = rows.plan(connection, meta, tuple(f.name for f in order), True)
    if any(calls_pre_save for _, _, calls_pre_save, *_ in entries[len(order) - len(given):]):
        raise ValueError(f"insert_rows: a field of {names + same} is stamped by its pre_save, not given.")
    registry = connection.connection.adapters.types
    types = []
    for field in order:
        info = registry.get(re.sub(r"\(.*?\)", "", field.db_type(connection)))  # varchar(255): its typmod applies
        if info is None or _COPY_TYPES.get(info.name) != info.oid:
            raise ValueError(f"insert_rows: no exact binary COPY for {field}.")
        types.append(info.oid)
    ranges = tuple((i, *_INTEGER_RANGES[oid]) for i, oid in enumerate(types) if oid in _INTEGER_RANGES)
    # Names come from the model's meta, quoted by the backend; every value is sent as COPY data.
    sql = "COPY {} ({}) FROM STDIN (FORMAT BINARY)".format(
        _quoted(connection, meta.db_table), ", ".join(_quoted(connection, f.column) for f in order))
    plan = _write_sql[key] = _CopyPlan(sql=sql, types=tuple(types), ranges=ranges,
                                       stamped=tuple(call for _, call in stamped),
                                       constant=tuple(value for _, value in constant), entries=entries)
    return plan


def _copy(cursor, sql: str, types: tuple, data: list) -> int:
    """Send `data` (rows of parameters) through `cursor` (psycopg's) as COPY `sql`; the rows copied."""
    with cursor.copy(sql) as copy:
        copy.set_types(types)
        write = copy.write_row
        for row in data:
            write(row)
    return cursor.rowcount


def _copy_in_django(types: tuple, sql, data, many, context) -> int:
    """`_copy` as the executor of a Django cursor's `execute`: behind its execute wrappers, errors made Django's."""
    connection = context["connection"]
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        return _copy(context["cursor"].cursor, sql, types, data)


def _insert_instances(model, names: tuple, values: list[tuple], same: dict) -> int:
    """insert_rows as instances and insert_many, in one transaction."""
    objs = [model(**same, **dict(zip(names, row, strict=True))) for row in values]
    with transaction.atomic():
        insert_many(objs, batch_size=1000)
    return len(objs)


def insert_rows(model, names: tuple[str, ...], values: list[tuple], *, same: dict | None = None) -> int:
    """INSERT a row of `model` per tuple of `values` (the values of the fields `names`, in that order; `same`:
    fields that hold one value in every row, e.g. the workspace) and return how many: the rows `insert_many`
    stores for instances made with those values, without building them. Fields not given take their default
    (a callable one called per row: uuid4 ids), auto_now/auto_now_add ones the time of writing, stamped row by
    row as Django stamps them; every value is prepared as its field prepares it (rows.column_values).

    On PostgreSQL one `COPY … FROM STDIN (FORMAT BINARY)` (a quarter to a tenth of a multi-row INSERT's client
    CPU, whose statement psycopg converts afresh each call once past its cache's 4 KB / 50 parameters): one
    statement, all or nothing, in the transaction under way or in its own (autocommit). Value errors are the
    INSERT's: a too-long varchar or a NUL in text raise DataError from the server; an out-of-range integer,
    which the binary dumper would truncate, takes the path of instances, which raises as it did. Columns of
    _COPY_TYPES only (ValueError otherwise). When queries are logged or execute wrappers are installed
    (cursor_for), it runs through Django's cursor, which sees and logs it as one statement.
    Elsewhere (SQLite) instances and `insert_many`, in one transaction."""
    if not values:
        return 0
    same = same or {}
    connection = default_connection()
    if connection.vendor != "postgresql":
        return _insert_instances(model, names, values, same)
    if set(map(len, values)) != {len(names)}:
        raise ValueError(f"insert_rows: every row must hold a value for each of {names}.")
    _ensure_connection(connection)
    plan = _copy_plan(connection, model, tuple(names), tuple(same))
    n = len(values)
    columns = []
    if plan.stamped:
        # Called row by row in field order, as Django does for each instance (created <= updated <= next created).
        width = len(plan.stamped)
        stamps = [stamp() for _ in range(n) for stamp in plan.stamped]
        columns += [stamps[i::width] for i in range(width)]
    columns += [[value] * n for value in (*plan.constant, *same.values())]
    columns += zip(*values, strict=True)
    columns = [rows.column_values(connection, entry, column)
               for entry, column in zip(plan.entries, columns, strict=True)]
    for i, low, high in plan.ranges:
        present = list(filter(_present, columns[i]))
        if present and (min(present) < low or max(present) > high):
            # The binary dumper would truncate it: the INSERT of instances fails as it always did.
            return _insert_instances(model, names, values, same)
    data = list(zip(*columns, strict=True))
    with cursor_for(connection) as cursor:
        if isinstance(cursor, CursorWrapper):
            # Django's cursor (queries logged, execute wrappers): the COPY passes its wrappers and enters its log.
            logged = cursor.debug_sql(plan.sql) if isinstance(cursor, CursorDebugWrapper) else contextlib.nullcontext()
            with logged:
                return cursor._execute_with_wrappers(plan.sql, data, False, functools.partial(_copy_in_django,
                                                                                               plan.types))
        return _copy(cursor, plan.sql, plan.types, data)


def update(obj, fields: list[str]) -> None:
    """UPDATE the named fields of `obj` by primary key, as `obj.save(update_fields=fields)` would (auto_now
    fields among them stamped); raises if no row was updated, as Django does."""
    connection = default_connection()
    meta = obj._meta
    key = ("update", meta.label, tuple(fields), connection.vendor)
    sql = _write_sql.get(key)
    if sql is None:
        targets = [meta.get_field(name) for name in fields]
        # Names come from the model's meta, quoted by the backend; every value is a parameter.
        sql = _write_sql[key] = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
            _quoted(connection, meta.db_table), ", ".join(f"{_quoted(connection, f.column)} = %s" for f in targets),
            _quoted(connection, meta.pk.column))
    params = _update_values(connection, obj, fields)
    if _run(connection, sql, params, "rowcount") != 1:
        raise DatabaseError("Save with update_fields did not affect any rows.")
