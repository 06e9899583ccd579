"""apps/core/prepared.py's statement executor (_Statements, by psycopg's lower level): the same rows, row counts,
errors (Django's), transactions and tenancy as psycopg's cursor; statements prepared once per physical connection
and prepared again when PostgreSQL has forgotten them (DEALLOCATE ALL, DISCARD ALL, a new connection); Django's
query log and execute wrappers still see every statement; and the psycopg internals it relies on are there."""

from __future__ import annotations

import datetime
import inspect
import uuid

import django.db
import psycopg
import pytest
from django.db import (
    DataError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    connection,
    transaction,
)
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from psycopg import pq
from psycopg.types.json import Jsonb

from apps.core import prepared
from apps.engine.models.runs import FlowRun, FlowRunState
from apps.engine.selectors.flow_runs import flow_run_get
from apps.engine.selectors.task_runs import _TASK_RUN_GET, task_run_get
from tests.engine.runs_helpers import create_flow, create_flow_run, create_task_run
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _statements() -> prepared._Statements:
    raw = prepared.cursor_for(connection)
    assert isinstance(raw, prepared._RawCursor) and raw.statements is not None
    return raw.statements


def _server_statements() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql")
        return dict(cursor.fetchall())


def _ours() -> dict:
    """{name: SQL} of the statements the executor holds as prepared on this connection."""
    return {name.decode(): key[0] for key, name in _statements().names.items()}


@pytest.fixture
def run(authed_client, workspace, preparing):
    """A flow run of `workspace` and its id."""
    return uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])


_VALUES = [
    ("SELECT %s::uuid, %s::text, %s::timestamptz, %s::jsonb, %s::int, %s::bool, %s::text IS NULL",
     [uuid.uuid4(), "é 100%", datetime.datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=datetime.UTC), Jsonb({"a": [1, None]}),
      7, True, None]),
    ("SELECT %s::uuid, %s::text, %s::timestamptz, %s::jsonb, %s::int, %s::bool, %s::text IS NULL",
     [None, None, None, None, None, None, "x"]),
    ("SELECT g, '50%%' FROM generate_series(1, %s) g", [3]),
    ("SELECT g FROM generate_series(1, %s) g", [0]),
]


def test_rows_and_row_counts_are_the_cursors(preparing):
    for sql, params in _VALUES:
        for fetch in ("fetchone", "fetchall", "rowcount", None):
            with prepared.cursor_for(connection) as cursor:
                cursor.execute(sql, params)
                expected = None if fetch is None else cursor.rowcount if fetch == "rowcount" else (
                    getattr(cursor, fetch)())
            assert prepared._run(connection, sql, params, fetch) == expected, (sql, fetch)
            assert prepared._run(connection, sql, params, fetch, False) == expected, (sql, fetch)
    rows = prepared._run(connection, _VALUES[0][0], _VALUES[0][1], "fetchall")
    assert type(rows) is list and type(rows[0]) is tuple and rows[0][0] == _VALUES[0][1][0]
    # row counts of writes: an UPDATE of no row, an INSERT that conflicts (ON CONFLICT DO NOTHING), one that does not
    ws = WorkspaceFactory()
    stamp = timezone.now()
    for sql, params in (
        ('UPDATE "engine_flowrun" SET "name" = %s WHERE "id" = %s', ["n", uuid.uuid4()]),
        ('INSERT INTO "engine_log" ("id", "created", "updated", "workspace_id", "name", "level", "message", '
         '"timestamp") VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING',
         [uuid.uuid4(), stamp, stamp, ws.pk, "n", 20, "m", stamp]),
    ):
        with prepared.cursor_for(connection) as cursor:
            cursor.execute(sql, params)
            first = cursor.rowcount
            cursor.execute(sql, params)
            expected = cursor.rowcount
        assert prepared._run(connection, sql, params, "rowcount") == expected
        assert first in (0, 1)


def test_the_sql_is_sent_as_psycopg_converts_it(authed_client, workspace, run):
    from psycopg._queries import PostgresQuery

    create_task_run(authed_client, workspace, str(run))
    flow_run_get(workspace=workspace, flow_run_id=run)
    prepared._convert("SELECT '100%%', %s, '%%s'")
    assert len(prepared._converted) > 2
    for sql, (query, formats) in prepared._converted.items():
        theirs = PostgresQuery(psycopg.adapt.Transformer(connection.connection))
        theirs.convert(sql, [None] * len(formats))
        assert query == theirs.query and formats == theirs._want_formats, sql
    with pytest.raises(psycopg.ProgrammingError):
        prepared._convert("SELECT %(name)s")
    with pytest.raises(ProgrammingError, match="placeholders"):
        prepared._run(connection, "SELECT %s, %s", [1], "fetchone")


