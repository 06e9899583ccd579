"""Rules for flow-run transitions (and the ones flow and task runs share)."""

from __future__ import annotations

import datetime
import uuid

from apps.engine.models.runs import StateType
from apps.engine.orchestration.rules import ALL_STATES, TERMINAL_STATES, OrchestrationContext, Rule
from apps.engine.schemas.states import StateValue

UNKNOWN_RESULT = {"type": "unknown", "value": None, "artifact_type": "result",
                  "artifact_description": "Unknown result persisted to Prefect."}


class PreventDuplicateTransitions(Rule):
    """A proposal carrying the same `transition_id` as the current state is a client retry of a request
    that already succeeded: reject it and hand back the current state, so nothing happens twice."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.initial is None or ctx.proposed is None:
            return
        current = ctx.initial.state_details.get("transition_id")
        if current is not None and current == ctx.proposed.state_details.get("transition_id"):
            self.reject(None, "This run has already made this state transition.")


class HandleFlowTerminalStateTransitions(Rule):
    """A finished flow run stays finished: it cannot become Cancelling, Paused or Crashed; a Completed run
    with a persisted result cannot run again; without a deployment it cannot be rescheduled. Leaving a
    terminal state otherwise (a manual retry) resets pause bookkeeping."""

    FROM_STATES = TERMINAL_STATES

    def before(self, ctx: OrchestrationContext) -> None:
        self.original_policy = dict(ctx.run.empirical_policy or {})
        proposed, initial = ctx.proposed, ctx.initial
        if proposed.type in (StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED):
            self.abort(f"Run is already in terminal state {initial.type}.")
            return
        if (initial.is_completed and not proposed.is_final and isinstance(initial.data, dict)
                and initial.data.get("type") != "unpersisted" and initial.data):
            self.reject(None, "Run is already COMPLETED.")
            return
        if proposed.is_scheduled and not ctx.run.deployment_id:
            self.abort("Cannot reschedule a run without an associated deployment.")
            return
        if not proposed.is_final:
            ctx.set(empirical_policy={**self.original_policy, "resuming": False, "pause_keys": [],
                                      "retry_type": "reschedule" if proposed.is_scheduled else None})

    def cleanup(self, ctx: OrchestrationContext) -> None:
        ctx.set(empirical_policy=self.original_policy)


class EnforceCancellingToCancelledTransition(Rule):
    """A run being cancelled (or cancelled) can only become Cancelled: its infrastructure is being torn down."""

    FROM_STATES = frozenset({StateType.CANCELLED, StateType.CANCELLING})
    TO_STATES = ALL_STATES - {StateType.CANCELLED}

    def before(self, ctx: OrchestrationContext) -> None:
        self.reject(None, "Cannot transition flows that are cancelling to a state other than Cancelled.")


class BypassCancellingFlowRunsWithNoInfra(Rule):
    """Cancelling a run that has no infrastructure to stop (Scheduled without a process id, Resuming, or
    Suspended) goes straight to Cancelled: nobody would ever finish the cancellation."""

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PAUSED})
    TO_STATES = frozenset({StateType.CANCELLING})

    def before(self, ctx: OrchestrationContext) -> None:
        initial = ctx.initial
        if (initial.type == StateType.SCHEDULED and not ctx.run.infrastructure_pid) or initial.name == "Resuming":
            self.reject(StateValue.new(StateType.CANCELLED, now=ctx.now),
                        "Scheduled flow run has no infrastructure to terminate.")
        elif initial.type == StateType.PAUSED and initial.state_details.get("pause_reschedule"):
            self.reject(StateValue.new(StateType.CANCELLED, now=ctx.now),
                        "Suspended flow run has no infrastructure to terminate.")


class PreventPendingTransitions(Rule):
    """Only one submitter may take a run to Pending: a second Pending (or Pending after Running,
    Cancelling or Cancelled) is aborted, so two agents never start the same run."""

    FROM_STATES = frozenset({StateType.PENDING, StateType.CANCELLING, StateType.RUNNING, StateType.CANCELLED})
    TO_STATES = frozenset({StateType.PENDING})

    def before(self, ctx: OrchestrationContext) -> None:
        self.abort(f"This run is in a {ctx.initial.type} state and cannot transition to a PENDING state.")


class EnsureOnlyScheduledFlowsMarkedLate(Rule):
    """Only a Scheduled run can be marked Late."""

    TO_STATES = frozenset({StateType.SCHEDULED})

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.proposed.name == "Late" and not (ctx.initial and ctx.initial.is_scheduled):
            self.reject(None, "Only scheduled flows can be marked late.")


class HandlePausingFlows(Rule):
    """Only a Running flow can pause, each pause key fires once, and only deployed top-level flows can
    suspend (pause with reschedule). The pause key is remembered on the run."""

    TO_STATES = frozenset({StateType.PAUSED})

    def before(self, ctx: OrchestrationContext) -> None:
        verb = "suspend" if ctx.proposed.name == "Suspended" else "pause"
        if ctx.initial is None:
            self.abort(f"Cannot {verb} flows with no state.")
            return
        if not ctx.initial.is_running:
            self.reject(None, f"Cannot {verb} flows that are not currently running.")
            return
        self.key = ctx.proposed.state_details.get("pause_key") or str(uuid.uuid4())
        if self.key in (ctx.run.empirical_policy or {}).get("pause_keys", []):
            self.reject(None, f"This {verb} has already fired.")
            return
        if ctx.proposed.state_details.get("pause_reschedule"):
            if ctx.run.parent_task_run_id:
                self.abort(f"Cannot {verb} subflows.")
            elif ctx.run.deployment_id is None:
                self.abort(f"Cannot {verb} flows without a deployment.")

    def after(self, ctx: OrchestrationContext) -> None:
        if not ctx.wrote_state or ctx.validated.type != StateType.PAUSED:
            return  # refused: the pause did not fire
        policy = dict(ctx.run.empirical_policy or {})
        keys = list(policy.get("pause_keys") or [])
        if self.key not in keys:
            keys.append(self.key)
        ctx.set(empirical_policy={**policy, "pause_keys": keys})


class HandleResumingPausedFlows(Rule):
    """A Paused run may only resume (Running), be rescheduled (Scheduled, deployed runs only) or end; a
    pause past its timeout fails the run instead."""

    FROM_STATES = frozenset({StateType.PAUSED})

    def before(self, ctx: OrchestrationContext) -> None:
        proposed, initial = ctx.proposed, ctx.initial
        if not (proposed.is_running or proposed.is_scheduled or proposed.is_final):
            self.reject(None, f"This run cannot transition to the {proposed.type} state from the {initial.type} state.")
            return
        verb = "suspend" if proposed.name == "Suspended" else "pause"
        if initial.state_details.get("pause_reschedule") and not ctx.run.deployment_id:
            self.reject(None, f"Cannot reschedule a {proposed.name.lower()} flow run without a deployment.")
            return
        timeout = initial.detail_time("pause_timeout")
        if timeout and timeout < ctx.now:
            failed = StateValue.new(StateType.FAILED, now=ctx.now,
                                    message=f"The flow was {proposed.name.lower()} and never resumed.")
            self.reject(failed, f"The flow run {verb} has timed out and can no longer resume.")

    def after(self, ctx: OrchestrationContext) -> None:
        if ctx.wrote_state:
            ctx.set(empirical_policy={**(ctx.run.empirical_policy or {}), "resuming": True})


class CopyScheduledTime(Rule):
    """Pending keeps the scheduled time of the Scheduled state it follows, unless it proposes its own."""

    FROM_STATES = frozenset({StateType.SCHEDULED})
    TO_STATES = frozenset({StateType.PENDING})

    def before(self, ctx: OrchestrationContext) -> None:
        if not ctx.proposed.state_details.get("scheduled_time"):
            ctx.proposed.state_details["scheduled_time"] = ctx.initial.state_details.get("scheduled_time")


class WaitForScheduledTime(Rule):
    """A run does not start before its scheduled time (by the server's clock): the client is told to
    wait the remaining seconds and propose again."""

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PENDING})
    TO_STATES = frozenset({StateType.RUNNING})

    def before(self, ctx: OrchestrationContext) -> None:
        scheduled = ctx.initial.detail_time("scheduled_time")
        if not scheduled:
            return
        delay = round((scheduled - ctx.now) / datetime.timedelta(seconds=1))
        if delay > 0:
            self.wait(delay, "Scheduled time is in the future")


class RetryFailedFlows(Rule):
    """A failing flow run with retries left is rescheduled as AwaitingRetry after its retry delay
    (in process: the same process runs it again), keeping the failure's message and result."""

    FROM_STATES = frozenset({StateType.RUNNING})
    TO_STATES = frozenset({StateType.FAILED})

    def before(self, ctx: OrchestrationContext) -> None:
        policy = ctx.run.empirical_policy or {}
        retries = policy.get("retries")
        if retries is None or ctx.run.run_count > retries:
            return
        ctx.set(empirical_policy={**policy, "resuming": False, "pause_keys": [], "retry_type": "in_process"})
        when = ctx.now + datetime.timedelta(seconds=policy.get("retry_delay") or 0)
        retry = StateValue.new(StateType.SCHEDULED, "AwaitingRetry", now=ctx.now, scheduled_time=when,
                               message=ctx.proposed.message, data=ctx.proposed.data)
        self.reject(retry, "Retrying")


class AddUnknownResult(Rule):
    """A run forced from Failed or Crashed to Completed after a persisted result gets the "unknown"
    result sentinel, so later retries know not to run it again."""

    FROM_STATES = frozenset({StateType.FAILED, StateType.CRASHED})
    TO_STATES = frozenset({StateType.COMPLETED})

    def before(self, ctx: OrchestrationContext) -> None:
        data = ctx.initial.data
        if isinstance(data, dict) and data.get("type") == "reference":
            ctx.proposed.data = dict(UNKNOWN_RESULT)
