"""Writes for concurrency limits.

Tag limits (v1) are upserted by tag; their slots (task run ids) are taken and released by the
orchestration rules, and reset here. Global limits (v2) hand out counted slots: `increment` takes
`slots` from every named active limit or from none, under row locks taken in name order (so two
requests naming the same limits can never deadlock or both pass a full limit).
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError, Invalid, NotFound
from apps.engine.models.runs import ConcurrencyLimit, ConcurrencyLimitV2
from apps.engine.selectors.concurrency import (
    active_slots_after_decay,
    concurrency_limit_v2_lookup,
    denied_slots_after_decay,
)

# Prefect's averaging of slot occupancy over the last `limit * 2` releases, floored at 0.1 s per slot.
OCCUPANCY_SAMPLES_MULTIPLIER = 2
MINIMUM_OCCUPANCY_SECONDS_PER_SLOT = 0.1


class SlotsLocked(DomainError):
    """No slots now: Prefect answers 423 Locked with Retry-After (seconds, a float), and the client
    waits that long and asks again."""

    status_code = 423
    default_code = "slots_locked"

    def __init__(self, retry_after: float):
        super().__init__("Concurrency slots are not available; retry later.", extra={})
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


# v1: tag-based limits


@transaction.atomic
def concurrency_limit_upsert(*, workspace, tag: str, concurrency_limit: int,
                             actor=None) -> tuple[ConcurrencyLimit, bool]:
    """Create the tag's limit, or change its size if it exists (its slots are kept); (limit, created)."""
    scoped = ConcurrencyLimit.objects.for_workspace(workspace)
    # ON CONFLICT DO NOTHING, then lock: two concurrent creates of one tag both end with one row.
    candidate = ConcurrencyLimit(workspace=workspace, tag=tag, concurrency_limit=concurrency_limit)
    scoped.bulk_create([candidate], ignore_conflicts=True)
    row = scoped.select_for_update().get(tag=tag)
    created = row.pk == candidate.pk  # ids are made here, so the row is ours only if our insert won
    if not created:
        row.concurrency_limit = concurrency_limit
        row.save(update_fields=["concurrency_limit", "updated"])
    return row, created


@transaction.atomic
def concurrency_limit_reset(*, workspace, tag: str, slot_override: list[uuid.UUID] | None,
                            actor=None) -> ConcurrencyLimit:
    """Free every slot of the tag's limit, or set them to exactly `slot_override` (task run ids)."""
    row = ConcurrencyLimit.objects.for_workspace(workspace).select_for_update().filter(tag=tag).first()
    if row is None:
        raise NotFound("Concurrency limit not found")
    row.active_slots = [str(slot) for slot in slot_override] if slot_override else []
    row.save(update_fields=["active_slots", "updated"])
    return row


def concurrency_limit_delete(*, workspace, limit_id: uuid.UUID | None = None, tag: str | None = None,
                             actor=None) -> None:
    lookup = {"pk": limit_id} if limit_id is not None else {"tag": tag}
    deleted, _ = ConcurrencyLimit.objects.for_workspace(workspace).filter(**lookup).delete()
    if not deleted:
        raise NotFound("Concurrency limit not found")


# v2: global limits


def _name_taken(name: str) -> Conflict:
    return Conflict(f"A concurrency limit named {name!r} already exists.", code="concurrency_limit_name_taken")


def concurrency_limit_v2_create(*, workspace, name: str, limit: int, active: bool = True, active_slots: int = 0,
                                denied_slots: int = 0, slot_decay_per_second: float = 0.0,
                                actor=None) -> ConcurrencyLimitV2:
    """Create a global limit; a name already used in the workspace is a 409."""
    try:
        with transaction.atomic():
            return ConcurrencyLimitV2.objects.for_workspace(workspace).create(
                workspace=workspace, name=name, limit=limit, active=active, active_slots=active_slots,
                denied_slots=denied_slots, slot_decay_per_second=slot_decay_per_second,
            )
    except IntegrityError:
        raise _name_taken(name) from None


def concurrency_limit_v2_update(*, workspace, id_or_name: str, changes: dict, actor=None) -> ConcurrencyLimitV2:
    """Change the given fields of the limit found by id or name."""
    try:
        with transaction.atomic():
            row = (ConcurrencyLimitV2.objects.for_workspace(workspace).select_for_update()
                   .filter(**concurrency_limit_v2_lookup(id_or_name)).first())
            if row is None:
                raise NotFound("Concurrency Limit not found")
            for field, value in changes.items():
                setattr(row, field, value)
            row.save(update_fields=[*changes, "updated"])
    except IntegrityError:
        raise _name_taken(changes.get("name", "")) from None
    return row


