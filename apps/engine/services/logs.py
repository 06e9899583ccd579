"""Writes for logs: a batch from the client is stored in one statement, all or nothing."""

from __future__ import annotations

from operator import itemgetter

from apps.core import prepared
from apps.engine.models.runs import Log

_FIELDS = ("name", "level", "message", "timestamp", "flow_run_id", "task_run_id")
_row = itemgetter(*_FIELDS)


def logs_create(*, workspace, logs: list[dict], actor=None) -> int:
    """Store a validated batch of LogCreate dicts in the workspace; return how many were stored.

    Runs are referenced by id and not checked: the client may send a run's logs before the run is
    readable, and logs outlive their runs (as on Prefect's server)."""
    if not logs:
        return 0
    # Straight from the validated dicts (both validators set every field, the run ids None by default) to
    # column values, without a Log instance per log: ids, created and updated as Log() and its save make
    # them. On PostgreSQL one COPY for the whole batch (apps/core/prepared.py, insert_rows).
    return prepared.insert_rows(Log, _FIELDS, list(map(_row, logs)), same={"workspace_id": workspace.pk})
