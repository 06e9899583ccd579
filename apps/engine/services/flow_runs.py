"""Writes for flow runs: create (idempotent per flow and key), update, delete, set_state, resume."""

from __future__ import annotations

import contextlib
import uuid

from django.db import transaction
from django.utils import timezone

from apps.core import clock, prepared, rows
from apps.core.errors import Conflict, Invalid, NotFound
from apps.engine.models.deployments import Deployment
from apps.engine.models.runs import Decision, Flow, FlowRun, StateType, TaskRun
from apps.engine.orchestration.policies import FLOW_RUN_DECIDED_FROM, MINIMAL_FLOW_POLICY, flow_policy
from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
from apps.engine.schemas.runs import FLOW_RUN_POLICY_DEFAULTS
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.flow_runs import FLOW_RUN_RELATED, flow_run_get_for_set_state, flow_run_get_for_update
from apps.engine.selectors.flows import flow_exists
from apps.engine.services import flow_run_inputs
from apps.engine.services import task_run_state_cache as state_cache
from apps.engine.services.hydration import HydrationError, hydrate
from apps.engine.services.job_variables import job_variables_validate
from apps.engine.services.names import run_name
from apps.engine.services.run_states import (
    SetStateResult,
    decision_record,
    deferred_writer,
    run_set_state,
    run_try_set_state,
)

_UPDATABLE = ("name", "flow_version", "parameters", "empirical_policy", "tags", "infrastructure_pid", "job_variables")


def _initial_state(state: dict | StateValue | None, now) -> StateValue:
    if isinstance(state, StateValue):
        return state
    return StateValue.from_input(state, now=now) if state else StateValue.new(StateType.PENDING, now=now)


def flow_run_create(*, workspace, flow_id: uuid.UUID, state: dict | StateValue | None = None,
                    name: str | None = None, idempotency_key: str | None = None,
                    deployment_id: uuid.UUID | None = None, parent_task_run_id: uuid.UUID | None = None,
                    empirical_policy: dict | None = None, actor=None, **fields) -> tuple[FlowRun, bool]:
    """Create a flow run in its first state (Pending unless given); returns (run, created).

    With an idempotency key, a second create for the same flow and key returns the first run unchanged
    (created=False), even when both race: the unique constraint decides. `fields` are further FlowRun
    columns (flow_version, parameters, context, tags, work_queue_id, work_queue_name, deployment_version,
    job_variables, auto_scheduled, created_by, infrastructure_document_id), for deployments' runs too.
    The flow, deployment and parent task run must belong to the workspace (else 404, in that order).

    On PostgreSQL one statement writes the run and its first state (`prepared.insert_if`: only if the flow
    is in the workspace, nothing on a conflict of the idempotency key), plus one existence check each for a
    deployment or parent task run, and one read of the existing run when the key was taken. Elsewhere (SQLite)
    `_flow_run_create_orm`, the same rows by the ORM in one transaction.
    """
    if prepared.default_connection().vendor != "postgresql":
        return _flow_run_create_orm(workspace=workspace, flow_id=flow_id, state=state, name=name,
                                    idempotency_key=idempotency_key, deployment_id=deployment_id,
                                    parent_task_run_id=parent_task_run_id, empirical_policy=empirical_policy,
                                    **fields)
    workspace_id = getattr(workspace, "pk", workspace)
    if deployment_id is not None or parent_task_run_id is not None:
        _related_exist(workspace=workspace, flow_id=flow_id, deployment_id=deployment_id,
                       parent_task_run_id=parent_task_run_id)
    now = clock.now()  # timezone.now() (apps/core/clock.py)
    key = idempotency_key or None
    values = {"workspace_id": workspace_id, "flow_id": flow_id, "name": name or run_name(), "idempotency_key": key,
              "deployment_id": deployment_id, "parent_task_run_id": parent_task_run_id,
              "empirical_policy": {**FLOW_RUN_POLICY_DEFAULTS, **(empirical_policy or {})}, **fields}
    run = rows.new_instance(FlowRun, tuple(values), tuple(values.values()))
    proposed = _initial_state(state, now)
    # The first state is orchestrated in memory (forced: bookkeeping fills the run's fields), so the run row
    # is inserted complete. With a key, the run's first state is recorded as a decision too, as the ORM way
    # records it (it writes the state by run_set_state there).
    # A subflow's first state is mirrored onto its parent task run while orchestrating (bookkeeping's
    # UpdateSubflowParentTask): that write and the run's go in one transaction, rolled back if the run is not
    # inserted. Any other run's create is the one statement, in autocommit.
    pending: list = []
    subflow = parent_task_run_id is not None
    with transaction.atomic() if subflow else contextlib.nullcontext():
        ctx = OrchestrationContext(kind="flow_run", run=run, initial=None, proposed=proposed, now=now, force=True)
        if key:
            ctx.proposal_type, ctx.proposal_name = proposed.type, proposed.name
        orchestrate(ctx, MINIMAL_FLOW_POLICY, deferred_writer(pending))
        if key:
            pending.append(decision_record(ctx, MINIMAL_FLOW_POLICY, note=_FIRST_STATE_NOTE))
        found, inserted = prepared.insert_if(run, exists=(Flow, {"id": flow_id, "workspace_id": workspace_id}),
                                             dependents=pending)
        if subflow and not inserted:
            transaction.set_rollback(True)  # the mirrored state goes with the run that was not written
    if not found:
        raise NotFound("Flow not found.")
    if not inserted:
        # The key was taken (the id is a new uuid4), by an earlier create or one that won a race.
        existing = (FlowRun.objects.for_workspace(workspace).select_related(*FLOW_RUN_RELATED)
                    .filter(flow_id=flow_id, idempotency_key=key).first())
        if existing is None:  # removed meanwhile (the ORM way's read back raised there)
            raise Conflict("The run for this idempotency key was removed meanwhile; retry.", code="retry")
        return existing, False
    state_cache.flow_run_remember_created(run)  # its `state` is the state row written (pending[0]), by deferred_writer
    return run, True


