"""Billing's Celery entry points: ids in, one service call each."""

from __future__ import annotations

import uuid

from celery import shared_task

from apps.billing import services
from apps.billing.errors import PaymentProviderError


@shared_task(name="praetor.billing.sync_seats", bind=True, autoretry_for=(PaymentProviderError,),
             retry_backoff=True, max_retries=5)
def sync_seats(self, organization_id: str) -> None:
    # The task id is stable across retries: it keys the Stripe call, so a retry cannot apply twice.
    key = self.request.id or uuid.uuid4().hex
    services.subscription_sync_seats(organization_id=organization_id, idempotency_key=key)


@shared_task(name="praetor.billing.reconcile_subscriptions")
def reconcile_subscriptions() -> int:
    return services.subscriptions_reconcile()


@shared_task(name="praetor.billing.apply_run_retention")
def apply_run_retention() -> dict[str, int]:
    """Delete run history past each organization's tier retention (batched; idempotent, safe twice at once)."""
    done = services.run_retention_apply()
    return {"flow_runs": done.flow_runs, "task_runs": done.task_runs, "logs": done.logs}
