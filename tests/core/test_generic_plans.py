"""The hot by-id statements prepared on the server find their row by its primary key in their generic plan too.

PostgreSQL may switch a prepared statement to a generic plan (plan_cache_mode=auto, after five executions) and
keep it for the connection's life. Without statistics the generic plan of `workspace_id = $1 AND id = $2` took
the workspace_id index (or another one leading with workspace_id) and read the whole workspace; the by-id
statements write their tenancy condition so that no index serves it (WorkspaceScopedManager.by_pk_for_workspace,
prepared.insert_if). Each statement the hot requests prepare on the run tables is prepared again here and
explained under plan_cache_mode=force_generic_plan: every scan of a run table must be on its primary key.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection

from apps.core import prepared as prepared_statements
from apps.engine.models.runs import FlowRun
from apps.engine.selectors import flow_runs, flows, task_runs
from tests.core.rows_helpers import fill_rows
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

RUN_TABLES = ("engine_flow", "engine_flowrun", "engine_taskrun")
BY_ID = (
    flows._FLOW_ID,
    flow_runs._FLOW_RUN_GET,
    flow_runs._FLOW_RUN_ID,
    flow_runs._FLOW_RUN_FOR_UPDATE,
    flow_runs._FLOW_RUN_FOR_SET_STATE,
    task_runs._TASK_RUN_GET,
    task_runs._TASK_RUN_FOR_UPDATE,
    task_runs._TASK_RUN_FOR_SET_STATE,
)


def _fill(cursor, table: str, count: int, workspaces: list) -> None:
    extra = None
    if table == "engine_flowrun":  # every run of one flow (the foreign keys are checked when the test ends)
        extra = {"flow_id": "(SELECT id FROM engine_flow LIMIT 1)"}
    fill_rows(cursor, table, count, workspaces, extra)


def _scenario(name: str, workspace) -> None:
    """The run tables as `name` says, whatever earlier tests left in pg_class (ANALYZE's page and row counts
    outlive its transaction): TRUNCATE gives them new, never analysed files (until the test's rollback)."""
    others = [WorkspaceFactory(organization=workspace.organization).pk for _ in range(4)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(RUN_TABLES)} CASCADE")
        if name == "no statistics, several workspaces":
            for table in RUN_TABLES:
                _fill(cursor, table, 2000, [workspace.pk, *others])
        elif name == "one huge workspace, analysed":
            for table, count in (("engine_flow", 500), ("engine_flowrun", 10_000), ("engine_taskrun", 20_000)):
                _fill(cursor, table, count, [workspace.pk])
                _fill(cursor, table, 40, others)
                cursor.execute(f"ANALYZE {table}")


def _hot_requests(client, ws) -> None:
    """The hot requests (create, set_state, reads) and the by-id reads they may not reach: all prepared."""
    flow_id = create_flow(client, ws)["id"]
    run_id = create_flow_run(client, ws, flow_id)["id"]
    assert set_flow_state(client, ws, run_id, "RUNNING").status_code == 201
    task_id = create_task_run(client, ws, run_id)["id"]
    for type_ in ("RUNNING", "COMPLETED"):
        assert set_task_state(client, ws, task_id, type_).status_code == 201
    assert client.get(f"/api/accounts/{ws.organization_id}/workspaces/{ws.pk}/task_runs/{task_id}").status_code == 200
    assert set_flow_state(client, ws, run_id, "COMPLETED").status_code == 201
    for query in BY_ID:
        query.one(ws.pk, uuid.uuid4())


def _primary_keys(cursor) -> dict:
    cursor.execute(
        "SELECT indrelid::regclass::text, indexrelid::regclass::text FROM pg_index"
        " WHERE indisprimary AND indrelid::regclass::text = ANY(%s)",
        [list(RUN_TABLES)],
    )
    return dict(cursor.fetchall())


def _off_the_primary_key(plan: dict, pkeys: dict) -> list[str]:
    """The scans of a run table in `plan` that do not find rows by its primary key index."""
    bad = []
    table = plan.get("Relation Name")
    if table in RUN_TABLES and "Scan" in plan["Node Type"]:
        if plan["Node Type"] == "Bitmap Heap Scan":
            indexes = {child.get("Index Name") for child in plan.get("Plans", ())}
        else:
            indexes = {plan.get("Index Name")}
        if indexes != {pkeys[table]}:
            bad.append(f"{plan['Node Type']} on {table} using {indexes}: {plan.get('Index Cond')}")
    for child in plan.get("Plans", ()):
        if not (plan["Node Type"] == "Bitmap Heap Scan" and child["Node Type"] == "Bitmap Index Scan"):
            bad += _off_the_primary_key(child, pkeys)
    return bad


@pytest.mark.parametrize("scenario", ["empty", "no statistics, several workspaces", "one huge workspace, analysed"])
def test_generic_plans_of_the_hot_by_id_statements_use_the_primary_key(authed_client, workspace, settings, scenario):
    settings.PRAETOR_DB_PREPARE = True
    connection._praetor_raw_cursor = None
    # only this test's statements prepared on the connection (they outlive the earlier tests' rollbacks)
    prepared_statements.cursor_for(connection).statements.deallocate_all()
    _scenario(scenario, workspace)
    _hot_requests(authed_client, workspace)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT parameter_types::text[], statement FROM pg_prepared_statements"
            " WHERE NOT from_sql AND statement ~ %s",
            [r'"engine_(flow|flowrun|taskrun)"'],
        )
        statements = cursor.fetchall()
        pkeys = _primary_keys(cursor)
        # Every by-id read was prepared, and the writes whose guard reads a run (create's, set_state's)
        sent = [sql for _, sql in statements]
        for query in BY_ID:
            compiled = next(iter(query._compiled.values())).sql
            assert sum(_placeholders(compiled) == sql for sql in sent) == 1, compiled
        assert any(sql.startswith('WITH g AS (SELECT 1 FROM "engine_flow" WHERE') for sql in sent)
        assert any(sql.startswith('WITH g AS (SELECT 1 FROM "engine_flowrun" WHERE') for sql in sent)
        assert any(sql.startswith('WITH g AS (UPDATE "engine_taskrun"') for sql in sent)
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        bad = {}
        for n, (types, sql) in enumerate(statements):
            cursor.execute(f"PREPARE generic_{n} ({', '.join(types)}) AS {sql}")
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE generic_{n} ({', '.join(['NULL'] * len(types))})")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            if found := _off_the_primary_key(plan[0]["Plan"], pkeys):
                bad[sql[:120]] = found
            cursor.execute(f"DEALLOCATE generic_{n}")
    assert not bad, bad


