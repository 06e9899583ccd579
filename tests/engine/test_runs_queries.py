"""Query counts of the hot run endpoints. A request pays 3 for authentication, the workspace and the caller's
access the first time a process sees that key and workspace, and none while they are in the per-process
auth cache (apps/core/authcache.py); the counts below include them (and the test transaction's
SAVEPOINT/RELEASE pair)."""

from __future__ import annotations

import pytest

from apps.engine.services import task_run_state_cache
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    set_task_state,
)

pytestmark = pytest.mark.django_db
REQUEST = 0  # API key, workspace and effective access: cached after the fixtures' first request
COLD = 3  # the same, read from the database: API key, workspace, effective access
ATOMIC = 2  # SAVEPOINT + RELEASE inside the test's transaction


@pytest.fixture
def running_flow_run(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    return run


def test_first_request_of_a_key_reads_key_workspace_and_access_then_none(authed_client, workspace,
                                                                          django_assert_num_queries):
    from apps.core import authcache

    flow = create_flow(authed_client, workspace)
    authcache.clear()
    with django_assert_num_queries(COLD + 1):
        create_flow_run(authed_client, workspace, flow["id"])
    with django_assert_num_queries(1):
        create_flow_run(authed_client, workspace, flow["id"])


def test_flow_run_create_queries(authed_client, workspace, django_assert_num_queries):
    flow = create_flow(authed_client, workspace)
    # One statement: the run and its state, inserted if the flow is in the workspace; no transaction.
    with django_assert_num_queries(REQUEST + 1) as captured:
        create_flow_run(authed_client, workspace, flow["id"])
    assert not any("SAVEPOINT" in q["sql"] for q in captured.captured_queries)
    # With an idempotency key the same statement (and the decision row); a retry reads the first run back.
    with django_assert_num_queries(REQUEST + 1):
        first = create_flow_run(authed_client, workspace, flow["id"], idempotency_key="k")
    with django_assert_num_queries(REQUEST + 2):
        assert create_flow_run(authed_client, workspace, flow["id"], idempotency_key="k")["id"] == first["id"]
    # A subflow: its parent task run's existence check, then in a transaction its first state mirrored onto
    # that task run (the locked read and the write of a set_state), then the statement.
    task = create_task_run(authed_client, workspace, first["id"])
    with django_assert_num_queries(REQUEST + 1 + ATOMIC + 3):
        create_flow_run(authed_client, workspace, flow["id"], parent_task_run_id=task["id"])


def test_flow_create_queries(authed_client, workspace, django_assert_num_queries):
    create_flow(authed_client, workspace, name="warm-up")  # the key, workspace and access cached
    # A new name: the read by name, then in a transaction the insert (nothing on a conflict) and the read back.
    with django_assert_num_queries(REQUEST + 1 + ATOMIC + 2):
        first = create_flow(authed_client, workspace, name="etl")
    # The client's create before every flow run of a flow that exists: the read by name only, no transaction.
    with django_assert_num_queries(REQUEST + 1) as captured:
        assert create_flow(authed_client, workspace, name="etl")["id"] == first["id"]
    assert not any("SAVEPOINT" in q["sql"] or "INSERT" in q["sql"] for q in captured.captured_queries)


def test_flow_run_set_state_queries(authed_client, workspace, django_assert_num_queries, no_set_state_cache):
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    # optimistic, no transaction: one query reads the run with its state, unlocked; one inserts the state, updates
    # the run and inserts the decision if the run's state and the other columns its rules read are unchanged
    for target in ("RUNNING", "COMPLETED"):
        with django_assert_num_queries(REQUEST + 2) as captured:
            assert set_flow_state(authed_client, workspace, run["id"], target).status_code == 201
        assert not any("SAVEPOINT" in q["sql"] or "FOR UPDATE" in q["sql"] for q in captured.captured_queries)
    # a decision that writes nothing (an abort: a Completed run does not crash), the same way
    with django_assert_num_queries(REQUEST + 2):
        assert set_flow_state(authed_client, workspace, run["id"], "CRASHED").json()["status"] == "ABORT"


def test_flow_run_set_state_queries_from_the_process_copy(authed_client, workspace, django_assert_num_queries):
    task_run_state_cache.clear()
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    # the create left the run in this process's copy: one compare-and-swap statement each, nothing read
    for target in ("RUNNING", "COMPLETED"):
        with django_assert_num_queries(REQUEST + 1) as captured:
            assert set_flow_state(authed_client, workspace, run["id"], target).status_code == 201
        (write,) = [q["sql"] for q in captured.captured_queries]
        # the workspace and the ten columns the flow policies read (the state id among them)
        assert write.startswith("WITH g AS (UPDATE") and write.count("IS NOT DISTINCT FROM") == 11
    # a Completed run is no longer copied: read again for this abort
    with django_assert_num_queries(REQUEST + 2):
        assert set_flow_state(authed_client, workspace, run["id"], "CRASHED").json()["status"] == "ABORT"
    # a subflow's states are mirrored onto its parent's task run: the locked way at once, after the read
    parent = create_flow_run(authed_client, workspace, run["flow_id"])
    task = create_task_run(authed_client, workspace, parent["id"])
    subflow = create_flow_run(authed_client, workspace, run["flow_id"], parent_task_run_id=task["id"])
    with django_assert_num_queries(REQUEST + 1 + ATOMIC + 2 + 2) as captured:
        assert set_flow_state(authed_client, workspace, subflow["id"], "RUNNING").status_code == 201
    assert sum("FOR UPDATE" in q["sql"] for q in captured.captured_queries) == 2  # the run's, its parent task's


def test_task_run_create_queries(authed_client, workspace, running_flow_run, django_assert_num_queries):
    # one statement: insert run and state if the flow run is in the workspace, nothing on a conflict
    with django_assert_num_queries(REQUEST + 1):
        create_task_run(authed_client, workspace, running_flow_run["id"])
    # the same task run again: that statement (inserting nothing), then read the existing one back
    with django_assert_num_queries(REQUEST + 2):
        create_task_run(authed_client, workspace, running_flow_run["id"])


@pytest.fixture
def no_set_state_cache(monkeypatch):
    monkeypatch.setattr(task_run_state_cache, "ENABLED", False)


def test_task_run_set_state_queries(authed_client, workspace, running_flow_run, django_assert_num_queries,
                                    no_set_state_cache):
    task = create_task_run(authed_client, workspace, running_flow_run["id"])
    # optimistic, no transaction (no SAVEPOINT here, no BEGIN/COMMIT in production): one query reads the task
    # run with its state, its flow run and that run's state, unlocked; one writes if the state is unchanged
    for target in ("RUNNING", "COMPLETED"):
        with django_assert_num_queries(REQUEST + 2) as captured:
            assert set_task_state(authed_client, workspace, task["id"], target).json()["status"] == "ACCEPT"
        assert not any("SAVEPOINT" in q["sql"] or "FOR UPDATE" in q["sql"] for q in captured.captured_queries)
    # a decision that writes nothing (an abort: Completed does not crash) is written the same way
    with django_assert_num_queries(REQUEST + 2):
        assert set_task_state(authed_client, workspace, task["id"], "CRASHED").json()["status"] == "ABORT"


def test_task_run_set_state_queries_from_the_process_copy(authed_client, workspace, running_flow_run,
                                                         django_assert_num_queries):
    task_run_state_cache.clear()
    first = create_task_run(authed_client, workspace, running_flow_run["id"])
    # the create left the task run in this process's copy, but not its flow run: read, then write
    with django_assert_num_queries(REQUEST + 2):
        assert set_task_state(authed_client, workspace, first["id"], "RUNNING").json()["status"] == "ACCEPT"
    # from the copy: the one compare-and-swap statement (on both runs' state ids), nothing read
    with django_assert_num_queries(REQUEST + 1) as captured:
        assert set_task_state(authed_client, workspace, first["id"], "COMPLETED").json()["status"] == "ACCEPT"
    (write,) = [q["sql"] for q in captured.captured_queries if "UPDATE" in q["sql"]]
    # the task run's state id, its workspace (unindexed: the generic plan takes the primary key), the flow run's
    assert write.count("IS NOT DISTINCT FROM") == 3 and "SAVEPOINT" not in write
    # a Completed run is no longer copied (nothing follows, as a rule): read again for this abort
    with django_assert_num_queries(REQUEST + 2):
        assert set_task_state(authed_client, workspace, first["id"], "CRASHED").json()["status"] == "ABORT"
    # the next task of the flow run: its create and the first task's read copied everything it needs
    second = create_task_run(authed_client, workspace, running_flow_run["id"], dynamic_key="1")
    for target in ("RUNNING", "COMPLETED"):
        with django_assert_num_queries(REQUEST + 1):
            assert set_task_state(authed_client, workspace, second["id"], target).json()["status"] == "ACCEPT"


def test_filters_do_not_query_per_run(authed_client, workspace, running_flow_run, django_assert_num_queries):
    for i in range(5):
        create_task_run(authed_client, workspace, running_flow_run["id"], dynamic_key=str(i))
        create_flow_run(authed_client, workspace, running_flow_run["flow_id"])
    with django_assert_num_queries(REQUEST + 1):
        runs = authed_client.post(base(workspace) + "flow_runs/filter", {}, format="json").json()
    assert len(runs) == 6 and all(r["state"] for r in runs)
    with django_assert_num_queries(REQUEST + 1):
        tasks = authed_client.post(base(workspace) + "task_runs/filter",
                                   {"flow_runs": {"id": {"any_": [running_flow_run["id"]]}}}, format="json").json()
    assert len(tasks) == 5 and all(t["state"] for t in tasks)
