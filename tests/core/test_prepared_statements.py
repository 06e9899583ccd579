"""The statements of apps/core/prepared.py are prepared on the server (PRAETOR_DB_PREPARE) and give what they
gave bound on the client, never prepared: every PreparedQuery, the writes of the hot endpoints, a log batch's
COPY; and they keep working after a failed statement, a rolled-back transaction and a new connection."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core import prepared
from apps.engine.models.runs import FlowRun, FlowRunState, Log, TaskRun, TaskRunState
from tests.core.test_prepared_fast import _calls, _module_queries, _same, graph  # noqa: F401 (a fixture)
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    set_task_state,
)
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _preparing(settings, on: bool) -> None:
    """Statements of apps/core/prepared.py prepared (on) or bound on the client (off) from now on."""
    settings.PRAETOR_DB_PREPARE = on
    connection._praetor_raw_cursor = None


def _server_statements() -> dict:
    """The connection's prepared statements, as PostgreSQL holds them: {name: statement}."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql")
        return dict(cursor.fetchall())


def _as_sent(sql: str) -> str:
    """`sql` with its %s placeholders numbered as psycopg sends them to be prepared ($1, $2, …)."""
    count = iter(range(1, 1 << 16))
    return re.sub(r"%%|%s", lambda m: "%" if m.group() == "%%" else f"${next(count)}", sql)


def _known() -> dict:
    """The statements apps/core/prepared.py's executor (_Statements) holds as prepared on this connection: {name:
    statement as sent}. psycopg itself prepares none (its cache of names, a private of psycopg's, stays empty: it
    would send DEALLOCATE ALL on a rollback otherwise, dropping ours)."""
    assert not connection.connection._prepared._names
    raw = getattr(connection, "_praetor_raw_cursor", None)
    if raw is None or raw.raw is not connection.connection or raw.statements is None:
        return {}
    return {name.decode(): _as_sent(key[0]) for key, name in raw.statements.names.items()}


def test_every_prepared_query_reads_the_same_prepared_and_is_prepared_on_the_server(graph, settings):  # noqa: F811
    calls = _calls(graph)
    queries = _module_queries()
    from apps.engine.selectors import work_pools

    queries["poll 2 queues, before"] = work_pools._poll_runs_prepared(2, True, False)
    queries["poll 1 queue"] = work_pools._poll_runs_prepared(1, False, False)
    assert set(queries) == set(calls), "a PreparedQuery without a case here"
    for name, query in queries.items():
        for method, args in calls[name]:
            results = []
            for on in (False, True, True):  # unprepared; prepared on first use; run as prepared
                _preparing(settings, on)
                with transaction.atomic():
                    results.append(getattr(query, method)(*args))
            for got in results[1:]:
                if method == "all":
                    assert len(got) == len(results[0]), name
                    for a, b in zip(got, results[0], strict=True):
                        _same(a, b)
                else:
                    _same(got, results[0])
        compiled = next(iter(query._compiled.values()))
        assert _as_sent(compiled.sql) in _server_statements().values(), name
    assert isinstance(prepared.cursor_for(connection).cursor, prepared._PreparingCursor)
    # What psycopg believes prepared is on the server, under the same names.
    assert _known().items() <= _server_statements().items()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def _scrubbed(value):
    """`value` with what differs between two runs of one workload (ids, times) replaced by its kind."""
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    if isinstance(value, uuid.UUID):
        return "<uuid>"
    if isinstance(value, datetime.datetime):
        return ("<time>", value.tzinfo is not None)
    if isinstance(value, float | datetime.timedelta) and value:  # run times, durations
        return ("<duration>", value > type(value)())
    if isinstance(value, str):
        return _STAMP.sub("<time>", _UUID.sub("<uuid>", value))
    return value


