"""The orchestration machinery: the context of one proposed transition, the rule and bookkeeping bases,
and `orchestrate()`, which runs a policy over a context.

Semantics follow Prefect 2.20 (server/orchestration/rules.py), written our own way:
- A rule applies to a transition when the run's current state type is in FROM_STATES and the proposed
  type in TO_STATES (None = "no state").
- Rules run in policy order. A rule is entered only if the transition is still the one it was chosen
  for; a rule that rejects, delays or aborts changes the transition, so later rules no longer apply.
- After the state is written, rules still valid run `after`; rules whose transition was changed by a
  later rule run `cleanup` to undo what their `before` did (e.g. give back a concurrency slot).
- Bookkeeping transforms run on every transition that still writes a state, innermost.

Rules never query on their own: what they need is loaded once with the run (the current state, the
parent flow run for task runs) or read through a selector.

A rule that writes anything beyond the run, its new state and the decision (concurrency slots, the task
cache) calls `ctx.require_lock()` first: on the optimistic path (apps/engine/services/run_states.py, nothing
locked, nothing written yet) that raises `NeedsLock` and the set_state starts again under the run's lock.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from apps.engine.models.runs import Decision, StateType
from apps.engine.schemas.states import StateValue

ALL_STATES: frozenset = frozenset({*StateType, None})
TERMINAL_STATES: frozenset = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED,
                                        StateType.CRASHED})


class NeedsLock(Exception):
    """Raised by `OrchestrationContext.require_lock` on the optimistic path: this transition has side effects
    beyond the run's own rows, so it must be orchestrated again under the run's lock, in a transaction."""


@dataclass
class OrchestrationContext:
    """Everything one set_state needs: the locked run, its current state, the proposal and the outcome.

    `run` is the model instance, mutated in memory by rules and bookkeeping and saved once afterwards.
    `flow_run` is the parent flow run of a task run (loaded with it, with its state), else None.
    `validated` is the state the run ends in (new, or the current one when nothing was written).
    """

    kind: str  # "flow_run" | "task_run"
    run: Any
    initial: StateValue | None
    proposed: StateValue | None
    now: datetime.datetime
    flow_run: Any = None
    force: bool = False
    parameters: dict = field(default_factory=dict)
    status: str = Decision.ACCEPT
    reason: str = ""
    delay_seconds: int | None = None
    decided_by: str = ""
    renamed_by: list = field(default_factory=list)
    validated: StateValue | None = None
    wrote_state: bool = False
    proposal_type: str | None = None  # what the client proposed, kept for the decision record
    proposal_name: str | None = None
    changed_fields: set = field(default_factory=set)
    after_write: list = field(default_factory=list)
    optimistic: bool = False  # orchestrated without the run's lock, written only if its state is unchanged

    @property
    def initial_type(self) -> str | None:
        return self.initial.type if self.initial else None

    @property
    def proposed_type(self) -> str | None:
        return self.proposed.type if self.proposed else None

    def set(self, **values) -> None:
        """Change fields of the run, remembering which, so the final UPDATE writes only those."""
        for name, value in values.items():
            setattr(self.run, name, value)
            self.changed_fields.add(name)

    def require_lock(self) -> None:
        """Called by a rule before a write of its own (other rows than the run, its state, the decision):
        on the optimistic path, give up (`NeedsLock`) before anything is written."""
        if self.optimistic:
            raise NeedsLock

    def details_json(self) -> dict:
        if self.status == Decision.ACCEPT:
            return {"type": "accept_details"}
        if self.status == Decision.WAIT:
            return {"type": "wait_details", "delay_seconds": self.delay_seconds, "reason": self.reason}
        if self.status == Decision.REJECT:
            return {"type": "reject_details", "reason": self.reason}
        return {"type": "abort_details", "reason": self.reason}


class Rule:
    """One concern of orchestration. Override `before` (may accept, rename, reject, wait or abort),
    `after` (side effects once the state is written) and `cleanup` (undo `before` when a later rule
    changed the outcome). The docstring of each rule says what it guarantees."""

    FROM_STATES: ClassVar[frozenset] = ALL_STATES
    TO_STATES: ClassVar[frozenset] = ALL_STATES
    # A universal rule's `after` runs whenever a state was written, even one another rule substituted
    # (Prefect's universal transforms inside a policy, e.g. releasing concurrency slots).
    universal: ClassVar[bool] = False

    def __init__(self, ctx: OrchestrationContext, from_type, to_type):
        self.ctx = ctx
        self.from_type = from_type
        self.to_type = to_type

    @classmethod
    def applies(cls, from_type, to_type) -> bool:
        return from_type in cls.FROM_STATES and to_type in cls.TO_STATES

    @property
    def name(self) -> str:
        return type(self).__name__

    def still_valid(self) -> bool:
        return (self.ctx.initial_type, self.ctx.proposed_type) == (self.from_type, self.to_type)

    def before(self, ctx: OrchestrationContext) -> None:
        """Decide about the proposal before anything is written."""

    def after(self, ctx: OrchestrationContext) -> None:
        """Side effects once the state is written (only if this rule's transition still holds)."""

    def cleanup(self, ctx: OrchestrationContext) -> None:
        """Undo `before` when a later rule changed the transition."""

    # --- outcomes -------------------------------------------------------------------------------
    def _decide(self, status: str, reason: str, proposed: StateValue | None) -> None:
        self.ctx.proposed = proposed
        self.to_type = proposed.type if proposed else None  # a rule that changes the outcome never fizzles
        self.ctx.status = status
        self.ctx.reason = reason
        self.ctx.decided_by = self.name

    def reject(self, state: StateValue | None, reason: str) -> None:
        """Refuse the proposal; write `state` instead, or keep the current state when None."""
        if state is None and self.ctx.initial is None:
            raise RuntimeError("A run without a state cannot be rejected without a replacement state.")
        self.ctx.delay_seconds = None
        self._decide(Decision.REJECT, reason, state)

    def wait(self, delay_seconds: int, reason: str) -> None:
        """Write nothing; the client should propose again after `delay_seconds`."""
        self._decide(Decision.WAIT, reason, None)
        self.ctx.delay_seconds = int(delay_seconds)

    def abort(self, reason: str) -> None:
        """Write nothing; the client should stop orchestrating this run."""
        self.ctx.delay_seconds = None
        self._decide(Decision.ABORT, reason, None)

    def rename(self, name: str) -> None:
        """Rename the proposed state (its type stays): Retrying, Rerunning, Cached..."""
        if self.ctx.proposed is not None:
            self.ctx.proposed.name = name
            self.ctx.renamed_by.append(self.name)


class Bookkeeping:
    """A transform that runs on every transition that writes a state (Prefect's universal transforms):
    timestamps, run counts, durations. `before` sees the final proposal; `after` the written state.

    Stateless: everything a hook needs is in the context it is given, so one instance per policy serves every
    transition, in every thread (`Policy.plan`), rather than a new one per transform and set_state."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def before(self, ctx: OrchestrationContext) -> None:
        """Record what the proposed state changes on the run."""

    def after(self, ctx: OrchestrationContext) -> None:
        """Side effects once the state is written."""


def _overrides(cls, base, name: str) -> bool:
    return getattr(cls, name) is not getattr(base, name)


@dataclass(frozen=True)
class _Plan:
    """What `orchestrate` runs for one policy and one (from, to) pair, worked out once: the applicable rules,
    each as (class, universal, overrides `before`, overrides `after`, overrides `cleanup`, own `still_valid`),
    and the bookkeeping hooks of their own (bound methods of the policy's one instance per transform). A hook
    left as the base's no-op is not called (calling it would do nothing)."""

    rules: tuple
    bookkeeping_before: tuple  # in policy order
    bookkeeping_after: tuple  # in reverse order


@dataclass(frozen=True)
class Policy:
    """An ordered list of rules (the order is the documentation) and the bookkeeping run after them."""

    name: str
    rules: tuple
    bookkeeping: tuple
    _plans: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @functools.cached_property
    def transforms(self) -> list[Bookkeeping]:
        """One instance of each bookkeeping transform (they are stateless), shared by every plan."""
        return [transform() for transform in self.bookkeeping]

    def rules_for(self, from_type, to_type) -> list[type[Rule]]:
        return [rule for rule in self.rules if rule.applies(from_type, to_type)]

    def plan(self, from_type, to_type) -> _Plan:
        """The rules and bookkeeping of (from, to), cached: which rules apply depends only on their classes'
        FROM_STATES/TO_STATES and the two types."""
        plan = self._plans.get((from_type, to_type))
        if plan is None:
            rules = tuple((rule, rule.universal, _overrides(rule, Rule, "before"), _overrides(rule, Rule, "after"),
                           _overrides(rule, Rule, "cleanup"), _overrides(rule, Rule, "still_valid"))
                          for rule in self.rules_for(from_type, to_type))
            transforms = self.transforms
            plan = self._plans[(from_type, to_type)] = _Plan(
                rules=rules,
                bookkeeping_before=tuple(t.before for t in transforms if _overrides(type(t), Bookkeeping, "before")),
                bookkeeping_after=tuple(t.after for t in reversed(transforms)
                                        if _overrides(type(t), Bookkeeping, "after")))
        return plan


def _type(state: StateValue | None) -> str | None:
    return state.type if state is not None else None


def orchestrate(ctx: OrchestrationContext, policy: Policy, write_state) -> OrchestrationContext:
    """Run `policy` over `ctx`; `write_state(ctx)` persists `ctx.proposed` when one is left to write.

    Returns the context with `status`, `reason`, `validated` and the run's changed fields filled in.
    """
    from_type, to_type = _type(ctx.initial), _type(ctx.proposed)
    plan = policy.plan(from_type, to_type)
    entered: list = []
    for rule_class, universal, has_before, has_after, has_cleanup, own_still_valid in plan.rules:
        if not (universal or own_still_valid):
            # Rule.still_valid, inline: an earlier rule may have changed the transition this rule was chosen for
            proposed, current = ctx.proposed, ctx.initial
            if ((proposed.type if proposed is not None else None) != to_type
                    or (current.type if current is not None else None) != from_type):
                continue
        rule = rule_class(ctx, from_type, to_type)
        if own_still_valid and not universal and not rule.still_valid():
            continue
        if has_before:
            rule.before(ctx)
        if has_after or has_cleanup or (own_still_valid and not universal):
            # (a rule with neither hook, nor a still_valid of its own to call, would do nothing below)
            entered.append((rule, universal, has_after, has_cleanup, own_still_valid))

    if ctx.proposed is not None:
        for before in plan.bookkeeping_before:
            before(ctx)
        if ctx.proposed is not None:
            write_state(ctx)
            ctx.validated = ctx.proposed
            ctx.wrote_state = True
            for after in plan.bookkeeping_after:
                after(ctx)
        else:
            ctx.validated = ctx.initial
    else:
        ctx.validated = ctx.initial

    for rule, universal, has_after, has_cleanup, own_still_valid in reversed(entered):
        if universal:
            if ctx.wrote_state and has_after:
                rule.after(ctx)
            continue
        if rule.still_valid() if own_still_valid else (
                _type(ctx.initial) == rule.from_type and _type(ctx.proposed) == rule.to_type):
            if has_after:
                rule.after(ctx)
        elif has_cleanup:
            rule.cleanup(ctx)
    return ctx
