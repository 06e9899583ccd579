"""Rows made in bulk by SQL for plan tests and bench/generic_plans.py: every NOT NULL column filled by its type."""

from __future__ import annotations

# A value per column type for the NOT NULL columns the generated rows need (i: the row's number).
FILL = {
    "uuid": "gen_random_uuid()",
    "timestamp with time zone": "now()",
    "character varying": "'r' || i",
    "text": "'r' || i",
    "integer": "0",
    "interval": "'0'::interval",
    "jsonb": "'{}'::jsonb",
    "boolean": "false",
}


def fill_rows(cursor, table: str, count: int, workspaces: list, extra: dict | None = None) -> None:
    """`count` rows of `table` spread over `workspaces` (round robin), NOT NULL columns filled by type; `extra`
    maps a column to the SQL expression of its value instead (it may use `i`)."""
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s"
        " AND is_nullable = 'NO' AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    )
    columns = {name: FILL[kind] for name, kind in cursor.fetchall()}
    columns["workspace_id"] = "(%s::uuid[])[1 + i %% %s]"
    columns.update(extra or {})
    # Names come from information_schema and the callers; values are parameters.
    cursor.execute(
        "INSERT INTO {} ({}) SELECT {} FROM generate_series(1, %s) i".format(
            table, ", ".join(columns), ", ".join(columns.values())
        ),
        [[str(w) for w in workspaces], len(workspaces), count],
    )