def _placeholders(sql: str) -> str:
    """`sql` with its %s placeholders numbered as psycopg sends them ($1, $2, …)."""
    parts = sql.split("%s")
    return "".join(part + (f"${n}" if n < len(parts) else "") for n, part in enumerate(parts, 1))


def test_by_pk_for_workspace_reads_the_row_of_its_workspace_only(authed_client, workspace):
    flow_id = create_flow(authed_client, workspace)["id"]
    run_id = uuid.UUID(create_flow_run(authed_client, workspace, flow_id)["id"])
    other = WorkspaceFactory(organization=workspace.organization)
    qs = FlowRun.objects.by_pk_for_workspace(workspace, run_id)
    assert "IS NOT DISTINCT FROM" in str(qs.query)
    assert [run.pk for run in qs] == [run_id]
    for ws in (workspace.pk, str(workspace.pk)):
        assert FlowRun.objects.by_pk_for_workspace(ws, str(run_id)).get().pk == run_id
    assert not FlowRun.objects.by_pk_for_workspace(other, run_id).exists()
    assert not FlowRun.objects.by_pk_for_workspace(None, run_id).exists()
    assert not FlowRun.objects.by_pk_for_workspace(workspace, uuid.uuid4()).exists()
    # the prepared reads and insert_if's guard: another workspace's run is not found
    assert flow_runs.flow_run_get(workspace=workspace, flow_run_id=run_id).pk == run_id
    assert flow_runs.flow_run_get(workspace=other, flow_run_id=run_id) is None
    assert not flow_runs.flow_run_exists(workspace=other, flow_run_id=run_id)
    assert flows.flow_exists(workspace=workspace, flow_id=flow_id)
    assert not flows.flow_exists(workspace=other, flow_id=flow_id)
    assert create_task_run(authed_client, other, str(run_id), expect=(404,))
    assert create_flow_run_status(authed_client, other, flow_id) == 404


