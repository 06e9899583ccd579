"""`orchestrate` works from a plan per policy and (from, to) pair, skipping hooks left as the base's no-op
(apps/engine/orchestration/rules.py): it must call the same hooks in the same order, with the same outcome,
as the plain loop it replaced, for any policy. Checked on random policies of recording rules (rejecting,
waiting, aborting, renaming, universal, with a still_valid of their own, with and without hooks)."""

from __future__ import annotations

import datetime
import random

from apps.engine.models.runs import StateType
from apps.engine.orchestration.rules import ALL_STATES, Bookkeeping, OrchestrationContext, Policy, Rule, orchestrate
from apps.engine.schemas.states import StateValue

NOW = datetime.datetime(2026, 12, 6, 12, 0, tzinfo=datetime.UTC)
TYPES = [*StateType, None]


def reference_orchestrate(ctx, policy, write_state):
    """The loop before the plan (rules.py at 597000d), kept as the specification."""
    from_type, to_type = ctx.initial_type, ctx.proposed_type
    entered = []
    for rule_class in policy.rules_for(from_type, to_type):
        rule = rule_class(ctx, from_type, to_type)
        if not rule.universal and not rule.still_valid():
            continue
        rule.before(ctx)
        entered.append(rule)
    transforms = [transform() for transform in policy.bookkeeping]  # (each took the context until taskpath)
    if ctx.proposed is not None:
        for transform in transforms:
            transform.before(ctx)
    if ctx.proposed is not None:
        write_state(ctx)
        ctx.validated = ctx.proposed
        ctx.wrote_state = True
        for transform in reversed(transforms):
            transform.after(ctx)
    else:
        ctx.validated = ctx.initial
    for rule in reversed(entered):
        if rule.universal:
            if ctx.wrote_state:
                rule.after(ctx)
        elif rule.still_valid():
            rule.after(ctx)
        else:
            rule.cleanup(ctx)
    return ctx


def _state(state_type):
    return None if state_type is None else StateValue(type=state_type, name=str(state_type), timestamp=NOW)


def _rule_class(rng, n):
    action = rng.choice(["none", "none", "reject", "reject_keep", "wait", "abort", "rename"])
    replacement = rng.choice([t for t in StateType])
    hooks = rng.sample(["before", "after", "cleanup"], rng.randint(0, 3))
    attributes = {
        "FROM_STATES": ALL_STATES if rng.random() < 0.4 else frozenset(rng.sample(TYPES, rng.randint(1, 5))),
        "TO_STATES": ALL_STATES if rng.random() < 0.4 else frozenset(rng.sample(TYPES, rng.randint(1, 5))),
        "universal": rng.random() < 0.15,
    }

    def before(self, ctx):
        ctx.parameters["trace"].append((self.name, "before", ctx.proposed_type))
        if action == "reject":
            self.reject(_state(replacement), "rejected")
        elif action == "reject_keep" and ctx.initial is not None:
            self.reject(None, "kept")
        elif action == "wait":
            self.wait(3, "wait")
        elif action == "abort":
            self.abort("abort")
        elif action == "rename":
            self.rename(f"renamed by {self.name}")

    def after(self, ctx):
        ctx.parameters["trace"].append((self.name, "after", ctx.validated.type if ctx.validated else None))

    def cleanup(self, ctx):
        ctx.parameters["trace"].append((self.name, "cleanup", ctx.proposed_type))

    for name, hook in (("before", before), ("after", after), ("cleanup", cleanup)):
        if name in hooks:
            attributes[name] = hook
    if rng.random() < 0.1:
        attributes["still_valid"] = lambda self: True  # a rule that never fizzles
    return type(f"Rule{n}", (Rule,), attributes)


class Stamp(Bookkeeping):
    def before(self, ctx):
        ctx.parameters["trace"].append(("Stamp", "before", ctx.proposed_type))


class Echo(Bookkeeping):
    def after(self, ctx):
        ctx.parameters["trace"].append(("Echo", "after", ctx.validated.type))


class Silent(Bookkeeping):
    pass


def _run(implementation, policy, initial, proposed):
    ctx = OrchestrationContext(kind="task_run", run=None, initial=_state(initial), proposed=_state(proposed),
                               now=NOW, parameters={"trace": []})
    written = []
    implementation(ctx, policy, lambda c: written.append(c.proposed.type))
    return (ctx.parameters["trace"], written, ctx.status, ctx.reason, ctx.delay_seconds, ctx.decided_by,
            ctx.renamed_by, ctx.wrote_state, ctx.validated.type if ctx.validated else None,
            ctx.validated.name if ctx.validated else None)


def test_the_planned_loop_calls_what_the_plain_loop_called_on_random_policies():
    rng = random.Random(1206)
    compared = hooks_called = 0
    for n in range(150):
        pool = [_rule_class(rng, f"{n}_{k}") for k in range(rng.randint(1, 12))]
        policy = Policy(name=f"P{n}", rules=tuple(pool),
                        bookkeeping=tuple(rng.sample([Stamp, Echo, Silent], rng.randint(0, 3))))
        for initial in TYPES:
            for proposed in rng.sample([t for t in StateType], 4):
                for _ in range(2):  # the second run uses the cached plan
                    got = _run(orchestrate, policy, initial, proposed)
                    assert got == _run(reference_orchestrate, policy, initial, proposed), (policy, initial, proposed)
                    compared += 1
                    hooks_called += len(got[0])
    assert compared > 5_000 and hooks_called > 20_000


def test_the_bookkeeping_transforms_hold_no_state():
    """One instance of each transform serves every transition of its policy, in every thread (rules.py
    `Policy.transforms`): no transform may keep anything on itself (an assignment to an attribute of `self`)."""
    import ast
    import inspect

    from apps.engine.orchestration.bookkeeping import FLOW_RUN_BOOKKEEPING, TASK_RUN_BOOKKEEPING

    for transform in {*FLOW_RUN_BOOKKEEPING, *TASK_RUN_BOOKKEEPING}:
        tree = ast.parse(inspect.getsource(transform))
        stores = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                  and isinstance(node.value, ast.Name) and node.value.id == "self"]
        assert not stores, transform
        assert "__init__" not in vars(transform), transform
