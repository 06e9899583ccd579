"""Writes for logs: a batch from the client is stored in one statement, all or nothing."""

from __future__ import annotations

from django.db import transaction

from apps.core import prepared
from apps.engine.models.runs import Log


def logs_create(*, workspace, logs: list[dict], actor=None) -> int:
    """Store a validated batch of LogCreate dicts in the workspace; return how many were stored.

    Runs are referenced by id and not checked: the client may send a run's logs before the run is
    readable, and logs outlive their runs (as on Prefect's server)."""
    if not logs:
        return 0
    rows = [
        Log(workspace=workspace, name=log["name"], level=log["level"], message=log["message"],
            timestamp=log["timestamp"], flow_run_id=log.get("flow_run_id"), task_run_id=log.get("task_run_id"))
        for log in logs
    ]
    with transaction.atomic():
        # One multi-row INSERT per 1000 logs, its SQL not compiled again per batch (apps/core/prepared.py).
        prepared.insert_many(rows, batch_size=1000)
    return len(rows)
