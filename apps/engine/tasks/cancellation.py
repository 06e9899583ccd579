"""Beat task: cancel the task runs and subflow runs that cancelled flow runs left behind (Prefect's
CancellationCleanup service)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.engine.services.cancellation import cancellation_cleanup


@shared_task(name="praetor.engine.clean_up_cancellations", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=3)
def clean_up_cancellations() -> int:
    """Idempotent: each run is re-checked under its row lock, so a run is changed once however many run."""
    return cancellation_cleanup()
