"""Run history retention: deleting one workspace's flow runs, task runs and logs older than a cutoff.

The engine deletes its own data here and only here; billing decides each workspace's cutoff from its
organization's tier (apps/billing/services/retention.py). Work is done in short transactions of at
most `batch_size` rows chosen by primary key through the indexes the engine already has:

- flow runs: terminal, ended before the cutoff (`flow_run_end_time`; runs that reached a terminal state
  without an end time by `flow_run_created`), locked with SKIP LOCKED so a run being orchestrated right
  now is left for the next sweep. A run that is not terminal is never deleted, however old.
- their task runs go with them, at most `batch_size` per transaction (the flow run's last batch then
  deletes the flow run with its states, orchestration decisions and inputs);
- task runs outside any flow run: terminal, ended before the cutoff (`task_run_created`);
- logs: timestamped before the cutoff (`log_timestamp`), whatever their run's state.

Rows are removed with plain DELETE ... WHERE id IN (...) statements, children first (foreign keys are
checked at commit), so a batch costs a fixed number of statements however wide the rows are, and never
loads rows into Python. Only row locks are taken: no table is ever locked against the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from apps.engine.models import (
    FlowRun,
    FlowRunInput,
    FlowRunState,
    Log,
    OrchestrationDecision,
    TaskRun,
    TaskRunState,
    TaskRunStateCache,
)
from apps.engine.models.runs import TERMINAL_STATE_TYPES

BATCH_SIZE = 500
_TERMINAL = sorted(TERMINAL_STATE_TYPES)


@dataclass
class RetentionResult:
    """What one call deleted."""

    flow_runs: int = 0
    task_runs: int = 0
    logs: int = 0

    def __iadd__(self, other: RetentionResult) -> RetentionResult:
        self.flow_runs += other.flow_runs
        self.task_runs += other.task_runs
        self.logs += other.logs
        return self

    @property
    def total(self) -> int:
        return self.flow_runs + self.task_runs + self.logs


# The SQL below is built from model metadata only (quoted table and column names); every value is a
# query parameter, hence the S608 exemptions.
def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _in(model, field: str, ids: list) -> tuple[str, list]:
    """`column IN (%s, …)` with the ids prepared as the column stores them (UUIDs on PostgreSQL, hex on
    SQLite), so the same statement serves the embedded default and production."""
    target = model._meta.get_field(field)
    target = target.target_field if target.is_relation else target
    values = [target.get_db_prep_value(i, connection, prepared=False) for i in ids]
    return f"{_column(model, field)} IN ({', '.join(['%s'] * len(values))})", values


def _delete_where_in(cursor, model, field: str, ids: list) -> int:
    where, params = _in(model, field, ids)
    cursor.execute(f"DELETE FROM {_table(model)} WHERE {where}", params)  # noqa: S608
    return cursor.rowcount


def _delete_task_runs(cursor, task_run_ids: list) -> int:
    """Task runs with their states (and task cache entries), decisions; subflow runs they parented keep
    existing with no parent task run (the model's SET_NULL)."""
    states_where, states_params = _in(TaskRunState, "task_run", task_run_ids)
    cursor.execute(
        f"DELETE FROM {_table(TaskRunStateCache)} WHERE {_column(TaskRunStateCache, 'task_run_state')} IN "  # noqa: S608
        f"(SELECT id FROM {_table(TaskRunState)} WHERE {states_where})",
        states_params,
    )
    _delete_where_in(cursor, TaskRunState, "task_run", task_run_ids)
    _delete_where_in(cursor, OrchestrationDecision, "task_run", task_run_ids)
    parent_where, parent_params = _in(FlowRun, "parent_task_run", task_run_ids)
    cursor.execute(
        f"UPDATE {_table(FlowRun)} SET {_column(FlowRun, 'parent_task_run')} = NULL WHERE {parent_where}",  # noqa: S608
        parent_params,
    )
    return _delete_where_in(cursor, TaskRun, "id", task_run_ids)


def _old_flow_runs(workspace_id, older_than: datetime, *, ended: bool):
    runs = FlowRun.all_workspaces.filter(workspace_id=workspace_id, state_type__in=_TERMINAL)
    if ended:
        return runs.filter(end_time__lt=older_than).order_by("end_time")
    # Terminal without an end time (e.g. cancelled before it started): judged by creation and last state.
    return (runs.filter(end_time__isnull=True, created__lt=older_than, state_timestamp__lt=older_than)
            .order_by("created"))


def flow_runs_retention_batch(*, workspace_id, older_than: datetime, batch_size: int = BATCH_SIZE,
                              ended: bool = True) -> RetentionResult:
    """One short transaction: lock up to `batch_size` of the workspace's oldest terminal flow runs past the
    cutoff (skipping any locked by orchestration); delete up to `batch_size` of their task runs, or, when
    none are left, the flow runs themselves with their states and decisions.

    Five to nine statements whatever the batch holds. Returns what was deleted (nothing = done).
    """
    with transaction.atomic():
        ids = list(
            _old_flow_runs(workspace_id, older_than, ended=ended)
            .select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return RetentionResult()
        task_run_ids = list(
            TaskRun.all_workspaces.filter(workspace_id=workspace_id, flow_run_id__in=ids)
            .values_list("pk", flat=True)[:batch_size]
        )
        with connection.cursor() as cursor:
            if task_run_ids:
                return RetentionResult(task_runs=_delete_task_runs(cursor, task_run_ids))
            # The flow run points at its current state and the states at the run: both go in this transaction.
            _delete_where_in(cursor, FlowRunState, "flow_run", ids)
            _delete_where_in(cursor, OrchestrationDecision, "flow_run", ids)
            _delete_where_in(cursor, FlowRunInput, "flow_run", ids)
            return RetentionResult(flow_runs=_delete_where_in(cursor, FlowRun, "id", ids))


def task_runs_retention_batch(*, workspace_id, older_than: datetime, batch_size: int = BATCH_SIZE) -> RetentionResult:
    """One short transaction: delete up to `batch_size` terminal task runs that belong to no flow run and
    ended before the cutoff (task runs of flow runs go with their flow run)."""
    with transaction.atomic():
        ids = list(
            TaskRun.all_workspaces.filter(workspace_id=workspace_id, flow_run__isnull=True, created__lt=older_than,
                                          state_type__in=_TERMINAL)
            .filter(Q(end_time__lt=older_than) | Q(end_time__isnull=True, state_timestamp__lt=older_than))
            .order_by("created").select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return RetentionResult()
        with connection.cursor() as cursor:
            return RetentionResult(task_runs=_delete_task_runs(cursor, ids))


def logs_retention_batch(*, workspace_id, older_than: datetime, batch_size: int = BATCH_SIZE) -> RetentionResult:
    """One statement: delete up to `batch_size` of the workspace's oldest logs timestamped before the cutoff."""
    oldest = (Log.all_workspaces.filter(workspace_id=workspace_id, timestamp__lt=older_than)
              .order_by("timestamp").values("pk")[:batch_size])
    sql, params = oldest.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {_table(Log)} WHERE id IN ({sql})", params)  # noqa: S608
        return RetentionResult(logs=cursor.rowcount)


def workspace_run_history_delete(*, workspace_id, older_than: datetime, batch_size: int = BATCH_SIZE,
                                 max_batches: int = 100) -> RetentionResult:
    """Delete the workspace's run history older than `older_than`, batch after batch, each its own short
    transaction, at most `max_batches` batches per kind (the next sweep continues). Safe to run twice at
    once: locked rows are skipped, and a row deleted by the other sweep is simply not found."""
    result = RetentionResult()
    steps = (
        lambda: flow_runs_retention_batch(workspace_id=workspace_id, older_than=older_than, batch_size=batch_size),
        lambda: flow_runs_retention_batch(workspace_id=workspace_id, older_than=older_than, batch_size=batch_size,
                                          ended=False),
        lambda: task_runs_retention_batch(workspace_id=workspace_id, older_than=older_than, batch_size=batch_size),
        lambda: logs_retention_batch(workspace_id=workspace_id, older_than=older_than, batch_size=batch_size),
    )
    for step in steps:
        for _ in range(max_batches):
            done = step()
            result += done
            if done.total == 0:
                break
    return result
