"""The orchestration policies: which rules govern a transition, in order. The order is the documentation
(see docs/engine.md for the catalogue)."""

from __future__ import annotations

from apps.engine.orchestration import flow_rules as fr
from apps.engine.orchestration import task_rules as tr
from apps.engine.orchestration.bookkeeping import FLOW_RUN_BOOKKEEPING, TASK_RUN_BOOKKEEPING
from apps.engine.orchestration.rules import Policy

CORE_FLOW_POLICY = Policy(
    name="CoreFlowPolicy",
    rules=(
        fr.PreventDuplicateTransitions,
        fr.HandleFlowTerminalStateTransitions,
        fr.EnforceCancellingToCancelledTransition,
        fr.BypassCancellingFlowRunsWithNoInfra,
        fr.PreventPendingTransitions,
        fr.EnsureOnlyScheduledFlowsMarkedLate,
        fr.HandlePausingFlows,
        fr.HandleResumingPausedFlows,
        fr.CopyScheduledTime,
        fr.WaitForScheduledTime,
        fr.RetryFailedFlows,
    ),
    bookkeeping=FLOW_RUN_BOOKKEEPING,
)

# The flow run columns the flow policies read (their rules and FLOW_RUN_BOOKKEEPING; the run's id and workspace
# aside): a flow run set_state decided without the row lock writes only if each still holds the value it was
# decided from (apps/engine/services/run_states.py). Besides set_state, a PATCH changes the policy and the
# process id, a deleted deployment or parent task run empties its column, so the state id alone would not do.
# A rule or transform that reads another column must add it here: tests/engine/orchestration/
# test_flow_run_set_state_cache.py orchestrates every transition from a run holding only these.
FLOW_RUN_DECIDED_FROM = ("state_id", "empirical_policy", "run_count", "deployment_id", "infrastructure_pid",
                         "parent_task_run_id", "start_time", "end_time", "total_run_time", "expected_start_time")

CORE_TASK_POLICY = Policy(
    name="CoreTaskPolicy",
    rules=(
        tr.CacheRetrieval,
        tr.HandleTaskTerminalStateTransitions,
        tr.PreventRunningTasksFromStoppedFlows,
        tr.SecureTaskConcurrencySlots,  # after the cache: a cached task needs no slot
        fr.CopyScheduledTime,
        fr.WaitForScheduledTime,
        tr.RetryFailedTasks,
        tr.RenameReruns,
        tr.UpdateFlowRunTrackerOnTasks,
        tr.CacheInsertion,
        tr.ReleaseTaskConcurrencySlots,
    ),
    bookkeeping=TASK_RUN_BOOKKEEPING,
)

# `force=true` (and a run's first state): no rule may refuse, only the bookkeeping and what must hold anyway.
MINIMAL_FLOW_POLICY = Policy(
    name="MinimalFlowPolicy",
    rules=(fr.AddUnknownResult, fr.BypassCancellingFlowRunsWithNoInfra),
    bookkeeping=FLOW_RUN_BOOKKEEPING,
)

MINIMAL_TASK_POLICY = Policy(
    name="MinimalTaskPolicy",
    rules=(tr.ReleaseTaskConcurrencySlots, fr.AddUnknownResult),
    bookkeeping=TASK_RUN_BOOKKEEPING,
)


def flow_policy(*, force: bool) -> Policy:
    return MINIMAL_FLOW_POLICY if force else CORE_FLOW_POLICY


def task_policy(*, force: bool) -> Policy:
    return MINIMAL_TASK_POLICY if force else CORE_TASK_POLICY