def test_errors_are_djangos_as_through_djangos_cursor(run, preparing):
    state = FlowRunState.all_workspaces.get(flow_run_id=run)
    cases = [
        ('INSERT INTO "engine_flowrunstate" SELECT * FROM "engine_flowrunstate" WHERE "id" = %s',
         [state.pk], IntegrityError, psycopg.errors.UniqueViolation),
        ("SELECT 1 / %s", [0], DataError, psycopg.errors.DivisionByZero),
        ("SELECT %s::int2", [40_000], DataError, psycopg.errors.NumericValueOutOfRange),
        ("SELECT nothing FROM engine_flowrun WHERE id = %s", [run], ProgrammingError, psycopg.errors.UndefinedColumn),
    ]
    for sql, params, django_error, psycopg_error in cases:
        for prepare in (True, False):
            with pytest.raises(django_error) as ours, transaction.atomic():
                prepared._run(connection, sql, params, "fetchall", prepare)
            assert type(ours.value.__cause__) is psycopg_error
            with pytest.raises(django_error) as theirs, transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
            assert type(theirs.value.__cause__) is psycopg_error
            assert str(ours.value).splitlines()[0] == str(theirs.value).splitlines()[0]
    # the services' own: a taken id is Django's IntegrityError
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared.insert(state)
    assert prepared._run(connection, "SELECT 1", [], "fetchone") == (1,)


def test_a_broken_transaction_is_refused_as_djangos_cursor_refuses_it(run, preparing):
    with transaction.atomic():
        flow_run_get(workspace=run and FlowRun.all_workspaces.get(pk=run).workspace_id, flow_run_id=run)
        transaction.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            prepared._run(connection, "SELECT 1", [], "fetchone")
        with pytest.raises(TransactionManagementError), connection.cursor() as cursor:
            cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True)
