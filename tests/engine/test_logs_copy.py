"""Log batches go from the validated dicts to one COPY (services.logs_create → prepared.insert_rows): the rows
stored are those the former path stored (a Log instance per log, then insert_many), every column, for batches
of 1 to 10,000 logs of odd values; bad values fail as they did and store nothing."""

from __future__ import annotations

import random
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.core import prepared
from apps.engine.models.runs import Log
from apps.engine.schemas.logs import log_batch
from apps.engine.services.logs import logs_create
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db

NAMES = ["", "prefect.flow_runs", "prefect.task_runs", "日志.ünïcødé", "n" * 255, "back\\slash", "tab\there",
         "new\nline", "\\N", "NULL", "null", 'quo"te', "com,ma", "{brace}", " lead and trail ", "\r\n"]
MESSAGES = ["", "Finished in state Completed()", "😀 astral, ✓ bmp, e\u0301 combining, \u200b zero width",
            "\u202eRTL override", "\\", "\\\\N", "\\N", "NULL", "\t\n\r\x0b\x0c", "\x01\x7f\x1b[31mansi",
            "'; DROP TABLE engine_log; --", '{"json": [1, 2]}']
STAMPS = ["2026-11-01T12:00:00+00:00", "2026-11-01T12:00:00.123456Z", "2026-11-01T17:30:00+05:30",
          "2026-11-01T02:00:00-10:00", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+00:00",
          "2026-11-01T12:00:00",  # naive: the serializer makes it aware in the current zone
          "2026-11-01 12:00:00.5+01:00"]


def _id_text(rng: random.Random, value: uuid.UUID) -> str:
    return rng.choice([str(value), value.hex, str(value).upper(), f"{{{value}}}", f"urn:uuid:{value}"])


def _body(n: int, seed: int) -> list[dict]:
    """A `POST logs/` body of `n` logs with odd values, as JSON gives them to the view."""
    rng = random.Random(seed)
    runs = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(5)]
    body = []
    for i in range(n):
        log = {"name": rng.choice(NAMES), "level": rng.choice([-32768, 0, 10, 20, 40, 50, 32767]),
               "message": rng.choice(MESSAGES) + ("" if i % 7 else f" #{i}"), "timestamp": rng.choice(STAMPS)}
        if i == 0 and n < 100:
            log["message"] = "m" * 1_000_000  # the longest a log may be
        elif i % 997 == 5:
            log["message"] = "long " * 14_000
        for key in ("flow_run_id", "task_run_id"):
            pick = rng.random()
            if pick < 0.3:
                log[key] = None
            elif pick < 0.9:
                log[key] = _id_text(rng, rng.choice(runs))
            # else absent: the validators default it to None
        body.append(log)
    return body


def _former_logs_create(*, workspace, logs: list[dict]) -> None:
    """services.logs_create before COPY: a Log per log, one multi-row INSERT per 1,000 (the reference)."""
    rows = [Log(workspace=workspace, name=log["name"], level=log["level"], message=log["message"],
                timestamp=log["timestamp"], flow_run_id=log.get("flow_run_id"), task_run_id=log.get("task_run_id"))
            for log in logs]
    with transaction.atomic():
        prepared.insert_many(rows, batch_size=1000)


_COLUMNS = ("workspace_id", "name", "level", "message", "timestamp", "flow_run_id", "task_run_id")


