"""Reads for concurrency limits: tag-based (v1) by id or tag, global (v2) by id or name, pages of both,
and the slot arithmetic of v2 limits (decay) used by reads and by the increment/decrement services."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from django.db.models import QuerySet

from apps.engine.models.runs import ConcurrencyLimit, ConcurrencyLimitV2


def concurrency_limit_get(*, workspace, limit_id: uuid.UUID) -> ConcurrencyLimit | None:
    return ConcurrencyLimit.objects.for_workspace(workspace).filter(pk=limit_id).first()


def concurrency_limit_get_by_tag(*, workspace, tag: str) -> ConcurrencyLimit | None:
    return ConcurrencyLimit.objects.for_workspace(workspace).filter(tag=tag).first()


def concurrency_limit_list(*, workspace) -> QuerySet[ConcurrencyLimit]:
    """Tag limits by tag (Prefect's order)."""
    return ConcurrencyLimit.objects.for_workspace(workspace).order_by("tag", "id")


def concurrency_limit_v2_lookup(id_or_name: str) -> dict:
    """Prefect routes `{id_or_name}`: a value that parses as a UUID is an id, anything else a name."""
    try:
        return {"pk": uuid.UUID(id_or_name)}
    except ValueError:
        return {"name": id_or_name}


def concurrency_limit_v2_get(*, workspace, id_or_name: str) -> ConcurrencyLimitV2 | None:
    return ConcurrencyLimitV2.objects.for_workspace(workspace).filter(**concurrency_limit_v2_lookup(id_or_name)).first()


def concurrency_limit_v2_list(*, workspace) -> QuerySet[ConcurrencyLimitV2]:
    """Global limits by name (Prefect's order)."""
    return ConcurrencyLimitV2.objects.for_workspace(workspace).order_by("name", "id")


def _elapsed(limit: ConcurrencyLimitV2, now: datetime) -> float:
    return max(0.0, (now - limit.updated).total_seconds())


def active_slots_after_decay(limit: ConcurrencyLimitV2, now: datetime) -> int:
    """Slots still held now: a rate limit (slot_decay_per_second > 0) frees whole slots at that rate
    since the row was last written."""
    return max(0, limit.active_slots - math.floor(limit.slot_decay_per_second * _elapsed(limit, now)))


def denied_slots_after_decay(limit: ConcurrencyLimitV2, now: datetime) -> int:
    """Recently denied slots still counted now: they decay at the slot decay rate, or for a plain
    concurrency limit at one per average slot occupancy; they tell waiting clients how long to wait."""
    rate = limit.slot_decay_per_second if limit.slot_decay_per_second > 0 else 1.0 / limit.avg_slot_occupancy_seconds
    return max(0, limit.denied_slots - math.floor(rate * _elapsed(limit, now)))
