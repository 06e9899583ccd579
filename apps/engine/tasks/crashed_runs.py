"""Beat task: mark Crashed the active runs of work pools whose workers stopped heartbeating."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.engine.services.sweeps import flow_runs_mark_crashed


@shared_task(name="praetor.engine.mark_crashed_runs", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=3)
def mark_crashed_runs() -> int:
    """Idempotent: rows are claimed with SKIP LOCKED and re-checked (still Pending/Running) under the lock."""
    return flow_runs_mark_crashed()
