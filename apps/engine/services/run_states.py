"""Setting a run's state: orchestrate the proposal from the run's current state, write the new state,
update the run, record the decision. Shared by flow runs and task runs. Two ways, same outcome:

Locked (`run_set_state`, inside the caller's transaction): the run was read under its row lock (FOR
UPDATE), so a second proposal waits for the first transaction and orchestrates from the state it wrote.
The state insert, the run update and the decision insert go together (on PostgreSQL one statement of
data-modifying CTEs, built once per process: apps/core/prepared.py `write_together`).

Optimistic (`run_try_set_state`, PostgreSQL): the run was read without a lock and without a
transaction; the same three writes go in one autocommit statement that is a compare-and-swap on the run's
state id (apps/core/prepared.py `write_together_if`): the run UPDATE carries `state_id IS NOT DISTINCT
FROM <the state id read>` and the inserts run only if it updated the row; a decision that writes no state
and changes nothing on the run is inserted only if the row, read in the statement's snapshot, still has that
state. Every written state has a fresh id, so an unchanged id means no transition happened in between (and
nothing but set_state changes the fields the rules read; the parent flow run is not locked on either way).
Two round trips instead of four (BEGIN, locked read, write, COMMIT), and no tuple lock. It gives up, having
written nothing, and the caller takes the locked way from a fresh read, when
- the compare-and-swap failed: another transition won in between (rare; the locked way then orchestrates
  from the state that won, as if it had waited for the lock), or
- a rule is about to write rows of its own (tag concurrency slots, the task cache): it calls
  `ctx.require_lock()`, which raises `NeedsLock` on this path (apps/engine/orchestration/rules.py), before
  anything is written; such writes happen only in the locked transaction.
A decision that writes nothing needs no row lock: its only write is the decision row, which is right as of
the statement's snapshot (the state it was decided from is the run's state there); a transition committed
later is simply ordered after it, as if it had taken the lock second.

Flow runs (`decided_from`): besides set_state, the PATCH (`flow_run_update`) writes `empirical_policy` and
`infrastructure_pid`, which the flow rules read, and deleting a deployment or a parent task run empties the
run's column; the state id alone would not see those. So a flow run's compare-and-swap compares every column
the flow policies read (apps/engine/orchestration/policies.py `FLOW_RUN_DECIDED_FROM`, the state id among
them) with the value it was decided from: whatever changed any of them in between, nothing is written and the
locked way decides. A subflow's states are mirrored onto its parent's task run (a write of another row:
`require_lock`), so a subflow always takes the locked way.

From this process's cache (`cached=True`, apps/engine/services/task_run_state_cache.py): the same
optimistic way without the read. The run (and a task run's flow run) are the process's copies, as it last
wrote or read them, so the compare-and-swap must stand for the read as well. For a task run it checks the
task run's state id, its workspace, and (an EXISTS in the same WHERE, or in the guard SELECT of a decision
that writes nothing) the flow run's state id, all in the statement's snapshot. The rules read of the task
run only fields that change with its state (a PATCH changes the name only) and of the flow run its id,
state, state type and run count, which change only with its state; states are never reused, so equal ids
mean the copies are what a read at that instant would have returned, and the outcome is the one the read
would have given. For a flow run it checks its workspace and every `decided_from` column, which are all the
inputs of its orchestration besides its state (a state is never changed once written). A copy that is stale
in any way (a transition by another process or by the cancellation service, a paused or cancelled flow run,
a PATCH, a deleted run, a copied state whose transaction rolled back) makes the statement write nothing; the
caller drops the copy and reads, exactly as without it. One more case gives up before writing: a decision
that writes no state answers with the run's current state, and a copy of a state's JSON shows as a read
shows it only when it has no object of two keys or more and no float (`_renders_as_stored`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core import prepared, rows
from apps.engine.models.runs import Decision, FlowRunState, OrchestrationDecision, TaskRunState
from apps.engine.orchestration.rules import NeedsLock, OrchestrationContext, Policy, orchestrate
from apps.engine.schemas.states import StateValue


@dataclass
class SetStateResult:
    """What set_state answers: the state the run is in now, the decision and whether a state was written."""

    context: OrchestrationContext
    # The state row written, when the set_state wrote one on a path that did not point the run's `state` relation
    # at it (`run_try_set_state(..., relate=False)`); else None (the run's relation holds it when one was written)
    state_row: Any = None

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
        # A Decision status as its plain str (a member is a str subclass: the answer's encoder would call back
        # into Python for it, apps/core/api/renderers.py `_default`, to write the same value); the context's
        # fields read once, not through the properties
        context = self.context
        state, status = context.validated, context.status
        return {"state": state.as_json() if state else None,
                "status": str.__str__(status) if type(status) is Decision else status,
                "details": context.details_json()}


# The columns set_state gives its new rows (the others take their defaults, `created`/`updated` their stamps
# when written); built by rows.new_instance, which is `Model(**values)` without Model.__init__'s work.
_STATE_NAMES = {kind: ("id", "workspace_id", "type", "name", "timestamp", "message", "state_details", "data",
                       f"{kind}_id") for kind in ("flow_run", "task_run")}
_STATE_MODELS = {"flow_run": FlowRunState, "task_run": TaskRunState}
_DECISION_NAMES = ("workspace_id", "flow_run_id", "task_run_id", "initial_state_type", "proposed_state_type",
                   "proposed_state_name", "decision", "rule", "reason", "state_id", "details")


def deferred_writer(pending: list, *, relate: bool = True):
    """A `write_state` callback that only builds the state row and points the run at it; the caller writes
    both (for runs not inserted yet, or to write state, run and decision in one statement).

    `relate=False` (a run that is the caller's private copy, apps/engine/services/task_run_state_cache.py's):
    only the run's `state_id` is set (Django's own attname setter, which drops the relation's cached old state),
    not the `state` relation (`run.state = row`: Django's ForwardManyToOneDescriptor, its type and router checks,
    ~18 k instructions); the caller takes the new row from `pending` (its first) rather than from `run.state`."""

    def write(ctx: OrchestrationContext) -> None:
        p, kind, run = ctx.proposed, ctx.kind, ctx.run
        row = rows.new_instance(_STATE_MODELS[kind], _STATE_NAMES[kind], (
            p.id, run.workspace_id, p.type, p.name, p.timestamp, p.message, p.state_details, p.data, run.id))
        pending.append(row)
        if relate:
            run.state = row
        else:
            run.state_id = p.id
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
    validated, status = ctx.validated, ctx.status
    if validated is not None and status == Decision.REJECT:
        details["state_type"] = validated.type
        details["state_name"] = validated.name
    reason = ctx.reason or note or ("Forced." if ctx.force else "No rule objected.")
    run_id, flow = ctx.run.id, ctx.kind == "flow_run"
    initial = ctx.initial
    return rows.new_instance(OrchestrationDecision, _DECISION_NAMES, (
        ctx.run.workspace_id, run_id if flow else None, None if flow else run_id,
        initial.type if initial else None, ctx.proposal_type, ctx.proposal_name, status,
        ctx.decided_by or policy.name, reason, validated.id if ctx.wrote_state else None, details))


_RELATION = object()  # `current` not given: the run's state read through its relation


def _orchestrated(*, kind: str, run, proposed: StateValue, policy: Policy, now, force: bool, flow_run,
                  parameters: dict | None, note: str, optimistic: bool, relate: bool = True, current=_RELATION):
    """Orchestrate `proposed` for `run`: the context, the rows to insert (the decision last) and the run's
    changed fields. `current`: the run's state row (None: none), when the caller holds it (else `run.state`)."""
    if current is _RELATION:
        current = run.state if run.state_id else None
    initial = StateValue.from_row(current) if current is not None else None
    ctx = OrchestrationContext(kind=kind, run=run, initial=initial,
                               proposed=proposed, now=now, flow_run=flow_run, force=force,
                               parameters=parameters or {}, optimistic=optimistic)
    ctx.proposal_type, ctx.proposal_name = proposed.type, proposed.name
    pending: list = []
    orchestrate(ctx, policy, deferred_writer(pending, relate=relate))
    decision = decision_record(ctx, policy, note=note)
    changed = [*sorted(ctx.changed_fields), "updated"] if ctx.changed_fields else []
    return ctx, [*pending, decision], changed


