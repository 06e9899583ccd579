"""Each task-run orchestration rule through set_state: cache, terminal states, the enclosing flow run,
tag concurrency slots, retries and renames. One class per rule."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from apps.engine.models import ConcurrencyLimit, TaskRun, TaskRunStateCache
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    set_task_state,
)

pytestmark = pytest.mark.django_db

PERSISTED = {"type": "reference", "artifact_type": "result", "storage_key": "/tmp/result-1"}
UNPERSISTED = {"type": "unpersisted", "artifact_type": "result"}


@pytest.fixture
def flow_run(authed_client, workspace):
    flow = create_flow(authed_client, workspace)
    run = create_flow_run(authed_client, workspace, flow["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    return run


@pytest.fixture
def task(authed_client, workspace, flow_run):
    """task(...) → a new task run of the running flow run (kwargs as create_task_run)."""
    counter = iter(range(1000))

    def make(**kw):
        kw.setdefault("dynamic_key", str(next(counter)))
        return create_task_run(authed_client, workspace, flow_run["id"], **kw)

    return make


def propose(client, ws, run_id, type_, name=None, **kw):
    response = set_task_state(client, ws, run_id, type_, name, **kw)
    assert response.status_code in (200, 201), response.content
    return response.json()


def read(client, ws, run_id) -> dict:
    return client.get(base(ws) + f"task_runs/{run_id}").json()


def last_decision(client, ws, run_id) -> dict:
    return client.get(base(ws) + f"task_runs/{run_id}/decisions").json()[-1]


class TestCache:
    def test_a_second_run_with_the_same_key_gets_the_cached_state(self, authed_client, workspace, task):
        first = task(key="cached-1", cache_key="k")["id"]
        expires = (timezone.now() + datetime.timedelta(minutes=5)).isoformat()
        assert propose(authed_client, workspace, first, "RUNNING", cache_key="k")["status"] == "ACCEPT"
        done = propose(authed_client, workspace, first, "COMPLETED", cache_key="k", cache_expiration=expires,
                       data=PERSISTED)
        assert TaskRunStateCache.objects.for_workspace(workspace).get().task_run_state_id.hex == (
            done["state"]["id"].replace("-", ""))
        second = task(key="cached-1", cache_key="k")["id"]
        response = set_task_state(authed_client, workspace, second, "RUNNING", cache_key="k")
        answer = response.json()
        assert response.status_code == 201
        assert (answer["status"], answer["state"]["type"], answer["state"]["name"]) == ("REJECT", "COMPLETED",
                                                                                        "Cached")
        assert answer["details"] == {"type": "reject_details", "reason": "Retrieved state from cache"}
        assert answer["state"]["data"] == PERSISTED
        assert answer["state"]["id"] != done["state"]["id"]
        assert answer["state"]["state_details"]["task_run_id"] == second
        run = read(authed_client, workspace, second)
        assert (run["state_name"], run["run_count"]) == ("Cached", 0)
        assert last_decision(authed_client, workspace, second)["rule"] == "CacheRetrieval"

    def test_refresh_cache_runs_anyway(self, authed_client, workspace, task):
        first = task(cache_key="k")["id"]
        propose(authed_client, workspace, first, "RUNNING", cache_key="k")
        propose(authed_client, workspace, first, "COMPLETED", cache_key="k", data=PERSISTED)
        second = task(cache_key="k")["id"]
        answer = propose(authed_client, workspace, second, "RUNNING", cache_key="k", refresh_cache=True)
        assert (answer["status"], answer["state"]["type"]) == ("ACCEPT", "RUNNING")

    def test_an_expired_cache_entry_is_ignored(self, authed_client, workspace, task):
        first = task(cache_key="k")["id"]
        propose(authed_client, workspace, first, "RUNNING", cache_key="k")
        expired = (timezone.now() - datetime.timedelta(seconds=1)).isoformat()
        propose(authed_client, workspace, first, "COMPLETED", cache_key="k", cache_expiration=expired,
                data=PERSISTED)
        answer = propose(authed_client, workspace, task(cache_key="k")["id"], "RUNNING", cache_key="k")
        assert answer["status"] == "ACCEPT"

    def test_a_cache_key_of_another_workspace_is_not_shared(self, authed_client, workspace, task, organization):
        from tests.factories.workspaces import WorkspaceFactory

        other = WorkspaceFactory(organization=organization)
        other_run = create_flow_run(authed_client, other, create_flow(authed_client, other)["id"])
        set_flow_state(authed_client, other, other_run["id"], "RUNNING")
        foreign = create_task_run(authed_client, other, other_run["id"], cache_key="shared")["id"]
        propose(authed_client, other, foreign, "RUNNING", cache_key="shared")
        propose(authed_client, other, foreign, "COMPLETED", cache_key="shared", data=PERSISTED)
        answer = propose(authed_client, workspace, task(cache_key="shared")["id"], "RUNNING", cache_key="shared")
        assert answer["status"] == "ACCEPT"


class TestHandleTaskTerminalStateTransitions:
    def test_a_completed_task_with_a_persisted_result_never_runs_again(self, authed_client, workspace, task):
        run_id = task()["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        propose(authed_client, workspace, run_id, "COMPLETED", data=PERSISTED)
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["state"]["type"], answer["details"]["reason"]) == (
            "REJECT", "COMPLETED", "This run is already completed.")

    @pytest.mark.parametrize("target", ["CRASHED", "PAUSED", "CANCELLING"])
    def test_a_finished_task_cannot_crash_pause_or_cancel(self, authed_client, workspace, task, target):
        run_id = task()["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        propose(authed_client, workspace, run_id, "COMPLETED", data=UNPERSISTED)
        answer = propose(authed_client, workspace, run_id, target)
        assert (answer["status"], answer["details"]["reason"]) == ("ABORT", "Run is already COMPLETED.")

    def test_a_failed_task_rerun_by_its_flows_retry_starts_its_retries_afresh(self, authed_client, workspace,
                                                                              flow_run, task):
        run_id = task(retries=0)["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        propose(authed_client, workspace, run_id, "FAILED")
        # the flow retries: its run count goes to 2
        set_flow_state(authed_client, workspace, flow_run["id"], "RUNNING", force=True)
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["state"]["name"]) == ("ACCEPT", "Retrying")
        run = read(authed_client, workspace, run_id)
        assert (run["run_count"], run["flow_run_run_count"]) == (1, 2)


class TestPreventRunningTasksFromStoppedFlows:
    def test_a_task_of_a_flow_that_is_not_running_is_aborted(self, authed_client, workspace, flow_run, task):
        run_id = task()["id"]
        set_flow_state(authed_client, workspace, flow_run["id"], "COMPLETED")
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["details"]["reason"]) == (
            "ABORT", "The enclosing flow must be running to begin task execution.")
        assert read(authed_client, workspace, run_id)["state_type"] == "PENDING"

    def test_a_task_of_a_paused_flow_is_told_to_wait_paused(self, authed_client, workspace, flow_run, task):
        run_id = task()["id"]
        set_flow_state(authed_client, workspace, flow_run["id"], "PAUSED", pause_key="p")
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["state"]["type"], answer["state"]["name"]) == ("REJECT", "PAUSED",
                                                                                        "NotReady")
        assert answer["details"]["reason"] == (f"The flow is paused, new tasks can execute after resuming flow run: "
                                               f"{flow_run['id']}.")


@pytest.fixture
def limit(workspace):
    def make(tag, n):
        return ConcurrencyLimit.objects.for_workspace(workspace).create(workspace=workspace, tag=tag,
                                                                        concurrency_limit=n)
    return make


def slots(workspace, tag) -> list[str]:
    return ConcurrencyLimit.objects.for_workspace(workspace).get(tag=tag).active_slots


class TestTaskConcurrencySlots:
    def test_a_full_limit_makes_the_next_task_wait_until_a_slot_is_free(self, authed_client, workspace, task,
                                                                        limit, settings):
        settings.PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS = 7
        limit("db", 1)
        a, b = task(tags=["db"])["id"], task(tags=["db", "other"])["id"]
        assert propose(authed_client, workspace, a, "RUNNING")["status"] == "ACCEPT"
        assert slots(workspace, "db") == [a]
        response = set_task_state(authed_client, workspace, b, "RUNNING")
        assert response.status_code == 200
        assert response.json()["status"] == "WAIT"
        assert response.json()["details"] == {"type": "wait_details", "delay_seconds": 7,
                                              "reason": "Concurrency limit for the db tag has been reached"}
        assert response.json()["state"]["type"] == "PENDING"
        assert last_decision(authed_client, workspace, b)["rule"] == "SecureTaskConcurrencySlots"
        assert propose(authed_client, workspace, a, "COMPLETED")["status"] == "ACCEPT"
        assert slots(workspace, "db") == []
        assert propose(authed_client, workspace, b, "RUNNING")["status"] == "ACCEPT"
        assert slots(workspace, "db") == [b]

    def test_a_slot_taken_on_one_tag_is_not_kept_when_another_is_full(self, authed_client, workspace, task, limit):
        limit("a", 5)
        limit("b", 1)
        holder = task(tags=["b"])["id"]
        propose(authed_client, workspace, holder, "RUNNING")
        waiting = task(tags=["a", "b"])["id"]
        assert propose(authed_client, workspace, waiting, "RUNNING")["status"] == "WAIT"
        assert slots(workspace, "a") == []

    def test_a_limit_of_zero_aborts(self, authed_client, workspace, task, limit):
        limit("never", 0)
        answer = propose(authed_client, workspace, task(tags=["never"])["id"], "RUNNING")
        assert (answer["status"], answer["details"]["reason"]) == (
            "ABORT", 'The concurrency limit on tag "never" is 0 and will deadlock if the task tries to run again.')

    def test_slots_are_released_on_retry_and_on_failure(self, authed_client, workspace, task, limit):
        limit("db", 1)
        run_id = task(tags=["db"], retries=1)["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        assert propose(authed_client, workspace, run_id, "FAILED")["state"]["name"] == "AwaitingRetry"
        assert slots(workspace, "db") == []
        propose(authed_client, workspace, run_id, "RUNNING")
        assert slots(workspace, "db") == [run_id]
        propose(authed_client, workspace, run_id, "FAILED")
        assert slots(workspace, "db") == []

    def test_a_cached_task_needs_no_slot(self, authed_client, workspace, task, limit):
        first = task(cache_key="c")["id"]
        propose(authed_client, workspace, first, "RUNNING", cache_key="c")
        propose(authed_client, workspace, first, "COMPLETED", cache_key="c", data=PERSISTED)
        limit("db", 0)
        answer = propose(authed_client, workspace, task(tags=["db"], cache_key="c")["id"], "RUNNING", cache_key="c")
        assert answer["state"]["name"] == "Cached"

    def test_a_limit_of_another_workspace_does_not_apply(self, authed_client, workspace, task, organization):
        from tests.factories.workspaces import WorkspaceFactory

        other = WorkspaceFactory(organization=organization)
        ConcurrencyLimit.objects.for_workspace(other).create(workspace=other, tag="db", concurrency_limit=0)
        assert propose(authed_client, workspace, task(tags=["db"])["id"], "RUNNING")["status"] == "ACCEPT"


class TestRetryFailedTasks:
    def test_a_failing_task_with_retries_left_awaits_retry_then_retries(self, authed_client, workspace, task):
        run_id = task(retries=1)["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        answer = propose(authed_client, workspace, run_id, "FAILED", message="transient", retriable=True)
        assert (answer["status"], answer["state"]["type"], answer["state"]["name"]) == (
            "REJECT", "SCHEDULED", "AwaitingRetry")
        assert answer["details"]["reason"] == "Retrying"
        retry = propose(authed_client, workspace, run_id, "RUNNING")
        assert (retry["status"], retry["state"]["name"]) == ("ACCEPT", "Retrying")
        final = propose(authed_client, workspace, run_id, "FAILED")
        assert final["state"]["type"] == "FAILED"
        run = read(authed_client, workspace, run_id)
        assert (run["run_count"], run["state_type"]) == (2, "FAILED")

    def test_a_task_declared_not_retriable_fails(self, authed_client, workspace, task):
        run_id = task(retries=3)["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        assert propose(authed_client, workspace, run_id, "FAILED", retriable=False)["state"]["type"] == "FAILED"

    def test_a_list_of_delays_is_used_per_attempt(self, authed_client, workspace, flow_run):
        run = create_task_run(authed_client, workspace, flow_run["id"], retries=2,
                              empirical_policy={"retries": 2, "retry_delay": [0, 60], "max_retries": 0,
                                                "retry_delay_seconds": 0, "retry_jitter_factor": None})
        propose(authed_client, workspace, run["id"], "RUNNING")
        first = propose(authed_client, workspace, run["id"], "FAILED")
        assert datetime.datetime.fromisoformat(first["state"]["state_details"]["scheduled_time"]) <= timezone.now()
        propose(authed_client, workspace, run["id"], "RUNNING")
        second = propose(authed_client, workspace, run["id"], "FAILED")
        delay = datetime.datetime.fromisoformat(second["state"]["state_details"]["scheduled_time"]) - timezone.now()
        assert 58 <= delay.total_seconds() <= 60
        waiting = propose(authed_client, workspace, run["id"], "RUNNING")
        assert (waiting["status"], waiting["details"]["reason"]) == ("WAIT", "Scheduled time is in the future")


class TestRenameReruns:
    def test_a_task_running_again_after_a_forced_reset_is_rerunning(self, authed_client, workspace, task):
        run_id = task()["id"]
        propose(authed_client, workspace, run_id, "RUNNING")
        set_task_state(authed_client, workspace, run_id, "PENDING", force=True)
        assert propose(authed_client, workspace, run_id, "RUNNING")["state"]["name"] == "Rerunning"


class TestUpdateFlowRunTrackerOnTasks:
    def test_a_running_task_records_its_flows_attempt(self, authed_client, workspace, task):
        run_id = task()["id"]
        assert read(authed_client, workspace, run_id)["flow_run_run_count"] == 0
        propose(authed_client, workspace, run_id, "RUNNING")
        assert TaskRun.objects.for_workspace(workspace).get(pk=run_id).flow_run_run_count == 1


class TestTaskRunCreate:
    def test_create_is_an_upsert_on_flow_run_task_key_and_dynamic_key(self, authed_client, workspace, flow_run):
        first = authed_client.post(base(workspace) + "task_runs/", {
            "flow_run_id": flow_run["id"], "task_key": "t", "dynamic_key": "0", "name": "t-0"}, format="json")
        again = authed_client.post(base(workspace) + "task_runs/", {
            "flow_run_id": flow_run["id"], "task_key": "t", "dynamic_key": "0", "name": "other"}, format="json")
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert again.json()["name"] == "t-0"
        assert again.json()["state"]["type"] == "PENDING"
        assert TaskRun.objects.for_workspace(workspace).count() == 1

    def test_filter_count_read_states_and_delete(self, authed_client, workspace, flow_run, task):
        ids = [task(key=f"k-{i}")["id"] for i in range(3)]
        propose(authed_client, workspace, ids[0], "RUNNING")
        url = base(workspace) + "task_runs/"
        running = authed_client.post(url + "filter", {"task_runs": {"state": {"type": {"any_": ["RUNNING"]}}}},
                                     format="json").json()
        assert [t["id"] for t in running] == [ids[0]]
        assert authed_client.post(url + "count", {"flow_runs": {"id": {"any_": [flow_run["id"]]}}},
                                  format="json").json() == 3
        by_name = authed_client.post(url + "filter", {"sort": "NAME_DESC", "limit": 2}, format="json").json()
        assert [t["name"] for t in by_name] == ["k-2", "k-1"]
        states = authed_client.get(base(workspace) + "task_run_states/", {"task_run_id": ids[0]}).json()
        assert [s["type"] for s in states] == ["PENDING", "RUNNING"]
        assert authed_client.get(base(workspace) + f"task_run_states/{states[1]['id']}").json() == states[1]
        assert authed_client.patch(url + ids[1], {"name": "renamed"}, format="json").status_code == 204
        assert read(authed_client, workspace, ids[1])["name"] == "renamed"
        assert authed_client.delete(url + ids[2]).status_code == 204
        assert authed_client.get(url + ids[2]).status_code == 404

    @pytest.mark.parametrize("body", [
        {"task_key": "t"},
        {"task_key": "t", "dynamic_key": "0", "state": {"type": "BROKEN"}},
        {"task_key": "t", "dynamic_key": "0", "extra": 1},
        {"task_key": "t", "dynamic_key": "0", "empirical_policy": {"retry_delay": ["x"]}},
        {"task_key": "t", "dynamic_key": "0", "empirical_policy": {"retry_delay": list(range(51))}},
    ])
    def test_bad_bodies_are_422_and_create_nothing(self, authed_client, workspace, flow_run, body):
        response = authed_client.post(base(workspace) + "task_runs/", {"flow_run_id": flow_run["id"], **body},
                                      format="json")
        assert response.status_code == 422
        assert not TaskRun.objects.for_workspace(workspace).exists()
