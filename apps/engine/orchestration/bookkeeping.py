"""Bookkeeping on every transition that writes a state, whatever the rules decided (Prefect's global
policy): the run's denormalised state, start/end times, run time, run counts, expected and next
scheduled start times, and the state's references to its run."""

from __future__ import annotations

from apps.engine.models.runs import StateType
from apps.engine.orchestration.rules import Bookkeeping, OrchestrationContext
from apps.engine.schemas.states import uuid_text


class SetRunStateFields(Bookkeeping):
    """The run's `state_type`, `state_name` and `state_timestamp` are the written state's."""

    def before(self, ctx: OrchestrationContext) -> None:
        p = ctx.proposed
        ctx.set(state_type=p.type, state_name=p.name, state_timestamp=p.timestamp)


class SetStartTime(Bookkeeping):
    """`start_time` is when the run first entered Running."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.proposed.is_running and ctx.run.start_time is None:
            ctx.set(start_time=ctx.proposed.timestamp)


class SetEndTime(Bookkeeping):
    """`end_time` is set on entering a terminal state (if the run started) and cleared on leaving one."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.initial and ctx.initial.is_final and not ctx.proposed.is_final:
            ctx.set(end_time=None)
        if ctx.proposed.is_final and ctx.run.start_time and not ctx.run.end_time:
            ctx.set(end_time=ctx.proposed.timestamp)


class IncrementRunTime(Bookkeeping):
    """`total_run_time` grows by the time spent in each Running state, counted when it is left."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.initial and ctx.initial.is_running:
            ctx.set(total_run_time=ctx.run.total_run_time + (ctx.proposed.timestamp - ctx.initial.timestamp))


class SetExpectedStartTime(Bookkeeping):
    """`expected_start_time` is set once: the first state's scheduled time, or its timestamp."""

    def before(self, ctx: OrchestrationContext) -> None:
        if not ctx.run.expected_start_time:
            p = ctx.proposed
            ctx.set(expected_start_time=p.detail_time("scheduled_time") if p.is_scheduled else p.timestamp)


class SetNextScheduledStartTime(Bookkeeping):
    """`next_scheduled_start_time` is the scheduled time while the run is Scheduled, else None."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.initial and ctx.initial.is_scheduled:
            ctx.set(next_scheduled_start_time=None)
        if ctx.proposed.is_scheduled:
            ctx.set(next_scheduled_start_time=ctx.proposed.detail_time("scheduled_time"))


class UpdateStateDetails(Bookkeeping):
    """The written state names its run: flow_run_id (and task_run_id for task runs)."""

    def before(self, ctx: OrchestrationContext) -> None:
        details = ctx.proposed.state_details
        if ctx.kind == "flow_run":
            details["flow_run_id"] = uuid_text(ctx.run.id)
        else:
            flow_run_id = ctx.run.flow_run_id  # (read once: a foreign key's id is read through Django's descriptor)
            details["flow_run_id"] = uuid_text(flow_run_id) if flow_run_id else None
            details["task_run_id"] = uuid_text(ctx.run.id)


class UpdateSubflowStateDetails(Bookkeeping):
    """A subflow's states reference the parent flow's task run that tracks it."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.run.parent_task_run_id is not None:
            ctx.proposed.state_details["task_run_id"] = str(ctx.run.parent_task_run_id)


class UpdateSubflowParentTask(Bookkeeping):
    """Every state of a subflow is mirrored onto its parent task run (forced), with child_flow_run_id."""

    def after(self, ctx: OrchestrationContext) -> None:
        if ctx.run.parent_task_run_id is None:
            return
        ctx.require_lock()  # a write of another row (the parent's task run): only under the run's lock
        # Imported here: services call orchestration, and this one transform calls back into a service.
        from apps.engine.services.task_runs import task_run_mirror_subflow_state

        task_run_mirror_subflow_state(workspace=ctx.run.workspace_id, task_run_id=ctx.run.parent_task_run_id,
                                      subflow_state=ctx.validated, subflow_run_id=ctx.run.id, now=ctx.now)


class IncrementFlowRunCount(Bookkeeping):
    """`run_count` counts entries into Running, except a paused flow resuming in its own process."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.proposed.is_running and not (ctx.run.empirical_policy or {}).get("resuming"):
            ctx.set(run_count=ctx.run.run_count + 1)


class RemoveResumingIndicator(Bookkeeping):
    """Once a resumed flow runs again (or ends), it is no longer resuming."""

    def before(self, ctx: OrchestrationContext) -> None:
        p = ctx.proposed
        policy = ctx.run.empirical_policy or {}
        if (p.is_running or p.is_final) and policy.get("resuming"):
            ctx.set(empirical_policy={**policy, "resuming": False})


class IncrementTaskRunCount(Bookkeeping):
    """A task run's `run_count` counts entries into Running."""

    def before(self, ctx: OrchestrationContext) -> None:
        if ctx.proposed.type == StateType.RUNNING:
            ctx.set(run_count=ctx.run.run_count + 1)


COMMON = (SetRunStateFields, SetStartTime, SetEndTime, IncrementRunTime, SetExpectedStartTime,
          SetNextScheduledStartTime, UpdateStateDetails)
FLOW_RUN_BOOKKEEPING = (*COMMON, UpdateSubflowParentTask, UpdateSubflowStateDetails, IncrementFlowRunCount,
                        RemoveResumingIndicator)
TASK_RUN_BOOKKEEPING = (*COMMON, IncrementTaskRunCount)
