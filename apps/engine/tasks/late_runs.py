"""Beat task: mark Scheduled runs nobody picked up in time as Late (Prefect's MarkLateRuns service)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.engine.services.sweeps import flow_runs_mark_late


@shared_task(name="praetor.engine.mark_late_runs", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=3)
def mark_late_runs() -> int:
    """Idempotent: rows are claimed with SKIP LOCKED and runs already Late are skipped."""
    return flow_runs_mark_late()
