"""Writes for flow runs: create (idempotent per flow and key), update, delete, set_state, resume."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Invalid, NotFound
from apps.engine.models.deployments import Deployment
from apps.engine.models.runs import Decision, FlowRun, StateType, TaskRun
from apps.engine.orchestration.policies import MINIMAL_FLOW_POLICY, flow_policy
from apps.engine.orchestration.rules import OrchestrationContext, orchestrate
from apps.engine.schemas.runs import FLOW_RUN_POLICY_DEFAULTS
from apps.engine.schemas.states import StateValue
from apps.engine.selectors.flow_runs import FLOW_RUN_RELATED, flow_run_get_for_update
from apps.engine.selectors.flows import flow_exists
from apps.engine.services import flow_run_inputs
from apps.engine.services.hydration import HydrationError, hydrate
from apps.engine.services.job_variables import job_variables_validate
from apps.engine.services.names import run_name
from apps.engine.services.run_states import SetStateResult, deferred_writer, run_set_state

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
    The flow, deployment and parent task run must belong to the workspace (else 404).
    """
    if not flow_exists(workspace=workspace, flow_id=flow_id):
        raise NotFound("Flow not found.")
    if deployment_id is not None and not Deployment.objects.for_workspace(workspace).filter(pk=deployment_id).exists():
        raise NotFound("Deployment not found.")
    if parent_task_run_id is not None and not TaskRun.objects.for_workspace(workspace).filter(
            pk=parent_task_run_id).exists():
        raise NotFound("Task run not found.")
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
                                   now=now, force=True, note="The run's first state.")
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

    The run row is locked for the whole transaction, so concurrent proposals for one run are decided
    one after the other, each seeing the state the previous one left.
    """
    now = timezone.now()
    proposed = state if isinstance(state, StateValue) else StateValue.from_input(state, now=now)
    with transaction.atomic():
        run = flow_run_get_for_update(workspace=workspace, flow_run_id=flow_run_id)
        if run is None:
            raise NotFound("Flow run not found.")
        return run_set_state(kind="flow_run", run=run, proposed=proposed, policy=flow_policy(force=force), now=now,
                             force=force, parameters=parameters)


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