def create_flow_run_status(client, ws, flow_id) -> int:
    return client.post(base(ws) + "flow_runs/", {"flow_id": flow_id, "state": None}, format="json").status_code


# flow_run_page's statements (compiled once per body shape): a page of runs by ids must find them by the
# primary key (or, with a flow too, the flow_id index), in the generic plan too, not by an index leading with
# workspace_id, such as flow_run_queue_next, with the ids as a filter over the whole workspace. A flow's page
# alone keeps `workspace_id =`, for the (workspace, flow, sort column) indexes that serve its order.
_PAGE_BODIES = {
    "ids": lambda run_ids, flow_id: {"flow_runs": {"id": {"any_": run_ids}}, "limit": 200},
    "one id": lambda run_ids, flow_id: {"flow_runs": {"id": {"any_": run_ids[:1]}}, "limit": 200},
    "ids and flow": lambda run_ids, flow_id: {
        "flow_runs": {"id": {"any_": run_ids}},
        "flows": {"id": {"any_": [flow_id]}},
        "limit": 200,
    },
}
# The index (or indexes) each page may find its runs by: the ids' and the flow's pages both bound the rows read.
_PAGE_INDEX = {
    "ids": {"pkey"},
    "one id": {"pkey"},
    "ids and flow": {"pkey", "flow"},
}


def _flow_run_indexes(cursor) -> dict:
    """{"pkey": name of engine_flowrun's primary key index, "flow": name of its index on (flow_id) alone}."""
    cursor.execute(
        "SELECT i.indisprimary, i.indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a"
        " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
        " WHERE i.indrelid = 'engine_flowrun'::regclass AND i.indnkeyatts = 1 AND i.indpred IS NULL"
        " AND (i.indisprimary OR a.attname = 'flow_id')"
    )
    return {"pkey" if primary else "flow": name for primary, name in cursor.fetchall()}


def _flow_run_scans(plan: dict) -> list[tuple[str, set, str | None]]:
    """(node type, indexes, index condition) of every scan of engine_flowrun in `plan`."""
    scans = []
    if plan.get("Relation Name") == "engine_flowrun" and "Scan" in plan["Node Type"]:
        if plan["Node Type"] == "Bitmap Heap Scan":
            children = [c for c in plan.get("Plans", ()) if c["Node Type"] == "Bitmap Index Scan"]
            scans.append(
                (
                    plan["Node Type"],
                    {c.get("Index Name") for c in children},
                    " ".join(c.get("Index Cond", "") for c in children),
                )
            )
        else:
            scans.append((plan["Node Type"], {plan.get("Index Name")}, plan.get("Index Cond")))
    for child in plan.get("Plans", ()):
        scans += _flow_run_scans(child)
    return scans