def _stored(workspace) -> list[tuple]:
    """Every column of the workspace's logs as PostgreSQL renders it (text), in insertion order (created):
    (id, created, updated, [the other columns])."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, created, updated, ARRAY[workspace_id::text, name, level::text, message, timestamp::text, "
            "flow_run_id::text, task_run_id::text] FROM engine_log WHERE workspace_id = %s ORDER BY created, id",
            [workspace.pk])
        return cursor.fetchall()


def _assert_generated_columns(rows: list[tuple], before: datetime, after: datetime) -> None:
    """ids: distinct random (version 4) UUIDs; created/updated: stamped during the call, row by row."""
    ids = [row[0] for row in rows]
    assert len(set(ids)) == len(ids) and {i.version for i in ids} == {4}
    previous = before
    for _, created, updated, _ in rows:
        assert created.utcoffset() == timedelta(0) and previous <= created <= updated <= after
        previous = updated


def _store_both(organization, logs: list[dict]) -> tuple[list, list]:
    former, new = WorkspaceFactory(organization=organization), WorkspaceFactory(organization=organization)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a naive datetime, if the batch holds one: both warn
        start = datetime.now(UTC)
        _former_logs_create(workspace=former, logs=logs)
        middle = datetime.now(UTC)
        assert logs_create(workspace=new, logs=logs) == len(logs)
        end = datetime.now(UTC)
    stored_former, stored_new = _stored(former), _stored(new)
    _assert_generated_columns(stored_former, start, middle)
    _assert_generated_columns(stored_new, middle, end)
    return stored_former, stored_new


@pytest.mark.parametrize("n", [1, 40, 1000, 10_000])
def test_copy_stores_the_rows_the_former_insert_stored(organization, n):
    logs = log_batch(_body(n, seed=n))  # the dicts the view hands over, from the real validators
    assert len(logs) == n
    former, new = _store_both(organization, logs)
    assert len(new) == n
    # Each log's columns, the workspace's id aside (each path wrote its own), in the batch's order.
    assert [row[3][1:] for row in new] == [row[3][1:] for row in former]
    assert {row[3][0] for row in new} != {row[3][0] for row in former}
    # And they are the logs sent, in order: the order a batch reads back in (ties on timestamp by created).
    sent = [(log["name"], str(log["level"]), log["message"], log["flow_run_id"], log["task_run_id"]) for log in logs]
    assert [(r[3][1], r[3][2], r[3][3], r[3][5] and uuid.UUID(r[3][5]), r[3][6] and uuid.UUID(r[3][6]))
            for r in new] == sent


def test_values_the_validators_never_yield_are_prepared_by_the_field(organization):
    """Naive datetimes (made aware in the default zone, with Django's warning), str ids, int-like levels."""
    naive = datetime(2026, 11, 1, 12, 0)
    run = uuid.uuid4()
    logs = [{"name": "n", "level": 20, "message": "naive", "timestamp": naive, "flow_run_id": str(run),
             "task_run_id": run.hex},
            {"name": "n", "level": True, "message": "aware", "timestamp": naive.replace(tzinfo=UTC),
             "flow_run_id": None, "task_run_id": None}]
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        logs_create(workspace=WorkspaceFactory(organization=organization), logs=logs)
    former, new = _store_both(organization, logs)
    assert [row[3][1:] for row in new] == [row[3][1:] for row in former]
    assert new[0][3][4:] == ["2026-11-01 12:00:00+00", str(run), str(run)]


@pytest.mark.parametrize("bad", [{"message": "nul \x00 inside"}, {"name": "n" * 256}, {"level": 40_000}])
def test_a_bad_value_fails_as_the_former_insert_failed_and_stores_nothing(workspace, bad):
    """Values the validator refuses (422) before they get here; at the service both paths raise DataError."""
    good = {"name": "n", "level": 20, "message": "m", "timestamp": datetime.now(UTC), "flow_run_id": None,
            "task_run_id": None}
    logs = [good] * 30 + [{**good, **bad}] + [good] * 9
    for create in (_former_logs_create, logs_create):
        with pytest.raises(DataError), transaction.atomic():
            create(workspace=workspace, logs=logs)
        assert Log.objects.for_workspace(workspace).count() == 0
    assert logs_create(workspace=workspace, logs=[good]) == 1  # the connection is fine afterwards


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_copy_is_all_or_nothing(workspace):
    good = {"name": "n", "level": 20, "message": "m", "timestamp": datetime.now(UTC), "flow_run_id": None,
            "task_run_id": None}
    assert connection.get_autocommit()
    with pytest.raises(DataError):
        logs_create(workspace=workspace, logs=[good] * 500 + [{**good, "name": "n" * 256}])
    assert Log.objects.for_workspace(workspace).count() == 0
    assert logs_create(workspace=workspace, logs=[good] * 3) == 3
    assert Log.objects.for_workspace(workspace).count() == 3


def test_the_copy_is_one_statement_to_query_logging_and_execute_wrappers(organization):
    logs = log_batch(_body(40, seed=7))
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    logged, wrapped, plain = (WorkspaceFactory(organization=organization) for _ in range(3))
    with CaptureQueriesContext(connection) as captured:
        assert logs_create(workspace=logged, logs=logs) == 40
    assert [q["sql"][:24] for q in captured.captured_queries] == ['COPY "engine_log" ("id",']
    with connection.execute_wrapper(wrapper):
        assert logs_create(workspace=wrapped, logs=logs) == 40
    assert len(seen) == 1 and seen[0].startswith('COPY "engine_log"')
    assert logs_create(workspace=plain, logs=logs) == 40  # the raw cursor
    assert [r[3][1:] for r in _stored(logged)] == [r[3][1:] for r in _stored(wrapped)] == [
        r[3][1:] for r in _stored(plain)]


def test_the_path_without_postgresql_stores_the_same_rows(organization, monkeypatch):
    """The embedded (SQLite) path: Log instances and insert_many, as before; here run on PostgreSQL by hiding
    the vendor."""
    logs = log_batch(_body(40, seed=3))
    copied = WorkspaceFactory(organization=organization)
    logs_create(workspace=copied, logs=logs)
    monkeypatch.setattr(connection, "vendor", "sqlite-like")
    inserted = WorkspaceFactory(organization=organization)
    with CaptureQueriesContext(connection) as captured:
        assert logs_create(workspace=inserted, logs=logs) == 40
    assert any(q["sql"].startswith('INSERT INTO "engine_log"') for q in captured.captured_queries)
    monkeypatch.undo()
    assert [r[3][1:] for r in _stored(inserted)] == [r[3][1:] for r in _stored(copied)]


def test_insert_rows_refuses_fields_it_would_not_write_as_given(workspace):
    row = ("n", 20, "m", datetime.now(UTC), None, None)
    names = ("name", "level", "message", "timestamp", "flow_run_id", "task_run_id")
    with pytest.raises(ValueError, match="stamped by its pre_save"):
        prepared.insert_rows(Log, (*names, "created"), [(*row, datetime.now(UTC))], same={"workspace": workspace.pk})
    with pytest.raises(ValueError, match="repeated"):
        prepared.insert_rows(Log, (*names, "name"), [(*row, "x")], same={"workspace_id": workspace.pk})
    with pytest.raises(ValueError, match="each of"):
        prepared.insert_rows(Log, names, [row, row[:-1]], same={"workspace_id": workspace.pk})
    assert Log.objects.for_workspace(workspace).count() == 0


def test_the_serializers_validated_data_is_stored_as_the_flat_validators(organization):
    """Bodies the flat checks leave to the serializer come as its validated data: run ids absent from the body
    are there too (None), so the row getter finds every field."""
    from apps.engine.schemas.logs import LogCreateBatch

    body = _body(40, seed=11)
    assert any("flow_run_id" not in log for log in body) and any("task_run_id" not in log for log in body)
    serializer = LogCreateBatch(data=body)
    assert serializer.is_valid(), serializer.errors
    by_serializer, by_flat = (WorkspaceFactory(organization=organization) for _ in range(2))
    assert logs_create(workspace=by_serializer, logs=serializer.validated_data) == 40
    assert logs_create(workspace=by_flat, logs=log_batch(body)) == 40
    assert [r[3][1:] for r in _stored(by_serializer)] == [r[3][1:] for r in _stored(by_flat)]
