"""Each flow-run orchestration rule, through set_state as the client calls it: accept, reject, wait and
abort paths, and the bookkeeping every written state does. One class per rule."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from apps.engine.models import Deployment, FlowRun, FlowRunState, OrchestrationDecision
from tests.engine.runs_helpers import (
    base,
    create_flow,
    create_flow_run,
    create_task_run,
    set_flow_state,
    state,
)

pytestmark = pytest.mark.django_db

PERSISTED = {"type": "reference", "artifact_type": "result", "storage_key": "/tmp/x"}
UNPERSISTED = {"type": "unpersisted", "artifact_type": "result"}


@pytest.fixture
def run_in(authed_client, workspace):
    """run_in("RUNNING", ...) → a flow run forced into that state; returns its id."""
    flow_id = create_flow(authed_client, workspace)["id"]

    def make(type_=None, name=None, *, retries=0, retry_delay=0, **details):
        run = create_flow_run(authed_client, workspace, flow_id, retries=retries, retry_delay=retry_delay)
        if type_ is not None:
            data = details.pop("data", None)
            answer = set_flow_state(authed_client, workspace, run["id"], type_, name, force=True, data=data, **details)
            assert answer.json()["status"] == "ACCEPT", answer.json()
        return run["id"]

    return make


def propose(client, ws, run_id, type_, name=None, **kw):
    response = set_flow_state(client, ws, run_id, type_, name, **kw)
    assert response.status_code in (200, 201), response.content
    return response.json()


def read(client, ws, run_id) -> dict:
    return client.get(base(ws) + f"flow_runs/{run_id}").json()


def decisions(client, ws, run_id) -> list[dict]:
    return client.get(base(ws) + f"flow_runs/{run_id}/decisions").json()


def states_of(run_id) -> list[str]:
    return list(FlowRunState.all_workspaces.filter(flow_run_id=run_id).order_by("timestamp")
                .values_list("name", flat=True))


class TestPreventDuplicateTransitions:
    def test_a_retried_request_with_the_same_transition_id_changes_nothing(self, authed_client, workspace, run_in):
        run_id = run_in()
        tid = str(uuid.uuid4())
        first = set_flow_state(authed_client, workspace, run_id, "RUNNING", transition_id=tid)
        again = set_flow_state(authed_client, workspace, run_id, "RUNNING", transition_id=tid)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["status"] == "REJECT"
        assert again.json()["details"] == {"type": "reject_details",
                                           "reason": "This run has already made this state transition."}
        assert again.json()["state"]["id"] == first.json()["state"]["id"]
        assert read(authed_client, workspace, run_id)["run_count"] == 1
        assert states_of(run_id) == ["Pending", "Running"]

    def test_a_different_transition_id_is_orchestrated_normally(self, authed_client, workspace, run_in):
        run_id = run_in()
        propose(authed_client, workspace, run_id, "RUNNING", transition_id=str(uuid.uuid4()))
        done = propose(authed_client, workspace, run_id, "COMPLETED", transition_id=str(uuid.uuid4()))
        assert done["status"] == "ACCEPT"


class TestHandleFlowTerminalStateTransitions:
    @pytest.mark.parametrize("target", ["CANCELLING", "PAUSED", "CRASHED"])
    def test_a_finished_run_cannot_be_cancelled_paused_or_crashed(self, authed_client, workspace, run_in, target):
        run_id = run_in("FAILED")
        answer = propose(authed_client, workspace, run_id, target)
        assert answer["status"] == "ABORT"
        assert answer["details"]["reason"] == "Run is already in terminal state FAILED."
        assert read(authed_client, workspace, run_id)["state_type"] == "FAILED"

    def test_a_completed_run_with_a_persisted_result_never_runs_again(self, authed_client, workspace, run_in):
        run_id = run_in("COMPLETED", data=PERSISTED)
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", "COMPLETED")
        assert answer["details"]["reason"] == "Run is already COMPLETED."

    def test_a_completed_run_without_a_persisted_result_may_rerun(self, authed_client, workspace, run_in):
        run_id = run_in("COMPLETED", data=UNPERSISTED)
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert answer["status"] == "ACCEPT"
        run = read(authed_client, workspace, run_id)
        assert run["end_time"] is None
        assert run["empirical_policy"]["retry_type"] is None

    def test_rescheduling_needs_a_deployment(self, authed_client, workspace, run_in):
        run_id = run_in("FAILED")
        answer = propose(authed_client, workspace, run_id, "SCHEDULED")
        assert answer["status"] == "ABORT"
        assert answer["details"]["reason"] == "Cannot reschedule a run without an associated deployment."

    def test_force_bypasses_the_rules(self, authed_client, workspace, run_in):
        run_id = run_in("COMPLETED", data=PERSISTED)
        answer = propose(authed_client, workspace, run_id, "RUNNING", force=True)
        assert answer["status"] == "ACCEPT"
        assert decisions(authed_client, workspace, run_id)[-1]["rule"] == "MinimalFlowPolicy"


class TestCancellation:
    def test_cancelling_from_running_then_cancelled(self, authed_client, workspace, run_in):
        run_id = run_in("RUNNING")
        assert propose(authed_client, workspace, run_id, "CANCELLING")["status"] == "ACCEPT"
        rejected = propose(authed_client, workspace, run_id, "COMPLETED")
        assert (rejected["status"], rejected["state"]["type"]) == ("REJECT", "CANCELLING")
        assert rejected["details"]["reason"] == ("Cannot transition flows that are cancelling to a state other "
                                                 "than Cancelled.")
        assert propose(authed_client, workspace, run_id, "CANCELLED")["status"] == "ACCEPT"
        assert read(authed_client, workspace, run_id)["state_type"] == "CANCELLED"
        assert [d["rule"] for d in decisions(authed_client, workspace, run_id)][-2:] == [
            "EnforceCancellingToCancelledTransition", "CoreFlowPolicy"]

    @pytest.mark.parametrize("start", ["PENDING", "RUNNING"])
    def test_cancelling_is_allowed_from_running_and_pending(self, authed_client, workspace, run_in, start):
        run_id = run_in(start)
        assert propose(authed_client, workspace, run_id, "CANCELLING")["status"] == "ACCEPT"

    def test_a_paused_run_is_not_cancelling_as_in_prefect(self, authed_client, workspace, run_in):
        # Prefect 2.20 refuses Paused -> Cancelling unless the run is suspended (then it is Cancelled).
        answer = propose(authed_client, workspace, run_in("PAUSED"), "CANCELLING")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", "PAUSED")

    def test_a_scheduled_run_without_infrastructure_is_cancelled_directly(self, authed_client, workspace, run_in):
        run_id = run_in("SCHEDULED")
        answer = propose(authed_client, workspace, run_id, "CANCELLING")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", "CANCELLED")
        assert answer["details"]["reason"] == "Scheduled flow run has no infrastructure to terminate."

    def test_a_scheduled_run_with_infrastructure_goes_through_cancelling(self, authed_client, workspace, run_in):
        run_id = run_in("SCHEDULED")
        authed_client.patch(base(workspace) + f"flow_runs/{run_id}", {"infrastructure_pid": "h:1"}, format="json")
        assert propose(authed_client, workspace, run_id, "CANCELLING")["state"]["type"] == "CANCELLING"


class TestPreventPendingTransitions:
    @pytest.mark.parametrize("start", ["PENDING", "RUNNING"])
    def test_a_second_submitter_is_aborted(self, authed_client, workspace, run_in, start):
        run_id = run_in(start)
        answer = propose(authed_client, workspace, run_id, "PENDING")
        assert answer["status"] == "ABORT"
        assert answer["details"]["reason"] == (f"This run is in a {start} state and cannot transition to a "
                                               "PENDING state.")
        assert read(authed_client, workspace, run_id)["state_type"] == start

    @pytest.mark.parametrize("start", ["CANCELLING", "CANCELLED"])
    def test_a_cancelled_run_is_never_submitted_again(self, authed_client, workspace, run_in, start):
        run_id = run_in(start)
        answer = propose(authed_client, workspace, run_id, "PENDING")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", start)
        assert decisions(authed_client, workspace, run_id)[-1]["rule"] == "EnforceCancellingToCancelledTransition"

    def test_scheduled_to_pending_is_accepted_once(self, authed_client, workspace, run_in):
        run_id = run_in("SCHEDULED")
        assert propose(authed_client, workspace, run_id, "PENDING")["status"] == "ACCEPT"
        assert propose(authed_client, workspace, run_id, "PENDING")["status"] == "ABORT"


class TestEnsureOnlyScheduledFlowsMarkedLate:
    def test_only_scheduled_runs_become_late(self, authed_client, workspace, run_in):
        pending = run_in()
        answer = propose(authed_client, workspace, pending, "SCHEDULED", "Late")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", "PENDING")
        scheduled = run_in("SCHEDULED")
        assert propose(authed_client, workspace, scheduled, "SCHEDULED", "Late")["status"] == "ACCEPT"


class TestPausingAndResuming:
    def test_pause_then_resume_through_the_api(self, authed_client, workspace, run_in):
        run_id = run_in("RUNNING")
        paused = propose(authed_client, workspace, run_id, "PAUSED", pause_key="k1",
                         pause_timeout=(timezone.now() + datetime.timedelta(hours=1)).isoformat())
        assert paused["status"] == "ACCEPT"
        assert read(authed_client, workspace, run_id)["empirical_policy"]["pause_keys"] == ["k1"]
        resumed = authed_client.post(base(workspace) + f"flow_runs/{run_id}/resume", {}, format="json")
        assert (resumed.status_code, resumed.json()["status"], resumed.json()["state"]["type"]) == (
            201, "ACCEPT", "RUNNING")
        run = read(authed_client, workspace, run_id)
        # As in Prefect 2.20: resuming in process enters Running again (counted) and marks the run as
        # resuming, so a rescheduled (suspended) run is not counted twice when its worker starts it.
        assert (run["run_count"], run["empirical_policy"]["resuming"]) == (2, True)
        # the same pause key cannot fire twice
        again = propose(authed_client, workspace, run_id, "PAUSED", pause_key="k1")
        assert (again["status"], again["details"]["reason"]) == ("REJECT", "This pause has already fired.")

    def test_resume_of_a_run_that_is_not_paused_is_aborted(self, authed_client, workspace, run_in):
        run_id = run_in("RUNNING")
        answer = authed_client.post(base(workspace) + f"flow_runs/{run_id}/resume", {}, format="json").json()
        assert answer == {"state": None, "status": "ABORT",
                          "details": {"type": "abort_details",
                                      "reason": "Cannot resume a flow run that is not paused."}}

    def test_only_running_flows_pause(self, authed_client, workspace, run_in):
        answer = propose(authed_client, workspace, run_in(), "PAUSED")
        assert (answer["status"], answer["details"]["reason"]) == (
            "REJECT", "Cannot pause flows that are not currently running.")

    def test_suspending_needs_a_deployment(self, authed_client, workspace, run_in):
        answer = propose(authed_client, workspace, run_in("RUNNING"), "PAUSED", "Suspended", pause_reschedule=True)
        assert (answer["status"], answer["details"]["reason"]) == (
            "ABORT", "Cannot suspend flows without a deployment.")

    def test_a_paused_run_cannot_go_back_to_pending(self, authed_client, workspace, run_in):
        answer = propose(authed_client, workspace, run_in("PAUSED"), "PENDING")
        assert (answer["status"], answer["details"]["reason"]) == (
            "REJECT", "This run cannot transition to the PENDING state from the PAUSED state.")

    def test_a_timed_out_pause_fails_the_run(self, authed_client, workspace, run_in):
        run_id = run_in("PAUSED", pause_timeout=(timezone.now() - datetime.timedelta(seconds=5)).isoformat())
        answer = propose(authed_client, workspace, run_id, "RUNNING")
        assert (answer["status"], answer["state"]["type"]) == ("REJECT", "FAILED")
        assert answer["state"]["message"] == "The flow was running and never resumed."


class TestScheduledTimes:
    def test_pending_copies_the_scheduled_time(self, authed_client, workspace, run_in):
        when = (timezone.now() - datetime.timedelta(minutes=1)).isoformat()
        run_id = run_in("SCHEDULED", scheduled_time=when)
        answer = propose(authed_client, workspace, run_id, "PENDING")
        assert answer["state"]["state_details"]["scheduled_time"] == when

    def test_a_run_waits_for_its_scheduled_time(self, authed_client, workspace, run_in):
        run_id = run_in("SCHEDULED", scheduled_time=(timezone.now() + datetime.timedelta(seconds=90)).isoformat())
        response = set_flow_state(authed_client, workspace, run_id, "RUNNING")
        assert response.status_code == 200
        answer = response.json()
        assert (answer["status"], answer["details"]["type"]) == ("WAIT", "wait_details")
        assert 88 <= answer["details"]["delay_seconds"] <= 90
        assert answer["details"]["reason"] == "Scheduled time is in the future"
        assert answer["state"]["type"] == "SCHEDULED"
        assert states_of(run_id) == ["Pending", "Scheduled"]
        last = decisions(authed_client, workspace, run_id)[-1]
        assert (last["decision"], last["rule"], last["details"]["delay_seconds"]) == (
            "WAIT", "WaitForScheduledTime", answer["details"]["delay_seconds"])

    def test_a_due_run_starts(self, authed_client, workspace, run_in):
        run_id = run_in("SCHEDULED", scheduled_time=(timezone.now() - datetime.timedelta(seconds=1)).isoformat())
        assert propose(authed_client, workspace, run_id, "RUNNING")["status"] == "ACCEPT"


class TestRetryFailedFlows:
    def test_a_failing_run_with_retries_left_awaits_retry(self, authed_client, workspace, run_in):
        run_id = run_in("RUNNING", retries=1, retry_delay=0)
        response = set_flow_state(authed_client, workspace, run_id, "FAILED", message="boom", data=UNPERSISTED)
        answer = response.json()
        assert response.status_code == 201
        assert (answer["status"], answer["state"]["type"], answer["state"]["name"]) == (
            "REJECT", "SCHEDULED", "AwaitingRetry")
        assert answer["details"] == {"type": "reject_details", "reason": "Retrying"}
        assert (answer["state"]["message"], answer["state"]["data"]) == ("boom", UNPERSISTED)
        assert read(authed_client, workspace, run_id)["empirical_policy"]["retry_type"] == "in_process"
        assert propose(authed_client, workspace, run_id, "RUNNING")["status"] == "ACCEPT"
        final = propose(authed_client, workspace, run_id, "FAILED")
        assert (final["status"], final["state"]["type"]) == ("ACCEPT", "FAILED")
        run = read(authed_client, workspace, run_id)
        assert (run["run_count"], run["state_type"]) == (2, "FAILED")
        assert states_of(run_id) == ["Pending", "Running", "AwaitingRetry", "Running", "Failed"]

    def test_retry_delay_schedules_the_retry(self, authed_client, workspace, run_in):
        run_id = run_in("RUNNING", retries=2, retry_delay=30)
        answer = propose(authed_client, workspace, run_id, "FAILED")
        when = datetime.datetime.fromisoformat(answer["state"]["state_details"]["scheduled_time"])
        assert 29 <= (when - timezone.now()).total_seconds() <= 30
        waiting = propose(authed_client, workspace, run_id, "RUNNING")
        assert waiting["status"] == "WAIT"

    def test_no_retries_fails(self, authed_client, workspace, run_in):
        assert propose(authed_client, workspace, run_in("RUNNING"), "FAILED")["state"]["type"] == "FAILED"


class TestAddUnknownResult:
    def test_forcing_a_failed_run_with_a_persisted_result_to_completed(self, authed_client, workspace, run_in):
        run_id = run_in("FAILED", data=PERSISTED)
        answer = propose(authed_client, workspace, run_id, "COMPLETED", force=True)
        assert answer["state"]["data"]["type"] == "unknown"


class TestBookkeeping:
    def test_times_counts_and_run_time(self, authed_client, workspace, run_in):
        run_id = run_in()
        created = read(authed_client, workspace, run_id)
        assert created["expected_start_time"] == created["state"]["timestamp"]
        running = propose(authed_client, workspace, run_id, "RUNNING")
        done = propose(authed_client, workspace, run_id, "COMPLETED")
        run = read(authed_client, workspace, run_id)
        start = datetime.datetime.fromisoformat(running["state"]["timestamp"])
        end = datetime.datetime.fromisoformat(done["state"]["timestamp"])
        assert run["start_time"] == running["state"]["timestamp"]
        assert run["end_time"] == done["state"]["timestamp"]
        assert run["total_run_time"] == pytest.approx((end - start).total_seconds())
        assert (run["run_count"], run["state_type"], run["state_name"]) == (1, "COMPLETED", "Completed")
        assert run["state"]["state_details"]["flow_run_id"] == run_id
        row = FlowRun.objects.for_workspace(workspace).get(pk=run_id)
        assert row.state_timestamp == end

    def test_every_set_state_leaves_one_decision(self, authed_client, workspace, run_in):
        run_id = run_in()
        propose(authed_client, workspace, run_id, "RUNNING")
        propose(authed_client, workspace, run_id, "PENDING")
        rows = decisions(authed_client, workspace, run_id)
        # the forced first state is the create, not a set_state; the run_in fixture forced none here
        assert [(d["decision"], d["rule"], d["proposed_state_type"], d["initial_state_type"]) for d in rows] == [
            ("ACCEPT", "CoreFlowPolicy", "RUNNING", "PENDING"),
            ("ABORT", "PreventPendingTransitions", "PENDING", "RUNNING"),
        ]
        assert rows[1]["state_id"] is None
        assert OrchestrationDecision.objects.for_workspace(workspace).count() == 2


class TestSubflows:
    def test_a_subflows_states_are_mirrored_onto_its_parent_task_run(self, authed_client, workspace, run_in):
        parent_id = run_in("RUNNING")
        tracker = create_task_run(authed_client, workspace, parent_id, key="child-abc", dynamic_key="0")
        flow_id = create_flow(authed_client, workspace, "child")["id"]
        child = create_flow_run(authed_client, workspace, flow_id, parent_task_run_id=tracker["id"])
        assert child["state"]["state_details"]["task_run_id"] == tracker["id"]
        propose(authed_client, workspace, child["id"], "RUNNING")
        propose(authed_client, workspace, child["id"], "COMPLETED", data=UNPERSISTED)
        task = authed_client.get(base(workspace) + f"task_runs/{tracker['id']}").json()
        assert (task["state_type"], task["run_count"]) == ("COMPLETED", 1)
        assert task["state"]["state_details"]["child_flow_run_id"] == child["id"]
        assert task["state"]["data"] == UNPERSISTED
        history = authed_client.get(base(workspace) + "task_run_states/", {"task_run_id": tracker["id"]}).json()
        assert [s["type"] for s in history] == ["PENDING", "PENDING", "RUNNING", "COMPLETED"]


class TestDeployedRuns:
    def test_a_failed_deployed_run_can_be_rescheduled(self, authed_client, workspace, run_in):
        flow_id = create_flow(authed_client, workspace, "deployed")["id"]
        deployment = Deployment.objects.for_workspace(workspace).create(workspace=workspace, flow_id=flow_id, name="d")
        run = create_flow_run(authed_client, workspace, flow_id, deployment_id=str(deployment.pk))
        set_flow_state(authed_client, workspace, run["id"], "FAILED", force=True)
        answer = propose(authed_client, workspace, run["id"], "SCHEDULED")
        assert answer["status"] == "ACCEPT"
        assert read(authed_client, workspace, run["id"])["empirical_policy"]["retry_type"] == "reschedule"

    def test_a_suspended_deployed_run_resumes_as_scheduled(self, authed_client, workspace):
        flow_id = create_flow(authed_client, workspace, "deployed")["id"]
        deployment = Deployment.objects.for_workspace(workspace).create(workspace=workspace, flow_id=flow_id, name="d")
        run = create_flow_run(authed_client, workspace, flow_id, deployment_id=str(deployment.pk),
                              state_=state("RUNNING"))
        assert propose(authed_client, workspace, run["id"], "PAUSED", "Suspended",
                       pause_reschedule=True)["status"] == "ACCEPT"
        resumed = authed_client.post(base(workspace) + f"flow_runs/{run['id']}/resume", {}, format="json").json()
        assert (resumed["status"], resumed["state"]["type"], resumed["state"]["name"]) == (
            "ACCEPT", "SCHEDULED", "Resuming")