def test_a_transaction_is_begun_as_psycopg_begins_it_and_rolled_back(workspace, run):
    raw = connection.connection
    stamp = timezone.now()
    state = FlowRunState(workspace=workspace, flow_run_id=run, type="RUNNING", name="Running", timestamp=stamp)
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE and raw.autocommit
    raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ  # psycopg's BEGIN says so
    try:
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            assert prepared.insert(state)  # the block's first statement
            assert raw.pgconn.transaction_status == pq.TransactionStatus.INTRANS
            assert prepared._run(connection, "SHOW transaction_isolation", [], "fetchone") == ("repeatable read",)
            1 / 0
    finally:
        raw.isolation_level = None
    assert not FlowRunState.all_workspaces.filter(pk=state.pk).exists()
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    # in autocommit, the statement is its own transaction
    assert prepared.insert(state)
    assert raw.pgconn.transaction_status == pq.TransactionStatus.IDLE
    assert FlowRunState.all_workspaces.filter(pk=state.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_statements_forgotten_by_the_server_are_prepared_again(workspace, run):
    def read():
        got = flow_run_get(workspace=workspace, flow_run_id=run)
        assert got.pk == run
        ours, held = _ours(), _server_statements()
        assert ours and ours.keys() <= held.keys()
        return ours

    first = read()
    # in autocommit (the statement its own transaction): prepared again and sent, unseen by the caller
    for forget in ("DEALLOCATE ALL", "DISCARD ALL"):
        with connection.cursor() as cursor:
            cursor.execute(forget)
        assert not _server_statements()
        again = read()
        assert not again.keys() & first.keys()  # new names
        first = again
    # one statement deallocated: the others are forgotten too and prepared again under new names
    with connection.cursor() as cursor:
        cursor.execute(f"DEALLOCATE {next(iter(first))}")
    again = read()
    assert not again.keys() & first.keys()
    # inside a transaction: the statement fails (the transaction is aborted), the next transaction runs
    first = again
    with pytest.raises(ProgrammingError) as failed, transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        flow_run_get(workspace=workspace, flow_run_id=run)
    assert type(failed.value.__cause__) is psycopg.errors.InvalidSqlStatementName
    assert not _statements().names
    with transaction.atomic():
        assert not read().keys() & first.keys()


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_prepares_anew_and_a_closed_one_raises_as_djangos_cursor(workspace, run, preparing):
    flow_run_get(workspace=workspace, flow_run_id=run)
    old, pid = _statements(), connection.connection.info.backend_pid
    connection.close()
    assert flow_run_get(workspace=workspace, flow_run_id=run).pk == run
    assert _statements() is not old and connection.connection.info.backend_pid != pid
    assert _ours().keys() == _server_statements().keys()
    connection.connection.close()  # closed under Django (a dropped connection)
    with pytest.raises(OperationalError, match="the connection is closed"):
        flow_run_get(workspace=workspace, flow_run_id=run)
    with pytest.raises(OperationalError, match="the connection is closed"), connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()
    assert flow_run_get(workspace=workspace, flow_run_id=run).pk == run


def test_logged_and_wrapped_statements_go_through_djangos_cursor_and_are_counted(
        authed_client, workspace, run, django_assert_num_queries):
    from apps.engine.services import run_states  # noqa: F401 (the services' module graph loaded)

    flow_run_get(workspace=workspace, flow_run_id=run)
    held = _server_statements()
    used = []
    original = prepared._Statements.run

    def counted(self, *args, **kwargs):
        used.append(args[0])
        return original(self, *args, **kwargs)

    prepared._Statements.run = counted
    try:
        state = FlowRunState(workspace=workspace, flow_run_id=run, type="RUNNING", name="Running",
                             timestamp=timezone.now())
        with django_assert_num_queries(3):
            assert flow_run_get(workspace=workspace, flow_run_id=run).pk == run
            assert prepared.insert(state)
            prepared.update(state, ["name"])
        with CaptureQueriesContext(connection) as captured:
            task_run_get(workspace=workspace, task_run_id=uuid.uuid4())
        assert len(captured) == 1 and '"engine_taskrun"' in captured[0]["sql"]
        seen = []

        def wrapper(execute, sql, params, many, context):
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(wrapper):
            assert flow_run_get(workspace=workspace, flow_run_id=run).pk == run
        assert len(seen) == 1 and '"engine_flowrun"' in seen[0]
        assert not used and _server_statements() == held  # nothing sent by the executor, nothing prepared
        assert flow_run_get(workspace=workspace, flow_run_id=run).pk == run
        assert len(used) == 1
    finally:
        prepared._Statements.run = original


def test_another_workspaces_id_reads_nothing_through_the_executor(authed_client, workspace, organization, run):
    task_id = uuid.UUID(create_task_run(authed_client, workspace, str(run))["id"])
    other = WorkspaceFactory(organization=organization)
    assert task_run_get(workspace=other, task_run_id=task_id) is None
    assert flow_run_get(workspace=other, flow_run_id=run) is None
    assert task_run_get(workspace=workspace, task_run_id=task_id).pk == task_id
    sql = next(iter(_TASK_RUN_GET._compiled.values())).sql
    assert any(key[0] == sql for key in _statements().names)  # it went through the executor, prepared


def test_at_its_most_statements_are_deallocated_and_prepared_again(preparing, monkeypatch):
    statements = _statements()
    assert prepared._run(connection, "SELECT %s::int + 1", [1], "fetchone") == (2,)
    monkeypatch.setattr(statements, "most", len(statements.names))
    assert prepared._run(connection, "SELECT %s::int + 2", [1], "fetchone") == (3,)
    assert _ours() == {name: "SELECT %s::int + 2" for name in _server_statements()}  # only the new one is held
    assert prepared._run(connection, "SELECT %s::int + 1", [1], "fetchone") == (2,)  # prepared again
    assert len(statements.names) == len(_server_statements()) == 2


def test_the_psycopg_internals_relied_on_are_there(run, preparing):
    """prepared._Statements relies on these psycopg details (3.2): a change of psycopg fails here first."""
    raw = connection.connection
    statements = _statements()
    # Connection._start_query(): the generator of psycopg's BEGIN where one is due, run by Connection.wait
    assert inspect.isgeneratorfunction(type(raw)._start_query)
    assert hasattr(raw.lock, "__enter__")
    # the libpq wrapper's calls (documented in psycopg.pq) and error_from_result (psycopg.errors)
    for call in ("prepare", "exec_prepared", "exec_params"):
        assert callable(getattr(raw.pgconn, call))
    assert callable(psycopg.errors.error_from_result)
    # Transformer: dump_sequence sets types and formats; set_pgresult, load_row(s)
    tx = statements.tx
    values = tx.dump_sequence([uuid.UUID(int=1), None, "a"], [psycopg.adapt.PyFormat.AUTO] * 3)
    assert values[0] == uuid.UUID(int=1).bytes and values[1] is None
    assert type(tx.types) is tuple and len(tx.types) == len(tx.formats) == 3 and tx.types[0] == 2950
    # psycopg's own cache of prepared statements stays empty: it prepares none (else its rollback sends DEALLOCATE
    # ALL)
    flow_run_get(workspace=FlowRun.all_workspaces.get(pk=run).workspace_id, flow_run_id=run)
    assert statements.names and not raw._prepared._names
    assert raw.prepare_threshold is None


@pytest.mark.django_db(transaction=True)
def test_other_threads_run_while_a_statement_waits(preparing):
    """libpq's blocking call (psycopg's waited without blocking) releases the GIL: the threaded server's other
    requests go on while a statement waits for the server."""
    import threading
    import time

    spins, done = [0], threading.Event()

    def spin():
        while not done.is_set():
            spins[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        time.sleep(0.05)
        started, before = time.monotonic(), spins[0]
        assert prepared._run(connection, "SELECT pg_sleep(%s::float8)", [0.3], "rowcount") == 1
        waited, spun = time.monotonic() - started, spins[0] - before
    finally:
        done.set()
        thread.join()
    assert waited >= 0.3 and spun > 10_000  # a thread held out by the GIL would spin a few hundred times at most


@pytest.mark.django_db(transaction=True)
def test_a_connection_whose_psycopg_prepares_by_count_takes_the_cursor(run, preparing):
    """prepare_threshold set (OPTIONS): psycopg prepares statements itself and forgets them all on a rollback
    (DEALLOCATE ALL, ours too): the executor is not used, psycopg's cursor prepares by its count."""
    connection.close()
    connection.ensure_connection()
    raw = connection.connection
    raw.prepare_threshold = 1
    try:
        connection._praetor_raw_cursor = None
        assert prepared.cursor_for(connection).statements is None
        for _ in range(3):
            assert prepared._run(connection, "SELECT %s::int + 40", [2], "fetchone") == (42,)
        assert raw._prepared._names  # prepared by psycopg
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            prepared._run(connection, "SELECT %s::int + 40", [2], "fetchone")
            1 / 0
        assert prepared._run(connection, "SELECT %s::int + 40", [2], "fetchone") == (42,)
        assert not raw._prepared._names  # forgotten on the rollback
    finally:
        connection.close()  # a connection of the default settings for the next test


def test_a_plain_int_leaves_djangos_wrapped_integers_their_own_dumpers(preparing):
    """One Transformer sends every statement: a plain int (keyed by psycopg under its sized dumper's class, Int2)
    must not make a wrapped Int2(40000) go by the truncating binary int2 dumper (-25536): it is refused, as bound
    on the client. In one statement through psycopg's cursor too."""
    from psycopg.types.numeric import Int2, Int4

    assert prepared._run(connection, "SELECT %s::int, %s::int", [5, 40_000], "fetchone") == (5, 40_000)
    for prepare in (True, False):
        with pytest.raises(DataError, match="out of range"), transaction.atomic():
            prepared._run(connection, "SELECT %s::int2", [Int2(40_000)], "fetchone", prepare)
    with pytest.raises(DataError, match="out of range"), transaction.atomic(), prepared.cursor_for(
            connection) as cursor:
        cursor.execute("SELECT %s::int, %s::int2", [5, Int2(40_000)])
    assert prepared._run(connection, "SELECT %s, %s, %s", [Int2(-5), Int4(2**31 - 1), 2**40], "fetchone") == (
        -5, 2**31 - 1, 2**40)


def test_a_fetch_without_rows_raises_as_the_cursors_and_a_pipeline_takes_the_cursor(run, preparing):
    sql, params = 'UPDATE "engine_flowrun" SET "name" = "name" WHERE "id" = %s', [run]
    expected = r"^the last operation didn't produce records \(command status: UPDATE 1\)$"
    with pytest.raises(ProgrammingError, match=expected), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.fetchone()
    for fetch in ("fetchone", "fetchall"):
        with pytest.raises(ProgrammingError, match=expected):
            prepared._run(connection, sql, params, fetch)
    assert prepared._run(connection, sql, params, "rowcount") == 1
    held = dict(_statements().names)
    with connection.connection.pipeline():  # psycopg's pipeline mode (Django opens none): through the cursor
        assert prepared._run(connection, "SELECT %s::int", [7], "fetchone") == (7,)
    assert _statements().names == held


def test_each_prepared_statement_keeps_the_row_loaders_of_its_first_result(workspace, run, preparing):
    """The loaders a prepared statement's first result chose are kept (its Transformer, by name) and later results
    set on it without choosing them again; the rows are the cursor's, statements interleaved."""
    statements = _statements()
    flow_run = flow_run_get(workspace=workspace, flow_run_id=run)
    read = ("SELECT %s::uuid, %s::text, %s::timestamptz, %s::jsonb, %s::int, %s::bool, %s::text IS NULL",
            _VALUES[0][1])
    rows = ('SELECT "id", "name", "created", "parameters", "run_count", "state_id" FROM "engine_flowrun" '
            'WHERE "id" = %s', [run])
    expected = {}
    for sql, params in (read, rows):
        with prepared.cursor_for(connection) as cursor:
            cursor.execute(sql, params)
            expected[sql] = cursor.fetchall()
    assert expected[rows[0]][0][0] == flow_run.pk
    kept = {}
    for _ in range(3):  # interleaved: each result loaded by its own statement's loaders
        for sql, params in (read, rows):
            assert prepared._run(connection, sql, params, "fetchall") == expected[sql]
            assert prepared._run(connection, sql, params, "fetchone") == expected[sql][0]
            name = statements.names[(sql, statements.tx.types)]
            assert statements.last == name
            tx, nfields = statements.loaders[name]
            assert nfields == len(expected[sql][0])
            assert kept.setdefault(name, tx) is tx  # the same Transformer every time
    set_calls = []

    class Spy:
        def __init__(self, tx):
            self.tx = tx

        def set_pgresult(self, result, **kw):
            set_calls.append(kw)
            return self.tx.set_pgresult(result, **kw)

        def __getattr__(self, name):
            return getattr(self.tx, name)

    name = statements.names[(rows[0], statements.tx.types)]
    statements.loaders[name] = (Spy(statements.loaders[name][0]), statements.loaders[name][1])
    assert prepared._run(connection, *rows, "fetchone") == expected[rows[0]][0]
    assert set_calls == [{"set_loaders": False}, {"set_loaders": False}]  # the result, then let go of
    # a result of another column count than the one kept (never, for a prepared statement): loaders chosen afresh
    statements.loaders[name] = (kept[name], 99)
    assert prepared._run(connection, *rows, "fetchone") == expected[rows[0]][0]
    assert statements.loaders[name][1] == len(expected[rows[0]][0]) and statements.loaders[name][0] is not kept[name]
    # not prepared: the shared Transformer, its loaders chosen for each result, nothing kept
    held = dict(statements.loaders)
    assert prepared._run(connection, *read, "fetchall", False) == expected[read[0]]
    assert statements.last is None and statements.loaders == held
    # forgotten by the server: the kept loaders go with the names
    statements.deallocate_all()
    assert not statements.loaders
    assert prepared._run(connection, *rows, "fetchone") == expected[rows[0]][0]
    assert statements.last not in kept and statements.loaders.keys() == {statements.last}


def test_a_prepared_statement_whose_columns_would_change_fails_rather_than_loads_by_kept_loaders(preparing):
    """What keeping a prepared statement's loaders rests on: PostgreSQL refuses to run a prepared statement whose
    result's column types would change ("cached plan must not change result type"), so a kept loader never reads a
    column of another type."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE praetor_kept_loaders (a integer)")
        cursor.execute("INSERT INTO praetor_kept_loaders VALUES (7)")
    sql = "SELECT a FROM praetor_kept_loaders WHERE %s::int > 0"
    assert prepared._run(connection, sql, [1], "fetchone") == (7,)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE praetor_kept_loaders ALTER a TYPE text")
    with pytest.raises(django.db.NotSupportedError) as failed:
        prepared._run(connection, sql, [1], "fetchone")
    assert type(failed.value.__cause__) is psycopg.errors.FeatureNotSupported
    assert "must not change result type" in str(failed.value)
