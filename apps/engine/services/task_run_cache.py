"""The task result cache: Completed states stored under their cache key (written by orchestration)."""

from __future__ import annotations

import datetime
import uuid

from apps.engine.models.runs import TaskRunStateCache


def cache_insert(*, workspace, cache_key: str, cache_expiration: datetime.datetime | None,
                 task_run_state_id: uuid.UUID) -> None:
    """Store a Completed task state under `cache_key`; the newest entry of a key wins on lookup."""
    TaskRunStateCache.objects.for_workspace(workspace).create(
        workspace_id=getattr(workspace, "pk", workspace), cache_key=cache_key, cache_expiration=cache_expiration,
        task_run_state_id=task_run_state_id,
    )
