"""Rules for task-run transitions: cache, terminal states, the enclosing flow, tag concurrency slots,
retries and renames."""

from __future__ import annotations

import datetime
import random

from django.conf import settings

from apps.engine.models.runs import StateType
from apps.engine.orchestration.rules import TERMINAL_STATES, OrchestrationContext, Rule
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.task_runs import cached_state_get
from apps.engine.services import task_concurrency, task_run_cache

RUNNING = frozenset({StateType.RUNNING})
HOLDS_SLOTS = (StateType.RUNNING, StateType.CANCELLING)  # a tagged run holds its slots in these states


class CacheRetrieval(Rule):
    """A task proposing Running with a cache key that has an unexpired cached Completed state is told to
    take that state instead (named Cached) and never runs; `refresh_cache` skips the lookup."""

    TO_STATES = RUNNING

    def before(self, ctx: OrchestrationContext) -> None:
        details = ctx.proposed.state_details
        key = details.get("cache_key")
        if not key or details.get("refresh_cache"):
            return
        cached = cached_state_get(workspace=ctx.run.workspace_id, cache_key=key, now=ctx.now)
        if cached is not None:
            self.reject(StateValue.from_row(cached).copy_as_new(name="Cached", now=ctx.now),
                        "Retrieved state from cache")


class HandleTaskTerminalStateTransitions(Rule):
    """A finished task stays finished: never Cancelling, Paused or Crashed afterwards, and a Completed task
    with a persisted result never runs again. A task re-entering a non-final state (its flow retries)
    starts its retries afresh, and runs as Retrying when its flow is on a later attempt."""

    FROM_STATES = TERMINAL_STATES

    def before(self, ctx: OrchestrationContext) -> None:
        self.original_run_count = ctx.run.run_count
        proposed, initial = ctx.proposed, ctx.initial
        if proposed.type in (StateType.CANCELLING, StateType.PAUSED, StateType.CRASHED):
            self.abort(f"Run is already {initial.type}.")
            return
        if initial.is_completed and isinstance(initial.data, dict) and initial.data \
                and initial.data.get("type") != "unpersisted":
            self.reject(None, "This run is already completed.")
            return
        if not proposed.is_final:
            ctx.set(run_count=0)
        flow_run = ctx.flow_run
        if proposed.is_running and flow_run is not None and ctx.run.flow_run_run_count < flow_run.run_count:
            self.rename("Retrying")

    def cleanup(self, ctx: OrchestrationContext) -> None:
        ctx.set(run_count=self.original_run_count)


class PreventRunningTasksFromStoppedFlows(Rule):
    """A task runs only while its flow run is Running: if the flow is Paused the task is told to wait as
    Paused (NotReady); in any other state its execution is aborted."""

    TO_STATES = RUNNING

    def before(self, ctx: OrchestrationContext) -> None:
        flow_run = ctx.flow_run
        if flow_run is None:
            return
        flow_state = flow_run.state
        if flow_state is None or flow_run.state_type is None:
            self.abort("The enclosing flow must be running to begin task execution.")
        elif flow_run.state_type == StateType.PAUSED:
            details = flow_state.state_details or {}
            paused = StateValue.new(StateType.PAUSED, "NotReady", now=ctx.now,
                                    pause_timeout=details.get("pause_timeout"),
                                    pause_reschedule=bool(details.get("pause_reschedule")))
            self.reject(paused, f"The flow is paused, new tasks can execute after resuming flow run: {flow_run.id}.")
        elif flow_run.state_type != StateType.RUNNING:
            self.abort("The enclosing flow must be running to begin task execution.")


class SecureTaskConcurrencySlots(Rule):
    """Entering Running takes one slot of every tag concurrency limit on the task's tags, under row locks
    (limits locked in tag order, so two transitions never deadlock). A full limit answers WAIT (the
    PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS setting); a limit of 0 aborts, since it can never run.
    Slots are written only if Running is; a later rule changing the outcome leaves them untouched."""

    TO_STATES = RUNNING

    def before(self, ctx: OrchestrationContext) -> None:
        self.taken = []
        tags = ctx.run.tags or []
        if not tags:
            return
        ctx.require_lock()  # the limits are locked and written
        run_id = str(ctx.run.id)
        for limit in task_concurrency.limits_for_update(workspace=ctx.run.workspace_id, tags=tags):
            if limit.concurrency_limit == 0:
                self.taken = []
                self.abort(f'The concurrency limit on tag "{limit.tag}" is 0 and will deadlock if the task '
                           "tries to run again.")
                return
            if run_id in limit.active_slots:
                continue
            if len(limit.active_slots) >= limit.concurrency_limit:
                self.taken = []
                self.wait(settings.PRAETOR_TASK_CONCURRENCY_SLOT_WAIT_SECONDS,
                          f"Concurrency limit for the {limit.tag} tag has been reached")
                return
            self.taken.append(limit)

    def after(self, ctx: OrchestrationContext) -> None:
        if self.taken:
            task_concurrency.slots_take(limits=self.taken, run_id=str(ctx.run.id))

    def cleanup(self, ctx: OrchestrationContext) -> None:
        self.taken = []  # nothing was written: the slots were never taken


