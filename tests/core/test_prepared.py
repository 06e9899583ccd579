"""PreparedQuery (apps/core/prepared.py) builds exactly what its queryset builds, scoped the same way."""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from apps.engine.models.runs import TaskRun
from apps.engine.selectors.task_runs import task_run_get_for_update
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
