"""Tag concurrency slots as orchestration takes and gives them back (the limits themselves are managed
by the concurrency-limit endpoints). Always called inside a set_state transaction."""

from __future__ import annotations

from apps.engine.models.runs import ConcurrencyLimit


def limits_for_update(*, workspace, tags: list[str]) -> list[ConcurrencyLimit]:
    """The workspace's limits on these tags, row-locked in tag order (a fixed order: no deadlocks)."""
    return list(ConcurrencyLimit.objects.for_workspace(workspace).select_for_update()
                .filter(tag__in=list(tags)).order_by("tag"))


def slots_take(*, limits: list[ConcurrencyLimit], run_id: str) -> None:
    """Record `run_id` in each (locked) limit's active slots."""
    for limit in limits:
        if run_id not in limit.active_slots:
            limit.active_slots = [*limit.active_slots, run_id]
            limit.save(update_fields=["active_slots", "updated"])


def slots_release(*, workspace, tags: list[str], run_id: str) -> None:
    """Remove `run_id` from the active slots of every limit on these tags that holds it."""
    for limit in limits_for_update(workspace=workspace, tags=tags):
        if run_id in limit.active_slots:
            limit.active_slots = [slot for slot in limit.active_slots if slot != run_id]
            limit.save(update_fields=["active_slots", "updated"])