class RetryFailedTasks(Rule):
    """A failing task with retries left (and not declared non-retriable by its retry condition) is told
    to become AwaitingRetry, scheduled after its retry delay (per attempt if a list, with jitter)."""

    FROM_STATES = RUNNING
    TO_STATES = frozenset({StateType.FAILED})

    def before(self, ctx: OrchestrationContext) -> None:
        policy = ctx.run.empirical_policy or {}
        run_count = ctx.run.run_count
        if ctx.proposed.state_details.get("retriable") is False:
            return
        retries = policy.get("retries")
        if retries is None or run_count > retries:
            return
        delay = policy.get("retry_delay") or 0
        if isinstance(delay, list):
            delay = delay[min(run_count - 1, len(delay) - 1)] if delay else 0
        jitter = policy.get("retry_jitter_factor")
        if jitter:
            delay = _clamped_poisson_interval(delay, jitter)
        retry = StateValue.new(StateType.SCHEDULED, "AwaitingRetry", now=ctx.now,
                               scheduled_time=ctx.now + datetime.timedelta(seconds=delay),
                               message=ctx.proposed.message, data=ctx.proposed.data)
        self.reject(retry, "Retrying")


def _clamped_poisson_interval(average: float, clamping_factor: float) -> float:
    """A random interval around `average`, at most `average * (1 + clamping_factor)` (jittered retries)."""
    if average <= 0:
        return 0.0
    upper = average * (1 + clamping_factor)
    lower = max(0.0, average * (1 - clamping_factor))
    return random.uniform(lower, upper)  # noqa: S311 - jitter, not security


class RenameReruns(Rule):
    """A task entering Running again is named Retrying after AwaitingRetry, else Rerunning."""

    TO_STATES = RUNNING

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.run.run_count > 0:
            self.rename("Retrying" if ctx.initial and ctx.initial.name == "AwaitingRetry" else "Rerunning")


class UpdateFlowRunTrackerOnTasks(Rule):
    """A task entering Running records the attempt of its flow run (so flow retries re-run it)."""

    TO_STATES = RUNNING

    def after(self, ctx: OrchestrationContext) -> None:
        if ctx.flow_run is not None:
            ctx.set(flow_run_run_count=ctx.flow_run.run_count)


class CacheInsertion(Rule):
    """A Completed state with a cache key is stored under that key (until its cache expiration)."""

    TO_STATES = frozenset({StateType.COMPLETED})

    def after(self, ctx: OrchestrationContext) -> None:
        state = ctx.validated
        key = state.state_details.get("cache_key") if state else None
        if key:
            ctx.require_lock()
            task_run_cache.cache_insert(workspace=ctx.run.workspace_id, cache_key=key,
                                          cache_expiration=state.detail_time("cache_expiration"),
                                          task_run_state_id=state.id)


class ReleaseTaskConcurrencySlots(Rule):
    """Leaving Running (or Cancelling) for any other written state gives back the run's slots, whatever
    the rules before decided (retries, crashes, forced states)."""

    universal = True

    def after(self, ctx: OrchestrationContext) -> None:
        if not ctx.wrote_state or not ctx.run.tags:
            return
        if ctx.validated.type in HOLDS_SLOTS:
            return
        if ctx.initial is None or ctx.initial.type not in HOLDS_SLOTS:
            return  # a run holds slots only from its entry into Running
        ctx.require_lock()
        task_concurrency.slots_release(workspace=ctx.run.workspace_id, tags=ctx.run.tags, run_id=str(ctx.run.id))


def needs_lock_likely(run, proposed: StateValue, *, force: bool) -> bool:
    """Whether orchestrating `proposed` for `run` (as read, with its state) will most likely reach a rule that
    writes rows of its own and so calls `ctx.require_lock()`: SecureTaskConcurrencySlots (a tagged run
    proposing Running), ReleaseTaskConcurrencySlots (a tagged run leaving Running or Cancelling for another
    state), CacheInsertion (a Completed state with a cache key). The optimistic set_state then takes the
    locked way at once instead of orchestrating twice (and looking the cache up twice). Only a guess: an
    earlier rule may change the outcome, and either way decides the same."""
    proposed_type = proposed.type
    if run.tags:
        if proposed_type == StateType.RUNNING and not force:
            return True
        initial_type = run.state.type if run.state_id and run.state is not None else None
        if initial_type in HOLDS_SLOTS and proposed_type not in HOLDS_SLOTS:
            return True
    return not force and proposed_type == StateType.COMPLETED and bool(proposed.state_details.get("cache_key"))
