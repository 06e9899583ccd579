"""PreparedQuery (apps/core/prepared.py) builds exactly what its queryset builds, scoped the same way."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import prepared
from apps.engine.models.runs import FlowRun, Log, TaskRun
from apps.engine.selectors.flow_runs import FLOW_RUN_RELATED, flow_run_exists, flow_run_get
from apps.engine.selectors.flows import flow_exists
from apps.engine.selectors.task_runs import task_run_get, task_run_get_for_update
from tests.engine.runs_helpers import create_flow, create_flow_run, create_task_run, set_flow_state
from tests.factories.workspaces import WorkspaceFactory

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_the_lock_query_returns_the_run_its_state_its_flow_run_and_that_runs_state(authed_client, workspace):
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    task_id = uuid.UUID(create_task_run(authed_client, workspace, run["id"])["id"])
    expected = (TaskRun.objects.for_workspace(workspace).select_related("state", "flow_run", "flow_run__state")
                .get(pk=task_id))
    with transaction.atomic():
        got = task_run_get_for_update(workspace=workspace, task_run_id=task_id)
        again = task_run_get_for_update(workspace=workspace, task_run_id=task_id)  # the compiled form
    for a, b in ((got, expected), (again, expected), (got.state, expected.state), (got.flow_run, expected.flow_run),
                 (got.flow_run.state, expected.flow_run.state)):
        assert type(a) is type(b) and _fields(a) == _fields(b)
    assert got.flow_run.state.type == "RUNNING"


def test_another_workspaces_run_or_a_missing_one_is_none(authed_client, workspace, organization):
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    task_id = uuid.UUID(create_task_run(authed_client, workspace, run["id"])["id"])
    other = WorkspaceFactory(organization=organization)
    with transaction.atomic():
        assert task_run_get_for_update(workspace=other, task_run_id=task_id) is None
        assert task_run_get_for_update(workspace=workspace, task_run_id=uuid.uuid4()) is None
        assert task_run_get_for_update(workspace=workspace, task_run_id=task_id) is not None


def test_a_flow_run_read_matches_the_queryset_with_and_without_a_work_queue(authed_client, workspace):
    from apps.engine.models.runs import FlowRun
    from apps.engine.selectors.flow_runs import FLOW_RUN_RELATED, flow_run_get

    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    expected = FlowRun.objects.for_workspace(workspace).select_related(*FLOW_RUN_RELATED).get(pk=run_id)
    got = flow_run_get(workspace=workspace, flow_run_id=run_id)
    assert _fields(got) == _fields(expected) and _fields(got.state) == _fields(expected.state)
    assert got.work_queue is None and expected.work_queue is None
    assert flow_run_get(workspace=WorkspaceFactory(organization=workspace.organization), flow_run_id=run_id) is None


def test_the_compiled_reads_of_one_run_match_their_querysets_and_stay_in_their_workspace(
        authed_client, workspace, organization):
    flow_id = create_flow(authed_client, workspace)["id"]
    run = create_flow_run(authed_client, workspace, flow_id)
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    run_id = uuid.UUID(run["id"])
    task_id = uuid.UUID(create_task_run(authed_client, workspace, run["id"])["id"])
    flow_expected = FlowRun.objects.for_workspace(workspace).select_related(*FLOW_RUN_RELATED).get(pk=run_id)
    task_expected = TaskRun.objects.for_workspace(workspace).select_related("state").get(pk=task_id)
    for _ in range(2):  # compiled on the first call, reused on the second
        flow_got = flow_run_get(workspace=workspace, flow_run_id=run_id)
        task_got = task_run_get(workspace=workspace, task_run_id=task_id)
        assert _fields(flow_got) == _fields(flow_expected) and _fields(flow_got.state) == _fields(flow_expected.state)
        assert flow_got.work_queue is None
        assert _fields(task_got) == _fields(task_expected) and _fields(task_got.state) == _fields(task_expected.state)
    assert flow_run_exists(workspace=workspace, flow_run_id=run_id)
    assert flow_exists(workspace=workspace, flow_id=uuid.UUID(flow_id))
    other = WorkspaceFactory(organization=organization)
    assert flow_run_get(workspace=other, flow_run_id=run_id) is None
    assert task_run_get(workspace=other, task_run_id=task_id) is None
    assert not flow_run_exists(workspace=other, flow_run_id=run_id)
    assert not flow_exists(workspace=other, flow_id=uuid.UUID(flow_id))
    assert not flow_run_exists(workspace=workspace, flow_run_id=uuid.uuid4())


def test_insert_many_stores_what_bulk_create_stores_in_batches(workspace, django_assert_num_queries):
    now = timezone.now()
    rows = [Log(workspace=workspace, name=f"n{i}", level=20, message=f"m{i}", timestamp=now,
                flow_run_id=uuid.uuid4() if i % 2 else None, task_run_id=None) for i in range(5)]
    with django_assert_num_queries(3):  # 2 + 2 + 1 rows
        prepared.insert_many(rows, batch_size=2)
    stored = {log.pk: log for log in Log.objects.for_workspace(workspace)}
    assert set(stored) == {row.pk for row in rows}
    for row in rows:
        log = stored[row.pk]
        assert (log.name, log.level, log.message, log.timestamp, log.flow_run_id, log.task_run_id) == (
            row.name, row.level, row.message, row.timestamp, row.flow_run_id, row.task_run_id)
        assert log.created is not None and log.updated is not None and log.workspace_id == workspace.pk
        assert not row._state.adding


def test_typed_values_and_several_rows_read_as_their_queryset_reads_them(authed_client, workspace):
    flow_id = create_flow(authed_client, workspace)["id"]
    for _ in range(3):
        create_flow_run(authed_client, workspace, flow_id)
    since = timezone.now() - datetime.timedelta(hours=1)
    query = prepared.PreparedQuery(
        lambda ws, flow, name, at, n: FlowRun.objects.for_workspace(ws).select_related("state")
        .filter(flow_id=flow, created__gte=at, run_count__lt=n).exclude(name=name).order_by("created", "id"),
        types=(uuid.UUID, uuid.UUID, str, datetime.datetime, int))
    expected = list(FlowRun.objects.for_workspace(workspace).select_related("state").filter(flow_id=flow_id)
                    .order_by("created", "id"))
    for _ in range(2):  # compiled on the first call, reused on the second
        got = query.all(workspace.pk, flow_id, "no such name", since, 1)
        assert [_fields(r) for r in got] == [_fields(r) for r in expected] and len(got) == 3
        assert [_fields(r.state) for r in got] == [_fields(r.state) for r in expected]
    assert query.all(workspace.pk, flow_id, expected[0].name, since, 1) == expected[1:]
    assert query.all(workspace.pk, flow_id, "x", timezone.now() + datetime.timedelta(hours=1), 1) == []
    assert query.all(workspace.pk, flow_id, "x", since, 0) == []
    assert query.all(WorkspaceFactory(organization=workspace.organization).pk, flow_id, "x", since, 1) == []


@pytest.fixture(params=["postgresql", "other"])
def vendor(request, monkeypatch):
    """Both paths of the multi-row writes: one statement (PostgreSQL) and one by one (the SQLite path,
    here run on PostgreSQL by hiding the vendor)."""
    from django.db import connection

    if request.param == "other":
        monkeypatch.setattr(connection, "vendor", "sqlite-like")
    return request.param


def test_insert_if_inserts_the_run_and_its_state_only_into_a_flow_run_of_the_workspace(
        authed_client, workspace, organization, vendor):
    from apps.core.errors import NotFound
    from apps.engine.models.runs import TaskRunState
    from apps.engine.services.task_runs import task_run_create

    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    other = WorkspaceFactory(organization=organization)
    with pytest.raises(NotFound):
        task_run_create(workspace=other, flow_run_id=run_id, task_key="k", dynamic_key="0")
    assert not TaskRun.all_workspaces.filter(flow_run_id=run_id).exists()
    created, new = task_run_create(workspace=workspace, flow_run_id=run_id, task_key="k", dynamic_key="0")
    again, new_again = task_run_create(workspace=workspace, flow_run_id=run_id, task_key="k", dynamic_key="0")
    assert (new, new_again) == (True, False) and again.pk == created.pk and again.state_id == created.state_id
    row = TaskRun.all_workspaces.select_related("state").get(pk=created.pk)
    assert row.workspace_id == workspace.pk and row.state.type == "PENDING" and row.state.task_run_id == row.pk
    assert TaskRunState.all_workspaces.filter(task_run_id=row.pk).count() == 1


def test_write_together_writes_states_decisions_and_the_run_or_raises_for_a_missing_run(
        authed_client, workspace, vendor):
    from django.db import DatabaseError

    from apps.engine.models.runs import FlowRunState, OrchestrationDecision

    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    assert set_flow_state(authed_client, workspace, str(run_id), "RUNNING").status_code == 201
    run = FlowRun.all_workspaces.select_related("state").get(pk=run_id)
    assert run.state.type == "RUNNING" and run.run_count == 1
    assert FlowRunState.all_workspaces.filter(flow_run_id=run_id).count() == 2
    assert OrchestrationDecision.all_workspaces.filter(flow_run_id=run_id).get().state_id == run.state_id
    gone = FlowRun(id=uuid.uuid4(), workspace_id=workspace.pk)
    with transaction.atomic(), pytest.raises(DatabaseError):
        prepared.write_together([], gone, ["name"])


def test_statements_use_the_raw_cursor_unless_queries_are_logged_and_raise_djangos_errors(authed_client, workspace):
    from django.db import IntegrityError, connection
    from django.test.utils import CaptureQueriesContext

    from apps.engine.models.runs import FlowRunState

    run_id = uuid.UUID(create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])["id"])
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)
    assert prepared.cursor_for(connection) is prepared.cursor_for(connection)
    with CaptureQueriesContext(connection) as captured:
        assert not isinstance(prepared.cursor_for(connection), prepared._RawCursor)
        assert flow_run_get(workspace=workspace, flow_run_id=run_id) is not None
    assert len(captured) == 1
    state = FlowRunState.all_workspaces.get(flow_run_id=run_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        prepared.insert(state)  # its id is taken
    assert flow_run_get(workspace=workspace, flow_run_id=run_id).state_id == state.pk  # the connection works on
