"""Prefect's `tags.all_` filters (flows, flow runs, task runs, deployments, variables, block capabilities)
on both databases: PostgreSQL (the tests' database, through the API) and SQLite (the embedded quick
start), where the same Q objects are compiled and run on an in-memory database."""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import NotSupportedError
from django.db.utils import ConnectionHandler

from apps.engine.models import Deployment, Flow, FlowRun, Variable
from apps.engine.selectors.filters import flow_q, flow_run_q
from tests.engine.runs_helpers import base, create_flow, create_flow_run

TAGGED = {"a": ["db", "nightly"], "b": ["db"], "c": [], "d": ["nightly", "db", "eu"]}
CASES = [
    ({"tags": {"all_": ["db"]}}, {"a", "b", "d"}),
    ({"tags": {"all_": ["db", "nightly"]}}, {"a", "d"}),
    ({"tags": {"all_": ["nightly", "db", "eu"]}}, {"d"}),
    ({"tags": {"all_": ["missing"]}}, set()),
    ({"tags": {"is_null_": True}}, {"c"}),
    ({"tags": {"is_null_": False}}, {"a", "b", "d"}),
    ({"tags": {"all_": ["eu"], "is_null_": False}}, {"d"}),
    ({"operator": "or_", "tags": {"all_": ["eu"]}, "name": {"any_": ["b"]}}, {"b", "d"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("flow_runs, expected", CASES)
def test_flow_run_tag_filters_on_postgresql(authed_client, workspace, flow_runs, expected):
    flow_id = create_flow(authed_client, workspace)["id"]
    for name, tags in TAGGED.items():
        create_flow_run(authed_client, workspace, flow_id, name=name, tags=tags)
    response = authed_client.post(base(workspace) + "flow_runs/filter", {"flow_runs": flow_runs}, format="json")
    assert response.status_code == 200, response.content
    assert {run["name"] for run in response.json()} == expected


@pytest.mark.django_db
def test_other_resources_tag_filters_on_postgresql(authed_client, workspace):
    for name, tags in TAGGED.items():
        flow = Flow.objects.for_workspace(workspace).create(workspace=workspace, name=name, tags=tags)
        Deployment.objects.for_workspace(workspace).create(workspace=workspace, flow=flow, name=name, tags=tags)
        Variable.objects.for_workspace(workspace).create(workspace=workspace, name=name, value="v", tags=tags)
    body = {"tags": {"all_": ["db", "nightly"]}}
    for path, key in (("flows/filter", "flows"), ("deployments/filter", "deployments"),
                      ("variables/filter", "variables")):
        response = authed_client.post(base(workspace) + path, {key: body}, format="json")
        assert response.status_code == 200, (path, response.content)
        assert {row["name"] for row in response.json()} == {"a", "d"}, path
    runs = authed_client.post(base(workspace) + "flow_runs/filter", {"flows": body}, format="json")
    assert runs.status_code == 200


# --- SQLite --------------------------------------------------------------------------------------------

@pytest.fixture
def sqlite(django_db_blocker):
    """An in-memory SQLite connection (the embedded default's backend), apart from the test database."""
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
    connection = handler["default"]
    with django_db_blocker.unblock():
        yield connection
        connection.close()


def _run_on(connection, model, q, rows: dict[str, list]) -> set[str]:
    """Compile `model.filter(q).values('name')` for `connection` and run it on a table holding only the
    columns it reads, filled with `rows` (name → tags)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
        cursor.execute(f'CREATE TABLE "{table}" ("id" char(32) PRIMARY KEY, "name" text, "tags" text)')
        for name, tags in rows.items():
            cursor.execute(f'INSERT INTO "{table}" ("id", "name", "tags") VALUES (%s, %s, %s)',
                           [uuid.uuid4().hex, name, json.dumps(tags)])
        sql, params = model.all_workspaces.filter(q).values("name").query.get_compiler(connection=connection).as_sql()
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize("flow_runs, expected", CASES)
def test_flow_run_tag_filters_on_sqlite(sqlite, flow_runs, expected):
    assert sqlite.vendor == "sqlite"
    assert _run_on(sqlite, FlowRun, flow_run_q(flow_runs), TAGGED) == expected


def test_flow_tag_filters_on_sqlite(sqlite):
    assert _run_on(sqlite, Flow, flow_q({"tags": {"all_": ["db", "nightly"]}}), TAGGED) == {"a", "d"}


def test_tags_that_look_like_json_or_sql_are_plain_strings_on_sqlite(sqlite):
    odd = {"quote": ["it's"], "json": ['["db"]'], "pct": ["%"]}
    assert _run_on(sqlite, FlowRun, flow_run_q({"tags": {"all_": ["it's"]}}), odd) == {"quote"}
    assert _run_on(sqlite, FlowRun, flow_run_q({"tags": {"all_": ["db"]}}), odd) == set()


def test_contains_all_takes_strings_only_and_names_unsupported_backends():
    with pytest.raises(TypeError):
        FlowRun.all_workspaces.filter(tags__contains_all="db")
    mysql_like = type("C", (), {"vendor": "mysql"})()
    lookup = FlowRun._meta.get_field("tags").get_lookup("contains_all")
    with pytest.raises(NotSupportedError):
        lookup(FlowRun._meta.get_field("tags").get_col("t"), ["db"]).as_sql(None, mysql_like)