_FIRST_STATE_NOTE = "The run's first state."


def _related_missing(*, workspace, deployment_id, parent_task_run_id) -> str | None:
    """The 404 message for a deployment or parent task run not in the workspace (checked in that order), None
    when both are there or not asked for."""
    if deployment_id is not None and not Deployment.objects.for_workspace(workspace).filter(pk=deployment_id).exists():
        return "Deployment not found."
    if parent_task_run_id is not None and not TaskRun.objects.for_workspace(workspace).filter(
            pk=parent_task_run_id).exists():
        return "Task run not found."
    return None


def _related_exist(*, workspace, flow_id, deployment_id, parent_task_run_id) -> None:
    """404 for a deployment or parent task run not in the workspace, the flow's 404 first if it is missing too
    (the flow itself is checked by the insert)."""
    missing = _related_missing(workspace=workspace, deployment_id=deployment_id, parent_task_run_id=parent_task_run_id)
    if missing is not None:
        raise NotFound("Flow not found." if not flow_exists(workspace=workspace, flow_id=flow_id) else missing)


def _flow_run_create_orm(*, workspace, flow_id: uuid.UUID, state: dict | StateValue | None = None,
                         name: str | None = None, idempotency_key: str | None = None,
                         deployment_id: uuid.UUID | None = None, parent_task_run_id: uuid.UUID | None = None,
                         empirical_policy: dict | None = None, **fields) -> tuple[FlowRun, bool]:
    """flow_run_create by the ORM (the way before the one-statement insert; SQLite keeps it): an existence
    check per related row, then the run and its state saved in a transaction, or with a key inserted,
    read back and given its first state by run_set_state."""
    if not flow_exists(workspace=workspace, flow_id=flow_id):
        raise NotFound("Flow not found.")
    missing = _related_missing(workspace=workspace, deployment_id=deployment_id, parent_task_run_id=parent_task_run_id)
    if missing is not None:
        raise NotFound(missing)
    now = timezone.now()
    run = FlowRun(
        workspace_id=getattr(workspace, "pk", workspace), flow_id=flow_id, name=name or run_name(),
        idempotency_key=idempotency_key or None, deployment_id=deployment_id, parent_task_run_id=parent_task_run_id,
        empirical_policy={**FLOW_RUN_POLICY_DEFAULTS, **(empirical_policy or {})}, **fields,
    )
    proposed = _initial_state(state, now)
    with transaction.atomic():
        if run.idempotency_key:
            # Insert-or-nothing, then read back: exactly one run per (flow, key), whoever wins a race.
            FlowRun.objects.for_workspace(workspace).bulk_create([run], ignore_conflicts=True)
            existing = (FlowRun.objects.for_workspace(workspace).select_related(*FLOW_RUN_RELATED)
                        .get(flow_id=flow_id, idempotency_key=run.idempotency_key))
            if existing.pk != run.pk:
                return existing, False
            run = existing
            result = run_set_state(kind="flow_run", run=run, proposed=proposed, policy=MINIMAL_FLOW_POLICY,
                                   now=now, force=True, note=_FIRST_STATE_NOTE)
            return result.context.run, True
        # The run's first state is orchestrated in memory (bookkeeping fills the run's fields), then the
        # run and its state are inserted; their foreign keys to each other are checked at commit.
        pending: list = []
        ctx = OrchestrationContext(kind="flow_run", run=run, initial=None, proposed=proposed, now=now, force=True)
        orchestrate(ctx, MINIMAL_FLOW_POLICY, deferred_writer(pending))
        run.save(force_insert=True)
        for row in pending:
            row.save(force_insert=True)
    return run, True