def _workload(client, ws) -> list:
    """The hot endpoints' requests for a flow run of two task runs, a rejected transition, a log batch and
    reads; each response's status and body."""
    out = []

    def keep(response):
        out.append((response.status_code, response.json() if response.content else None))
        return out[-1][1]

    flow_id = create_flow(client, ws)["id"]
    run_id = create_flow_run(client, ws, flow_id, retries=1, name="the-run")["id"]
    keep(set_flow_state(client, ws, run_id, "RUNNING"))
    tasks = []
    for n in range(2):
        task_id = create_task_run(client, ws, run_id, dynamic_key=str(n), tags=["a", "b"])["id"]
        create_task_run(client, ws, run_id, dynamic_key=str(n))  # the same key: the existing run
        keep(set_task_state(client, ws, task_id, "RUNNING"))
        keep(set_task_state(client, ws, task_id, "COMPLETED", data=None, message="done"))
        keep(set_task_state(client, ws, task_id, "RUNNING"))  # from a final state: rejected
        tasks.append(task_id)
    logs = [
        {
            "name": "n",
            "level": 20,
            "message": f"m{i}",
            "timestamp": "2026-12-06T10:00:00+00:00",
            "flow_run_id": run_id,
            "task_run_id": tasks[i % 2] if i % 3 else None,
        }
        for i in range(5)
    ]
    keep(client.post(base(ws) + "logs/", logs, format="json"))
    keep(set_flow_state(client, ws, run_id, "COMPLETED"))
    keep(client.get(base(ws) + f"flow_runs/{run_id}"))
    keep(client.post(base(ws) + "flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}}, format="json"))
    for task_id in tasks:
        keep(client.get(base(ws) + f"task_runs/{task_id}"))
    keep(client.post(base(ws) + "task_runs/filter", {"sort": "EXPECTED_START_TIME_DESC"}, format="json"))
    keep(client.post(base(ws) + "logs/filter", {"sort": "TIMESTAMP_ASC"}, format="json"))
    return out


def _stored(ws) -> dict:
    rows = {}
    for model in (FlowRun, FlowRunState, TaskRun, TaskRunState, Log):
        values = model.all_workspaces.filter(workspace=ws).values()
        rows[model.__name__] = sorted((_scrubbed(v) for v in values), key=repr)
    return rows


def test_the_hot_endpoints_answer_and_store_the_same_with_and_without_prepared_statements(
    authed_client, workspace, settings
):
    _preparing(settings, False)
    unprepared = _workload(authed_client, workspace)
    assert not _known()
    assert all(status < 300 for status, _ in unprepared)
    _preparing(settings, True)
    for ws in (WorkspaceFactory(organization=workspace.organization) for _ in range(2)):
        # prepared on first use, then run as prepared
        assert _scrubbed(_workload(authed_client, ws)) == _scrubbed(unprepared)
        assert _stored(ws) == _stored(workspace)
    statements = _server_statements()
    assert _known().items() <= statements.items()
    # the task run's insert and its states' among them
    assert any('INSERT INTO "engine_taskrun"' in sql for sql in statements.values())
    assert any('INSERT INTO "engine_taskrunstate"' in sql for sql in statements.values())


def test_without_prepare_nothing_is_prepared_and_the_cursor_binds_on_the_client(authed_client, workspace, settings):
    import psycopg

    _preparing(settings, False)
    before = _server_statements()  # those an earlier test prepared on this connection, if any
    _workload(authed_client, workspace)
    raw = prepared.cursor_for(connection)
    assert isinstance(raw.cursor, psycopg.ClientCursor) and not isinstance(raw.cursor, prepared._PreparingCursor)
    assert raw.statements is None
    assert not _known() and _server_statements() == before


def test_under_djangos_query_log_the_statements_are_counted_and_not_prepared(authed_client, workspace, settings):
    _preparing(settings, True)
    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    from apps.engine.selectors.flow_runs import flow_run_get

    before = _server_statements()
    with CaptureQueriesContext(connection) as captured:
        assert flow_run_get(workspace=workspace, flow_run_id=run_id).pk == run_id
    assert len(captured) == 1 and '"engine_flowrun"' in captured[0]["sql"]
    assert _server_statements() == before


def test_out_of_range_integers_fail_as_bound_on_the_client(workspace, settings):
    """Django wraps IntegerField values in psycopg's Int2/Int4/Int8, whose C dumpers, bound on the server, would
    send 40000 as smallint -25536 (and raise OverflowError past int8): the server refuses them as it refuses
    the literals of client-side binding."""
    from django.db import DataError
    from psycopg.types.numeric import Int2, Int4, Int8

    for on in (False, True):
        _preparing(settings, on)
        log = Log(workspace=workspace, name="n", level=40_000, message="m", timestamp=timezone.now())
        with pytest.raises(DataError, match="out of range"), transaction.atomic():
            prepared.insert(log)
        assert not Log.objects.for_workspace(workspace).exists()
        for value, sql in (
            (Int2(40_000), "SELECT %s::int2"),
            (Int4(2**31), "SELECT %s::int4"),
            (Int8(2**63), "SELECT %s::int8"),
        ):
            with (
                pytest.raises(DataError, match="out of range"),
                transaction.atomic(),
                prepared.cursor_for(connection) as cursor,
            ):
                cursor.execute(sql, [value])
        with prepared.cursor_for(connection) as cursor:
            cursor.execute("SELECT %s, %s, %s", [Int2(-(2**15)), Int4(2**31 - 1), Int8(-(2**63))])
            assert cursor.fetchone() == (-(2**15), 2**31 - 1, -(2**63))


def test_a_multi_row_insert_bound_on_the_server_splits_past_its_parameter_limit(workspace, settings):
    _preparing(settings, True)
    before = _server_statements()
    n = 65535 // len(prepared._columns(Log(workspace=workspace))) + 7
    stamp = timezone.now()
    logs = [Log(workspace=workspace, name="n", level=20, message=str(i), timestamp=stamp) for i in range(n)]
    with transaction.atomic():
        prepared.insert_many(logs, batch_size=n)
    assert sorted(int(m) for m in Log.objects.for_workspace(workspace).values_list("message", flat=True)) == list(
        range(n)
    )
    assert _server_statements() == before


@pytest.mark.django_db(transaction=True)
def test_statements_run_on_after_a_failed_statement_a_rollback_and_a_new_connection(authed_client, workspace, settings):
    from apps.engine.selectors.flow_runs import flow_run_get

    connection.close()
    _preparing(settings, True)
    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    expected = FlowRun.objects.for_workspace(workspace).select_related("state").get(pk=run_id)
    state = FlowRunState.all_workspaces.get(flow_run_id=run_id)

    def read_and_check():
        got = flow_run_get(workspace=workspace, flow_run_id=run_id)
        assert (got.pk, got.state_id, got.state.type) == (expected.pk, expected.state_id, expected.state.type)
        known, held = _known(), _server_statements()
        assert known and known.items() <= held.items()  # the executor's names are the server's
        return known

    first = read_and_check()
    # A statement that fails in a transaction, which rolls back: PostgreSQL keeps the prepared statements, and so
    # does the executor (psycopg prepared none, so sends no DEALLOCATE ALL).
    with pytest.raises(IntegrityError), transaction.atomic():
        assert read_and_check()
        prepared.insert(state)  # its id is taken
    assert first.items() <= read_and_check().items()
    # The same failure in autocommit, then inside a savepoint of a transaction that goes on and commits.
    with pytest.raises(IntegrityError):
        prepared.insert(state)
    read_and_check()
    fresh = FlowRunState(
        workspace=workspace, flow_run_id=run_id, type="RUNNING", name="Running", timestamp=timezone.now()
    )
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic():
            prepared.insert(state)
        read_and_check()
        assert prepared.insert(fresh)
    assert FlowRunState.all_workspaces.filter(pk=fresh.pk).exists()
    assert first.items() <= read_and_check().items()
    # A new connection (CONN_MAX_AGE, a dropped one): a new backend, a new cursor, statements prepared there.
    old_cursor, old_pid = prepared.cursor_for(connection), connection.connection.info.backend_pid
    connection.close()
    again = read_and_check()
    assert prepared.cursor_for(connection) is not old_cursor
    assert connection.connection.info.backend_pid != old_pid
    assert not again.keys() & first.keys()  # under new names


def test_compare_and_swap_on_a_null_column_decides_the_same_prepared(authed_client, workspace, settings):
    """write_together_if's guard with a NULL value (IS NOT DISTINCT FROM an untyped NULL parameter, its type
    taken from the column), with and without fields to set."""
    flow_id = create_flow(authed_client, workspace)["id"]
    outcomes = []
    for on in (False, True, True):
        _preparing(settings, on)
        run_id = create_flow_run(authed_client, workspace, flow_id)["id"]
        FlowRun.objects.for_workspace(workspace).filter(pk=run_id).update(state=None)
        run = FlowRun.objects.for_workspace(workspace).get(pk=run_id)

        def new_state(run_id=run_id):
            return FlowRunState(
                id=uuid.uuid4(),
                workspace=workspace,
                flow_run_id=run_id,
                type="RUNNING",
                name="Running",
                timestamp=timezone.now(),
            )

        first, second = new_state(), new_state()
        got = [
            prepared.write_together_if([], run, [], unchanged="state_id", value=None),
            prepared.write_together_if([first], run, [], unchanged="state_id", value=uuid.uuid4()),
        ]
        run.state_id = first.id
        got.append(prepared.write_together_if([first], run, ["state"], unchanged="state_id", value=None))
        run.state_id = second.id
        got.append(prepared.write_together_if([second], run, ["state"], unchanged="state_id", value=None))
        got.append(FlowRun.objects.for_workspace(workspace).get(pk=run_id).state_id == first.id)
        got += [
            FlowRunState.all_workspaces.filter(pk=first.pk).exists(),
            FlowRunState.all_workspaces.filter(pk=second.pk).exists(),
        ]
        outcomes.append(got)
    assert outcomes[0] == [True, False, True, False, True, True, False]
    assert outcomes[1] == outcomes[2] == outcomes[0]
    assert any("IS NOT DISTINCT FROM" in sql for sql in _server_statements().values())


def test_each_statement_keeps_its_transformer_and_reads_the_same(graph, settings):  # noqa: F811
    """The preparing cursor keeps psycopg's Transformer per statement (as psycopg keeps it for the same query
    executed again): statements run in turn, each with changing parameter types (a None, a UUID), read what a new
    cursor reads, and each statement is run again with the Transformer it had."""
    _preparing(settings, True)
    with prepared.cursor_for(connection) as cursor:
        assert isinstance(cursor, prepared._PreparingCursor)
    first = "SELECT %s::uuid, %s::text, now() > %s::timestamptz"
    second = "SELECT %s::int, %s::text IS NULL"
    values = [
        (first, [uuid.uuid4(), "a", timezone.now()]), (second, [1, None]), (first, [None, None, None]),
        (second, [2, "b"]), (first, [uuid.uuid4(), "é", datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC)]),
    ]
    kept = {}
    for _ in range(3):
        for sql, params in values:
            with prepared.cursor_for(connection) as cursor:
                cursor.execute(sql, params)
                got = cursor.fetchall()
                if sql in kept:
                    assert cursor._tx is kept[sql]
                kept[sql] = cursor._tx
            fresh = connection.connection.cursor()
            fresh.execute(sql, params)
            assert got == fresh.fetchall()
            fresh.close()
    # A failed statement leaves no Transformer in use; the next statements read right.
    with pytest.raises(DataError), transaction.atomic(), prepared.cursor_for(connection) as cursor:
        cursor.execute(second, ["not a number", None])
    with prepared.cursor_for(connection) as cursor:
        cursor.execute(second, [3, None])
        assert cursor.fetchall() == [(3, True)]


def test_uuids_are_sent_by_the_attribute_getter_dumper_and_read_the_same(settings):
    from psycopg.adapt import PyFormat
    from psycopg.types.uuid import UUIDBinaryDumper

    _preparing(settings, True)
    values = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), uuid.uuid4(), uuid.uuid1(), uuid.UUID(int=255)]
    with prepared.cursor_for(connection) as cursor:
        for fmt in (PyFormat.AUTO, PyFormat.BINARY):
            assert cursor.adapters.get_dumper(uuid.UUID, fmt) is prepared._UUIDBinaryDumper
        ours, theirs = prepared._UUIDBinaryDumper(uuid.UUID), UUIDBinaryDumper(uuid.UUID)
        for value in values:
            assert ours.dump(value) == theirs.dump(value) and ours.oid == theirs.oid
            cursor.execute("SELECT %s, %s::text, %s::uuid IS NULL", [value, value, None])
            assert cursor.fetchone() == (value, str(value), True)
