"""Filters on JSON columns on both databases: Prefect's `tags.all_` (flows, flow runs, task runs,
deployments, variables, block capabilities) and events' `related` resources (by id, role, both, labels).
PostgreSQL (the tests' database) through the API; SQLite (the embedded quick start) by compiling the same
Q objects for an in-memory database and running them there."""

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


def _run_on(connection, model, q, rows: dict[str, list], name: str = "name", column: str = "tags") -> set[str]:
    """Compile `model.filter(q).values(name)` for `connection` and run it on a table holding only the
    columns it reads, filled with `rows` (name → the JSON column's value)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
        cursor.execute(f'CREATE TABLE "{table}" ("id" char(32) PRIMARY KEY, "{name}" text, "{column}" text)')
        for key, value in rows.items():
            cursor.execute(f'INSERT INTO "{table}" ("id", "{name}", "{column}") VALUES (%s, %s, %s)',
                           [uuid.uuid4().hex, key, json.dumps(value)])
        sql, params = model.all_workspaces.filter(q).values(name).query.get_compiler(connection=connection).as_sql()
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


# --- events' related resources ---------------------------------------------------------------------------

RUN = "prefect.flow-run.1"
RELATED = {
    "task-event": [{"prefect.resource.id": RUN, "prefect.resource.role": "flow-run"},
                   {"prefect.resource.id": "prefect.flow.9", "prefect.resource.role": "flow", "team": "data"}],
    "other-role": [{"prefect.resource.id": RUN, "prefect.resource.role": "parent"}],
    "unrelated": [{"prefect.resource.id": "prefect.flow.9", "prefect.resource.role": "flow"}],
    "odd": ["prefect.flow-run.1", {"prefect.resource.id": "x", "note": RUN}],
    "none": [],
}
RELATED_CASES = [
    ({"id": [RUN]}, {"task-event", "other-role"}),
    ({"role": ["flow"]}, {"task-event", "unrelated"}),
    ({"resources_in_roles": [[RUN, "flow-run"]]}, {"task-event"}),
    ({"resources_in_roles": [[RUN, "flow"]]}, set()),  # both in one resource, not across two
    ({"labels": {"team": "data"}}, {"task-event"}),
    ({"labels": {"team": ["ops", "data"]}}, {"task-event"}),
    ({"id": [RUN], "role": ["parent"]}, {"other-role"}),
]


@pytest.mark.parametrize("related, expected", RELATED_CASES)
def test_related_filters_on_sqlite(sqlite, related, expected):
    from apps.engine.models import Event
    from apps.engine.selectors.events import _related_q

    assert _run_on(sqlite, Event, _related_q(related), RELATED, name="event", column="related") == expected


@pytest.mark.django_db
@pytest.mark.parametrize("related, expected", RELATED_CASES)
def test_related_filters_on_postgresql(authed_client, workspace, related, expected):
    from datetime import UTC, datetime

    now = datetime.now(UTC).isoformat()
    events = [{"id": str(uuid.uuid4()), "occurred": now, "event": name, "resource": {"prefect.resource.id": "r"},
               "related": value, "payload": {}} for name, value in RELATED.items() if all(
                   isinstance(item, dict) for item in value)]
    assert authed_client.post(base(workspace) + "events", events, format="json").status_code in (200, 201, 204)
    response = authed_client.post(base(workspace) + "events/filter", {"filter": {"related": related}}, format="json")
    assert response.status_code == 200, response.content
    assert {e["event"] for e in response.json()["events"]} == expected


@pytest.mark.django_db
def test_labels_must_be_strings(authed_client, workspace):
    response = authed_client.post(base(workspace) + "events/filter",
                                  {"filter": {"related": {"labels": {"team": 5}}}}, format="json")
    assert response.status_code == 422