def run_set_state(*, kind: str, run, proposed: StateValue, policy: Policy, now, force: bool,
                  flow_run=None, parameters: dict | None = None, note: str = "") -> SetStateResult:
    """Orchestrate `proposed` for a locked `run` and persist the outcome (inside the caller's transaction)."""
    ctx, inserts, changed = _orchestrated(kind=kind, run=run, proposed=proposed, policy=policy, now=now, force=force,
                                          flow_run=flow_run, parameters=parameters, note=note, optimistic=False)
    prepared.write_together(inserts, run if changed else None, changed)
    return SetStateResult(ctx)


def _renders_as_stored(state: StateValue | None) -> bool:
    """Whether the answer shows `state` (a cached copy of a written state) as it shows the row read back: its
    JSON values as they went in are those a read gives when they hold no object of two keys or more (jsonb
    keeps keys in an order of its own) and no float (jsonb may give one back as an int: 1e20)."""
    if state is None:
        return True
    data, keyset = state.data, state.state_details.get("run_input_keyset")
    return (data is None or type(data) in (str, int, bool)) and (keyset is None or len(keyset) < 2)


def run_try_set_state(*, kind: str, run, proposed: StateValue, policy: Policy, now, force: bool,
                      flow_run=None, parameters: dict | None = None, cached: bool = False,
                      decided_from: tuple[str, ...] = ("state_id",), connection=None,
                      relate: bool = True, spend: bool = False, current=_RELATION) -> SetStateResult | None:
    """The optimistic way (module docstring): orchestrate `proposed` for `run`, read without a lock, and
    persist the outcome only if the run's state is still the one read; None (nothing written) if it is not,
    or if a rule needs the lock: the caller then takes the locked way. `proposed` itself is left untouched
    (rules rename and annotate the copy orchestrated here), so the locked way starts from the same proposal
    (unless `spend`, below). PostgreSQL only.

    `cached`: `run` (and `flow_run`) are this process's copies (apps/engine/services/task_run_state_cache.py),
    not a read: the write also requires the run to be in its workspace and the flow run to still have the
    state id copied; an outcome that writes no state answers with the run's current state, given up (None)
    unless the copy shows as the row would (`_renders_as_stored`): the caller then reads it.

    `decided_from`: the run's columns (the state id first) that must still hold the values orchestration read
    (`FLOW_RUN_DECIDED_FROM` for a flow run), taken before the rules change any of them.

    `connection`: this thread's `connections["default"]` when the caller has it (handed to `write_together_if`,
    which otherwise looks it up).

    `relate=False`: `run` is the caller's private copy (the cache's, `cached=True`), of which only its `state_id`
    is pointed at a new state (`deferred_writer`): its `state` relation is left without the old state (a read of
    it would query), and the new row is the result's `state_row`.

    `spend`: `proposed` is the caller's to give up (made for this attempt, made again if it gives up): it is
    orchestrated itself rather than a copy (rules may rename it and bookkeeping writes its details).

    `current`: the run's state row (its `state`, None for none) as the caller holds it (the cache's `get_parts`),
    rather than read back through the run's relation."""
    # (rules and bookkeeping set new values on the run, never change a value such as a policy dict in place)
    expected = tuple([getattr(run, name) for name in decided_from])
    attempt = proposed if spend else StateValue(
        type=proposed.type, name=proposed.name, timestamp=proposed.timestamp, message=proposed.message,
        data=proposed.data, state_details=dict(proposed.state_details), id=proposed.id)
    try:
        ctx, inserts, changed = _orchestrated(kind=kind, run=run, proposed=attempt, policy=policy, now=now,
                                              force=force, flow_run=flow_run, parameters=parameters, note="",
                                              optimistic=True, relate=relate, current=current)
    except NeedsLock:
        return None
    if not cached:
        written = prepared.write_together_if(inserts, run, changed, unchanged=decided_from, value=expected,
                                             connection=connection)
    elif not ctx.wrote_state and not _renders_as_stored(ctx.validated):
        return None
    else:
        also = (type(flow_run), flow_run.id, "state_id", flow_run.state_id) if flow_run is not None else None
        written = prepared.write_together_if(inserts, run, changed, unchanged=decided_from, value=expected,
                                             scope=("workspace_id",), also=also, connection=connection)
    if not written:
        return None
    return SetStateResult(ctx) if relate or not ctx.wrote_state else SetStateResult(ctx, inserts[0])