def concurrency_limit_v2_delete(*, workspace, id_or_name: str, actor=None) -> None:
    deleted, _ = (ConcurrencyLimitV2.objects.for_workspace(workspace)
                  .filter(**concurrency_limit_v2_lookup(id_or_name)).delete())
    if not deleted:
        raise NotFound("Concurrency Limit not found")


def _lock_or_create(workspace, names: list[str]) -> list[ConcurrencyLimitV2]:
    """The named limits, locked in name order; names without a limit get an inactive one (limit 1),
    as Prefect does, so a later `create` finds the name taken and a `PATCH` can switch it on."""
    scoped = ConcurrencyLimitV2.objects.for_workspace(workspace)
    wanted = sorted(set(names))
    scoped.bulk_create([ConcurrencyLimitV2(workspace=workspace, name=name, limit=1, active=False) for name in wanted],
                       ignore_conflicts=True)
    return list(scoped.select_for_update().filter(name__in=wanted).order_by("name"))


def concurrency_slots_increment(*, workspace, names: list[str], slots: int, mode: str = "concurrency",
                                actor=None) -> list[ConcurrencyLimitV2]:
    """Take `slots` from every active named limit, all or none. None free: the denied slots are
    counted (committed) and SlotsLocked (423) says how long to wait, from the most blocking limit's
    occupancy (or decay rate) times the slots waiting on it."""
    with transaction.atomic():
        limits, retry_after = _increment_locked(workspace, names, slots, mode)
    if retry_after is not None:
        raise SlotsLocked(retry_after)
    return limits


def _increment_locked(workspace, names: list[str], slots: int, mode: str) -> tuple[list, float | None]:
    limits = _lock_or_create(workspace, names)
    active = [limit for limit in limits if limit.active]
    if any(limit.limit < slots for limit in active):
        raise Invalid("Slots requested is greater than the limit", loc=["body", "slots"], code="too_many_slots")
    if mode == "rate_limit":
        non_decaying = [limit.name for limit in active if limit.slot_decay_per_second == 0.0]
        if non_decaying:
            raise Invalid(
                "Only concurrency limits with slot decay can be used for rate limiting. The following limits "
                f"do not have a decay configured: {','.join(non_decaying)!r}",
                loc=["body", "mode"], code="no_slot_decay",
            )
    now = timezone.now()
    held = {limit.pk: active_slots_after_decay(limit, now) for limit in active}
    denied = {limit.pk: denied_slots_after_decay(limit, now) for limit in active}
    if all(held[limit.pk] + slots <= limit.limit for limit in active):
        for limit in active:
            limit.active_slots, limit.denied_slots = held[limit.pk] + slots, denied[limit.pk]
            limit.save(update_fields=["active_slots", "denied_slots", "updated"])
        return limits, None
    for limit in active:
        limit.denied_slots = denied[limit.pk] + slots
        limit.save(update_fields=["denied_slots", "updated"])
    return limits, _retry_after(active, slots, denied)


def _retry_after(active: list[ConcurrencyLimitV2], slots: int, denied_before: dict) -> float:
    def blocking(limit: ConcurrencyLimitV2) -> float:
        waiting = slots + denied_before[limit.pk]
        return waiting if limit.slot_decay_per_second > 0 else waiting / max(limit.limit, 1)

    worst = max(active, key=blocking)
    per_slot = (worst.avg_slot_occupancy_seconds if worst.slot_decay_per_second == 0.0
                else 1.0 / worst.slot_decay_per_second)
    return per_slot * blocking(worst)


@transaction.atomic
def concurrency_slots_decrement(*, workspace, names: list[str], slots: int, occupancy_seconds: float | None = None,
                                actor=None) -> list[ConcurrencyLimitV2]:
    """Give `slots` back to every active named limit (never below zero); with `occupancy_seconds`, fold
    how long they were held into the limit's average occupancy (which sizes future Retry-After)."""
    limits = _lock_or_create(workspace, names)
    now = timezone.now()
    for limit in limits:
        if not limit.active:
            continue
        limit.active_slots = max(0, active_slots_after_decay(limit, now) - slots)
        limit.denied_slots = denied_slots_after_decay(limit, now)
        fields = ["active_slots", "denied_slots", "updated"]
        if occupancy_seconds:
            per_slot = max(occupancy_seconds / slots, MINIMUM_OCCUPANCY_SECONDS_PER_SLOT)
            samples = max(limit.limit, 1) * OCCUPANCY_SAMPLES_MULTIPLIER
            limit.avg_slot_occupancy_seconds += (per_slot - limit.avg_slot_occupancy_seconds) / samples
            fields.append("avg_slot_occupancy_seconds")
        limit.save(update_fields=fields)
    return limits
