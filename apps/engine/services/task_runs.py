"""Writes for task runs: create (an upsert on flow run + task key + dynamic key), update, delete,
set_state, and mirroring a subflow's states onto the task run that tracks it."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from apps.core import clock, ids, prepared, rows
from apps.core.errors import Conflict, NotFound
from apps.engine.models.runs import FlowRun, StateType, TaskRun
from apps.engine.orchestration.policies import MINIMAL_TASK_POLICY, task_policy
from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
from apps.engine.orchestration.task_rules import needs_lock_likely
from apps.engine.schemas.runs import TASK_RUN_POLICY_DEFAULTS
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.task_runs import task_run_get_for_set_state, task_run_get_for_update
from apps.engine.services import task_run_state_cache as state_cache
from apps.engine.services.run_states import SetStateResult, deferred_writer, run_set_state, run_try_set_state


def task_run_create(*, workspace, task_key: str, dynamic_key: str, flow_run_id: uuid.UUID | None = None,
                    state: dict | None = None, id: uuid.UUID | None = None, name: str | None = None,
                    empirical_policy: dict | None = None, actor=None, **fields) -> tuple[TaskRun, bool]:
    """The task run of (flow run, task key, dynamic key), created in its first state (Pending unless given)
    if new; returns (run, created). A retried create returns the existing run unchanged.

    `fields`: cache_key, cache_expiration, task_version, tags, task_inputs. The flow run must belong to
    the workspace (else 404).
    """
    now = clock.now()  # timezone.now() (apps/core/clock.py)
    workspace_id = getattr(workspace, "pk", workspace)
    # TaskRun(**values), built without Model.__init__'s work where rows.new_instance can (the same instance)
    values = {"id": id or ids.uuid4(), "workspace_id": workspace_id, "flow_run_id": flow_run_id,
              "task_key": task_key, "dynamic_key": dynamic_key, "name": name or f"{task_key}-{dynamic_key}",
              "empirical_policy": {**TASK_RUN_POLICY_DEFAULTS, **(empirical_policy or {})}, **fields}
    run = rows.new_instance(TaskRun, tuple(values), tuple(values.values()))
    proposed = StateValue.from_input(state, now=now) if state else StateValue.new(StateType.PENDING, now=now)
    # The first state is orchestrated in memory (forced: bookkeeping only, no side effects), so the run
    # row is inserted complete; its state row follows only if the run was new.
    pending: list = []
    ctx = OrchestrationContext(kind="task_run", run=run, initial=None, proposed=proposed, now=now, force=True)
    orchestrate(ctx, MINIMAL_TASK_POLICY, deferred_writer(pending))

    def same_keys():  # built only when read: a retried create or a run without a flow run (about 20% of a create)
        return (TaskRun.objects.for_workspace(workspace).select_related("state")
                .filter(task_key=task_key, dynamic_key=dynamic_key))

    if flow_run_id is not None:
        # One statement (on PostgreSQL): insert the run and its state only if the flow run is in this
        # workspace, nothing on a conflict of the unique (flow run, task key, dynamic key); read back only then.
        found, inserted = prepared.insert_if(
            run, exists=(FlowRun, {"id": flow_run_id, "workspace_id": workspace_id}), dependents=pending)
        if not found:
            raise NotFound("Flow run not found.")
        existing = None if inserted else same_keys().filter(flow_run_id=flow_run_id).first()
    else:
        with transaction.atomic():
            # Runs without a flow run have no unique constraint to lean on (NULL never conflicts).
            existing = same_keys().filter(flow_run__isnull=True).first()
            inserted = existing is None and prepared.insert(run, ignore_conflicts=True)
            for row in pending if inserted else ():
                prepared.insert(row)
    if not inserted:
        if existing is None:
            # Nothing has these keys: the conflict was the id the client chose, which another task run has.
            raise Conflict("A task run with this id already exists.", code="task_run_id_taken")
        return existing, False
    if not pending:  # (else orchestration's writer already pointed the run at its one state row, pending[0])
        run.state = None
    state_cache.remember_created(run)
    return run, True


def task_run_update(*, workspace, task_run_id: uuid.UUID, changes: dict, actor=None) -> None:
    fields = {k: v for k, v in changes.items() if k == "name" and v}
    if not TaskRun.objects.for_workspace(workspace).filter(pk=task_run_id).exists():
        raise NotFound("Task run not found.")
    if fields:
        TaskRun.objects.for_workspace(workspace).filter(pk=task_run_id).update(**fields, updated=timezone.now())


def task_run_delete(*, workspace, task_run_id: uuid.UUID, actor=None) -> None:
    deleted, _ = TaskRun.objects.for_workspace(workspace).filter(pk=task_run_id).delete()
    if not deleted:
        raise NotFound("Task run not found.")


def task_run_set_state(*, workspace, task_run_id: uuid.UUID, state: dict | StateValue, force: bool = False,
                       actor=None, parameters: dict | None = None) -> SetStateResult:
    """Propose a state for a task run; the core task policy decides (the minimal one with force=True).

    On PostgreSQL optimistically first (apps/engine/services/run_states.py): from this process's copy of the
    task run and its flow run if it has one (apps/engine/services/task_run_state_cache.py), one statement
    writes if both runs' states are still the ones copied; else (no copy, or either run changed since) one
    query reads the task run with its state, its flow run and the flow run's state, unlocked, and one
    statement writes if the run's state is still the one read. Otherwise (another transition won in between,
    a rule writing rows of its own, or another database) in a transaction: the same read under the task run's
    row lock, then the write; when the run shows that a rule will most likely write rows of its own
    (`needs_lock_likely`: tag slots, the task cache), it goes that way at once rather than orchestrating twice.
    """
    now = clock.now()  # timezone.now() (apps/core/clock.py)
    proposed = state if isinstance(state, StateValue) else StateValue.from_input(state, now=now)
    policy = task_policy(force=force)
    # This thread's default connection, looked up once and handed to the write (`django.db.connection.vendor`
    # then `write_together_if`'s own lookup were two trips through asgiref's Local, ~29 k instructions), by
    # prepared.default_connection (`connections["default"]` without the trip: ~2 k instead of ~10 k)
    connection = prepared.default_connection()
    if connection.vendor == "postgresql":
        workspace_id = getattr(workspace, "pk", workspace)
        found = state_cache.get_parts(workspace_id, task_run_id) if state_cache.ENABLED else None
        if found is not None:
            run, current, flow_run = found
            if not needs_lock_likely(run, proposed, force=force):
                # A proposal made here from the client's input is spent by this attempt (orchestrated as it is,
                # not copied), and made again from the input if the attempt gives up
                own = not isinstance(state, StateValue)
                result = run_try_set_state(kind="task_run", run=run, proposed=proposed, policy=policy, now=now,
                                           force=force, flow_run=flow_run, parameters=parameters, cached=True,
                                           connection=connection, relate=False, spend=own, current=current)
                if result is not None:
                    # the flow run as copied: unchanged; the run's new state (if any) is the result's row, its
                    # `state` relation left unset (the copy is this call's own: `deferred_writer(relate=False)`)
                    state_cache.remember(run, flow_run=False, state=result.state_row)
                    return result
                if own:
                    proposed = StateValue.from_input(state, now=now)
            state_cache.forget(workspace_id, task_run_id)  # moved on (or about to): read it afresh
        run = task_run_get_for_set_state(workspace=workspace, task_run_id=task_run_id)
        if run is None:
            raise NotFound("Task run not found.")
        if not needs_lock_likely(run, proposed, force=force):  # else the attempt would only give up (NeedsLock)
            result = run_try_set_state(kind="task_run", run=run, proposed=proposed, policy=policy, now=now,
                                       force=force, flow_run=run.flow_run if run.flow_run_id else None,
                                       parameters=parameters, connection=connection)
            if result is not None:
                state_cache.remember(run)
                return result
    with transaction.atomic():
        run = task_run_get_for_update(workspace=workspace, task_run_id=task_run_id)
        if run is None:
            raise NotFound("Task run not found.")
        result = run_set_state(kind="task_run", run=run, proposed=proposed, policy=policy, now=now,
                               force=force, flow_run=run.flow_run if run.flow_run_id else None, parameters=parameters)
    state_cache.remember(run)
    return result


def task_run_mirror_subflow_state(*, workspace, task_run_id: uuid.UUID, subflow_state: StateValue,
                                  subflow_run_id: uuid.UUID, now) -> None:
    """Force a subflow's new state onto the parent flow's task run that tracks it (child_flow_run_id set)."""
    run = task_run_get_for_update(workspace=workspace, task_run_id=task_run_id)
    if run is None:
        return  # the tracking task run was deleted: nothing to mirror onto
    mirrored = subflow_state.copy_as_new(now=now)
    mirrored.state_details["child_flow_run_id"] = str(subflow_run_id)
    run_set_state(kind="task_run", run=run, proposed=mirrored, policy=MINIMAL_TASK_POLICY, now=now, force=True,
                  flow_run=run.flow_run if run.flow_run_id else None,
                  note=f"Mirrors the state of subflow run {subflow_run_id}.")
