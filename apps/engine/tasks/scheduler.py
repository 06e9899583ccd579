"""Beat task: make the upcoming scheduled runs of every deployment (Prefect's scheduler service)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from apps.engine.services.sweeps import deployments_schedule_due


@shared_task(name="praetor.engine.schedule_deployments", ignore_result=True, autoretry_for=(OperationalError,),
             retry_backoff=True, max_retries=3)
def schedule_deployments() -> int:
    """Idempotent: two of these at once create each (deployment, time) run once (unique idempotency keys)."""
    return deployments_schedule_due()