@pytest.mark.parametrize("scenario", ["empty", "no statistics, several workspaces", "one huge workspace, analysed"])
def test_generic_plans_of_the_flow_run_pages_use_the_primary_key_or_the_flow(
    authed_client, workspace, settings, scenario
):
    settings.PRAETOR_DB_PREPARE = True
    connection._praetor_raw_cursor = None
    # only this test's statements prepared on the connection (they outlive the earlier tests' rollbacks)
    prepared_statements.cursor_for(connection).statements.deallocate_all()
    _scenario(scenario, workspace)
    if scenario == "one huge workspace, analysed":
        # _fill gives every run one flow: then reading the primary key backwards until the page is full is the
        # right plan for a flow's page. Spread the runs over the 660 flows, as a workspace's runs are.
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH f AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM engine_flow),"
                " r AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM engine_flowrun)"
                " UPDATE engine_flowrun SET flow_id = f.id FROM r, f"
                " WHERE engine_flowrun.id = r.id AND f.n = r.n % (SELECT count(*) FROM f)"
            )
            cursor.execute("ANALYZE engine_flowrun")
    flow_id = create_flow(authed_client, workspace)["id"]
    run_ids = [create_flow_run(authed_client, workspace, flow_id)["id"] for _ in range(3)]
    other = WorkspaceFactory(organization=workspace.organization)
    flow_runs._PAGES.clear()
    sent = {}
    for kind, make in _PAGE_BODIES.items():
        body = make(run_ids, flow_id)
        found = flow_runs._page_shape(body)
        assert found is not None, kind
        want = body.get("flow_runs", {}).get("id", {}).get("any_", run_ids)
        got = flow_runs.flow_run_page(workspace=workspace, body=body)
        assert {run.pk for run in got} == {uuid.UUID(i) for i in want}
        assert flow_runs.flow_run_page(workspace=other, body=body) == []  # the same statement, another workspace
        sent[kind] = _placeholders(next(iter(flow_runs._PAGES[found[0]]._compiled.values())).sql)
    with connection.cursor() as cursor:
        cursor.execute("SELECT parameter_types::text[], statement FROM pg_prepared_statements WHERE NOT from_sql")
        prepared = dict((sql, types) for types, sql in cursor.fetchall())
        indexes = _flow_run_indexes(cursor)
        assert set(indexes) == {"pkey", "flow"}, indexes
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        bad = {}
        for n, (kind, sql) in enumerate(sent.items()):
            types = prepared[sql]  # the page statement was prepared on the server
            cursor.execute(f"PREPARE page_{n} ({', '.join(types)}) AS {sql}")
            cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE page_{n} ({', '.join(['NULL'] * len(types))})")
            plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scans = _flow_run_scans(plan[0]["Plan"])
            allowed = {indexes[name] for name in _PAGE_INDEX[kind]}
            if scenario == "empty" and kind == "ids":
                # A never analysed table is believed to be 10 pages: reading it costs less than three probes
                allowed.add(None)  # of the primary key (a Seq Scan); any index on workspace_id stays refused.
            if not scans or any(len(found) != 1 or not found <= allowed for _, found, _ in scans):
                bad[kind] = scans
            cursor.execute(f"DEALLOCATE page_{n}")
    assert not bad, bad


def _scans(plan: dict) -> list[tuple[str, str | None]]:
    found = [(plan["Node Type"], plan.get("Index Name"))] if plan.get("Relation Name") == "engine_flow" else []
    for child in plan.get("Plans", ()):
        found += _scans(child)
    return found


@pytest.mark.parametrize("scenario", ["no statistics, several workspaces", "one huge workspace, analysed"])
def test_the_flow_by_name_read_is_not_prepared_and_takes_the_unique_name_index(authed_client, workspace, settings,
                                                                                scenario):
    """POST flows/ reads the flow of a name first (apps/engine/services/flows.py): compiled once, but planned
    with its values at each execution, as the ORM's statement was: with statistics the (workspace, name) unique
    index serves it (without, the planner may take the workspace_id index, as it did for the ORM's statement;
    a generic plan built on a never analysed table takes it too, and is kept until an ANALYZE)."""
    from apps.engine.services import flows as flow_services

    settings.PRAETOR_DB_PREPARE = True
    connection._praetor_raw_cursor = None
    # only this test's statements prepared on the connection (they outlive the earlier tests' rollbacks)
    prepared_statements.cursor_for(connection).statements.deallocate_all()
    _scenario(scenario, workspace)
    first = create_flow(authed_client, workspace, name="by-name")
    for _ in range(6):  # past the five executions after which a prepared statement may turn generic
        assert create_flow(authed_client, workspace, name="by-name")["id"] == first["id"]
    compiled = next(iter(flow_services._FLOW_BY_NAME._compiled.values())).sql
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        assert _placeholders(compiled) not in [sql for (sql,) in cursor.fetchall()]
        cursor.execute(f"EXPLAIN (FORMAT JSON) {compiled}", [workspace.pk, "by-name"])
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
    if "analysed" in scenario:
        assert _scans(plan[0]["Plan"]) == [("Index Scan", "flow_unique_name")], plan
