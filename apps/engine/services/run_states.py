"""Setting a run's state: lock the run, orchestrate the proposal, write the state, update the run, record
the decision: one transaction, the caller's. Shared by flow runs and task runs.

Hot path (no rule needing data of its own): lock+read the run with its state (1), then the state insert, the
run update and the decision insert together (on PostgreSQL one statement of data-modifying CTEs, built once
per process: apps/core/prepared.py `write_together`). Races are settled by the lock: a second proposal
waits for the first transaction and orchestrates from the state it wrote.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.core import prepared
from apps.engine.models.runs import Decision, FlowRunState, OrchestrationDecision, TaskRunState
from apps.engine.orchestration.rules import OrchestrationContext, Policy, orchestrate
from apps.engine.schemas.states import StateValue


@dataclass
class SetStateResult:
    """What set_state answers: the state the run is in now, the decision and whether a state was written."""

    context: OrchestrationContext

    @property
    def state(self) -> StateValue | None:
        return self.context.validated

    @property
    def status(self) -> str:
        return self.context.status

    @property
    def wrote_state(self) -> bool:
        return self.context.wrote_state

    def as_json(self) -> dict:
        return {"state": self.state.as_json() if self.state else None, "status": self.status,
                "details": self.context.details_json()}


def deferred_writer(pending: list):
    """A `write_state` callback that only builds the state row and points the run at it; the caller writes
    both (for runs not inserted yet, or to write state, run and decision in one statement)."""

    def write(ctx: OrchestrationContext) -> None:
        p = ctx.proposed
        model = FlowRunState if ctx.kind == "flow_run" else TaskRunState
        row = model(id=p.id, workspace_id=ctx.run.workspace_id, type=p.type, name=p.name, timestamp=p.timestamp,
                    message=p.message, state_details=p.state_details, data=p.data, **{f"{ctx.kind}_id": ctx.run.id})
        pending.append(row)
        ctx.run.state = row
        ctx.changed_fields.add("state")

    return write


def decision_record(ctx: OrchestrationContext, policy: Policy, *, note: str = "") -> OrchestrationDecision:
    """The row (not saved) recorded per set_state: the deciding rule (or the policy, when no rule objected)
    and its reason."""
    details = {}
    if ctx.delay_seconds is not None:
        details["delay_seconds"] = ctx.delay_seconds
    if ctx.renamed_by:
        details["renamed_by"] = list(ctx.renamed_by)
    if ctx.force:
        details["force"] = True
    if ctx.validated is not None and ctx.status == Decision.REJECT:
        details["state_type"] = ctx.validated.type
        details["state_name"] = ctx.validated.name
    reason = ctx.reason or note or ("Forced." if ctx.force else "No rule objected.")
    decision = OrchestrationDecision(
        workspace_id=ctx.run.workspace_id,
        flow_run_id=ctx.run.id if ctx.kind == "flow_run" else None,
        task_run_id=ctx.run.id if ctx.kind == "task_run" else None,
        initial_state_type=ctx.initial_type, proposed_state_type=ctx.proposal_type,
        proposed_state_name=ctx.proposal_name, decision=ctx.status, rule=ctx.decided_by or policy.name,
        reason=reason, state_id=ctx.validated.id if ctx.wrote_state else None, details=details,
    )
    return decision


def run_set_state(*, kind: str, run, proposed: StateValue, policy: Policy, now, force: bool,
                  flow_run=None, parameters: dict | None = None, note: str = "") -> SetStateResult:
    """Orchestrate `proposed` for a locked `run` and persist the outcome (inside the caller's transaction)."""
    ctx = OrchestrationContext(kind=kind, run=run, initial=StateValue.from_row(run.state) if run.state_id else None,
                               proposed=proposed, now=now, flow_run=flow_run, force=force,
                               parameters=parameters or {})
    ctx.proposal_type, ctx.proposal_name = proposed.type, proposed.name
    pending: list = []
    orchestrate(ctx, policy, deferred_writer(pending))
    decision = decision_record(ctx, policy, note=note)
    changed = [*sorted(ctx.changed_fields), "updated"] if ctx.changed_fields else []
    prepared.write_together([*pending, decision], run if changed else None, changed)
    return SetStateResult(ctx)