def flow_run_update(*, workspace, flow_run_id: uuid.UUID, changes: dict, actor=None) -> None:
    """Update the given fields (name, flow_version, parameters, empirical_policy, tags, infrastructure_pid,
    job_variables). Job variables change only while the run is Scheduled and has a deployment."""
    with transaction.atomic():
        run = FlowRun.objects.for_workspace(workspace).select_for_update().filter(pk=flow_run_id).first()
        if run is None:
            raise NotFound("Flow run not found.")
        if changes.get("job_variables") is not None:
            if run.state_type != StateType.SCHEDULED:
                raise Invalid(f"Job variables for a flow run in state {run.state_type} cannot be updated",
                              loc=["body", "job_variables"])
            if run.deployment_id is None:
                raise Invalid("A deployment for the flow run could not be found", loc=["body", "job_variables"])
            deployment = (Deployment.objects.for_workspace(workspace).select_related("work_queue__work_pool")
                          .filter(pk=run.deployment_id).first())
            if deployment is None:
                raise Invalid("A deployment for the flow run could not be found", loc=["body", "job_variables"])
            if deployment.work_queue is not None:
                job_variables_validate(workspace=workspace, pool=deployment.work_queue.work_pool,
                                       layers=[deployment.job_variables, changes["job_variables"]], require=True,
                                       action="Error updating flow run")
        fields = [name for name in _UPDATABLE if name in changes]
        for name in fields:
            value = changes[name]
            if name == "empirical_policy":
                value = {**FLOW_RUN_POLICY_DEFAULTS, **value}
            if name == "name" and not value:
                continue
            setattr(run, name, value)
        if fields:
            run.save(update_fields=[*fields, "updated"])


def flow_run_delete(*, workspace, flow_run_id: uuid.UUID, actor=None) -> None:
    """Delete a flow run with its states, task runs and decisions."""
    deleted, _ = FlowRun.objects.for_workspace(workspace).filter(pk=flow_run_id).delete()
    if not deleted:
        raise NotFound("Flow run not found.")


