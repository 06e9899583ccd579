"""The generic plans of the hot by-id statements of apps/core/prepared.py, as PostgreSQL would keep them.

A statement prepared on the server (PRAETOR_DB_PREPARE) may switch to a generic plan after five executions
(plan_cache_mode=auto) and keep it for the connection's life; a generic plan does not see the values, so a
by-id lookup `workspace_id = $1 AND id = $2` must still find the primary key the better index whatever the
statistics say. This script runs the hot requests once (bench/hot_requests.py's workload, one flow run of two
task runs, plus the by-id selectors the workload does not reach), in a transaction it rolls back, to collect
the statements the connection prepared (pg_prepared_statements); then, on another connection, for each
scenario, in a transaction rolled back, TRUNCATEs the run tables (new files, never analysed, whatever the
database held: its rows and counts are back after the rollback), makes the scenario's rows, prepares each
statement again and prints the scans of `EXPLAIN EXECUTE` under plan_cache_mode=force_generic_plan, the
parameters NULL:

  empty       the run tables empty, never analysed
  unanalysed  5 workspaces of 1,000 flows, flow runs and task runs each, no statistics
  analysed    one workspace of 100,000 flow runs and 200,000 task runs (and 2,000 flows) and 4 of 100, ANALYZEd
  tenants     the same big workspace and 20,000 small ones (5 rows of each table each), ANALYZEd

    DJANGO_SETTINGS_MODULE=config.settings.test python bench/generic_plans.py [--scenario NAME] [--filter]
        [--drop-workspace-indexes]

The database must exist and be migrated (`manage.py migrate` with the same settings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_TABLES = ("engine_flow", "engine_flowrun", "engine_taskrun")

sys.path.insert(0, str(ROOT))

from tests.core.rows_helpers import fill_rows as fill  # noqa: E402


def collect_statements(filters: bool = False) -> list[tuple[str, str, str]]:
    """(name, parameter types, SQL) of the statements the hot requests prepare on their connection."""
    import uuid

    from django.core import signals
    from django.db import close_old_connections, connection, transaction
    from django.test import Client

    sys.path.insert(0, str(ROOT / "bench"))
    import hot_requests

    from apps.engine.selectors import flow_runs, flows, task_runs

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    with transaction.atomic():
        prefix, key = hot_requests.setup_tenant()
        runner = hot_requests.Runner(Client(), prefix, key, None)
        flow = runner.call("POST flows/", "POST", "/flows/", {"name": "plans-flow", "tags": []})
        hot_requests.workload(runner, flow["id"], 1, 2, filters=filters)
        ws, some = uuid.uuid4(), uuid.uuid4()
        flows.flow_exists(workspace=ws, flow_id=some)
        flow_runs.flow_run_exists(workspace=ws, flow_run_id=some)
        flow_runs.flow_run_get_for_update(workspace=ws, flow_run_id=some)
        task_runs.task_run_get_for_update(workspace=ws, task_run_id=some)
        with connection.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, parameter_types::text[], statement FROM pg_prepared_statements"
                " WHERE statement ~ %s ORDER BY prepare_time",
                [r'"engine_(flow|flowrun|taskrun)"'],
            )
            found = cursor.fetchall()
        transaction.set_rollback(True)
    return found


def scenario(cursor, name: str) -> None:
    import uuid

    cursor.execute(f"TRUNCATE {', '.join(RUN_TABLES)} CASCADE")
    if name == "empty":
        return
    if name == "unanalysed":
        workspaces = [uuid.uuid4() for _ in range(5)]
        for table in RUN_TABLES:
            fill(cursor, table, 5000, workspaces)
        return
    big = uuid.uuid4()
    small = [uuid.uuid4() for _ in range(4 if name == "analysed" else 20_000)]
    for table, count in (("engine_flow", 2000), ("engine_flowrun", 100_000), ("engine_taskrun", 200_000)):
        fill(cursor, table, count, [big])
        fill(cursor, table, 100 * len(small) if name == "analysed" else 100_000, small)
        cursor.execute(f"ANALYZE {table}")


def scans(plan: dict) -> list[str]:
    """'Index Scan using X on T' / 'Seq Scan on T' for every scan of the run tables in the plan."""
    found = []
    if plan.get("Relation Name") in RUN_TABLES and "Scan" in plan["Node Type"]:
        index = plan.get("Index Name")
        found.append(
            f"{plan['Node Type']}{f' using {index}' if index else ''} on {plan['Relation Name']}"
            + (f" (Index Cond: {plan['Index Cond']})" if "Index Cond" in plan else "")
            + (f" (Filter: {plan['Filter']})" if "Filter" in plan else "")
        )
    for child in plan.get("Plans", ()):
        found += scans(child)
    return found


def generic_scans(cursor, statements, mode: str = "force_generic_plan") -> dict[str, list[str]]:
    """Per statement (by name), the scans of its plan under `mode`, its parameters NULL."""
    cursor.execute(f"SET LOCAL plan_cache_mode = {mode}")
    result = {}
    for n, (name, types, sql) in enumerate(statements):
        cursor.execute(f"PREPARE plans_{n} ({', '.join(types)}) AS {sql}")
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE plans_{n} ({', '.join(['NULL'] * len(types))})")
        plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        result[name] = scans(plan[0]["Plan"])
        cursor.execute(f"DEALLOCATE plans_{n}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=("empty", "unanalysed", "analysed", "tenants"), action="append")
    parser.add_argument(
        "--filter", action="store_true", help="the workload's flow run filters too (pages by ids: flow_run_page)"
    )
    parser.add_argument(
        "--drop-workspace-indexes",
        action="store_true",
        help="drop the single-column workspace_id indexes of the run tables first (in the "
        "scenario's transaction): what the plans would be without them",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import psycopg
    from django.db import connection

    statements = collect_statements(args.filter)
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    for name in args.scenario or ("empty", "unanalysed", "analysed", "tenants"):
        with psycopg.connect(**params) as other, other.cursor() as cursor:
            if args.drop_workspace_indexes:
                cursor.execute(
                    "SELECT indexrelid::regclass::text FROM pg_index i JOIN pg_attribute a"
                    " ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                    " WHERE i.indrelid::regclass::text = ANY(%s) AND i.indnatts = 1"
                    " AND a.attname = 'workspace_id'",
                    [list(RUN_TABLES)],
                )
                for (index,) in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {index}")
            scenario(cursor, name)
            print(f"== {name}")
            for statement, (_, _, sql) in zip(generic_scans(cursor, statements).items(), statements, strict=True):
                where = sql[sql.find(" WHERE ") :][:140] if " WHERE " in sql else ""
                print(f"-- {sql[:70]}…{where}")
                for scan in statement[1]:
                    print(f"     {scan}")
            other.rollback()


if __name__ == "__main__":
    main()