def flow_run_set_state(*, workspace, flow_run_id: uuid.UUID, state: dict | StateValue, force: bool = False,
                       actor=None, parameters: dict | None = None) -> SetStateResult:
    """Propose a state for a flow run; the core flow policy decides (the minimal one with force=True).

    Concurrent proposals for one run are decided one after the other, each seeing the state the previous one
    left. On PostgreSQL optimistically first (apps/engine/services/run_states.py): from this process's copy of
    the run (apps/engine/services/task_run_state_cache.py), one statement writes if the run is still in the
    workspace with the state and every other column the flow policies read (`FLOW_RUN_DECIDED_FROM`) as
    copied; else (no copy, or the run changed since) one query reads the run with its state, unlocked, and one
    statement writes if those columns still hold what was read. Otherwise (another change won in between, a
    subflow, whose states are mirrored onto its parent's task run, or another database) in a transaction: the
    same read under the run's row lock, then the write.
    """
    now = clock.now()  # timezone.now() (apps/core/clock.py)
    proposed = state if isinstance(state, StateValue) else StateValue.from_input(state, now=now)
    policy = flow_policy(force=force)
    default = prepared.default_connection()  # looked up once, handed to the write (as task_run_set_state)
    if default.vendor == "postgresql":
        workspace_id = getattr(workspace, "pk", workspace)
        run = state_cache.flow_run_get(workspace_id, flow_run_id) if state_cache.ENABLED else None
        if run is not None:
            if run.parent_task_run_id is None:
                result = run_try_set_state(kind="flow_run", run=run, proposed=proposed, policy=policy, now=now,
                                           force=force, parameters=parameters, cached=True,
                                           decided_from=FLOW_RUN_DECIDED_FROM, connection=default)
                if result is not None:
                    state_cache.flow_run_remember(run)
                    return result
            state_cache.flow_run_forget(workspace_id, flow_run_id)  # moved on, or a subflow: read it afresh
        run = flow_run_get_for_set_state(workspace=workspace, flow_run_id=flow_run_id)
        if run is None:
            raise NotFound("Flow run not found.")
        if run.parent_task_run_id is None:  # a subflow's bookkeeping writes its parent's task run: locked
            result = run_try_set_state(kind="flow_run", run=run, proposed=proposed, policy=policy, now=now,
                                       force=force, parameters=parameters, decided_from=FLOW_RUN_DECIDED_FROM,
                                       connection=default)
            if result is not None:
                state_cache.flow_run_remember(run)
                return result
    with transaction.atomic():
        run = flow_run_get_for_update(workspace=workspace, flow_run_id=flow_run_id)
        if run is None:
            raise NotFound("Flow run not found.")
        result = run_set_state(kind="flow_run", run=run, proposed=proposed, policy=policy, now=now, force=force,
                               parameters=parameters)
    state_cache.flow_run_remember(run)
    return result


def flow_run_resume(*, workspace, flow_run_id: uuid.UUID, run_input: dict | None = None,
                    actor=None) -> SetStateResult | None:
    """Resume a Paused flow run: Running again, or Scheduled ("Resuming") if it was suspended.

    Returns None when the run is not paused (the API answers ABORT, as Prefect does). A run paused for
    typed input (`run_input_keyset`) resumes only with input that, once hydrated (`__prefect_kind` values),
    satisfies the schema the flow stored;
    otherwise the answer is REJECT with the reason and nothing changes. Accepted input is stored under
    the keyset's response key, in the same transaction, for the flow to read.
    """
    now = timezone.now()
    with transaction.atomic():
        run = flow_run_get_for_update(workspace=workspace, flow_run_id=flow_run_id)
        if run is None:
            raise NotFound("Flow run not found.")
        if run.state_type != StateType.PAUSED or run.state is None:
            return None
        details = run.state.state_details or {}
        keyset = details.get("run_input_keyset")
        if keyset:
            try:
                run_input = hydrate(run_input or {}, workspace=workspace) or {}
            except HydrationError as exc:
                reason = f"Error hydrating run input: {exc}"
            else:
                reason = flow_run_inputs.run_input_rejection(workspace=workspace, flow_run_id=run.pk, keyset=keyset,
                                                             run_input=run_input)
            if reason is not None:
                ctx = OrchestrationContext(kind="flow_run", run=run, initial=StateValue.from_row(run.state),
                                           proposed=None, now=now, status=Decision.REJECT, reason=reason)
                ctx.validated = ctx.initial
                return RunInputRejected(ctx)
        if details.get("pause_reschedule"):
            proposed = StateValue.new(StateType.SCHEDULED, "Resuming", now=now, scheduled_time=now)
        else:
            proposed = StateValue.new(StateType.RUNNING, now=now)
        result = run_set_state(kind="flow_run", run=run, proposed=proposed, policy=flow_policy(force=False), now=now,
                               force=False, note="Resumed through the API.")
        if keyset and run_input and result.status == Decision.ACCEPT:
            flow_run_inputs.run_input_store_response(workspace=workspace, flow_run_id=run.pk, keyset=keyset,
                                                     run_input=run_input)
        return result


class RunInputRejected(SetStateResult):
    """A resume refused for its input: Prefect 2.20 answers REJECT with `abort_details`, kept as is."""

    def as_json(self) -> dict:
        return {**super().as_json(), "details": {"type": "abort_details", "reason": self.context.reason}}
