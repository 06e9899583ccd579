"""Reads of flow run inputs, always within one workspace and one of its flow runs."""

from __future__ import annotations

import uuid

from apps.engine.models.flow_run_inputs import FlowRunInput
from apps.engine.models.runs import FlowRun


def flow_run_input_get(*, workspace, flow_run_id: uuid.UUID, key: str) -> FlowRunInput | None:
    return FlowRunInput.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id, key=key).first()


def flow_run_input_list(*, workspace, flow_run_id: uuid.UUID, prefix: str, exclude_keys: list[str],
                        limit: int) -> list[FlowRunInput]:
    """Inputs of the run whose key starts with `prefix` (literally: no wildcards), oldest first."""
    qs = FlowRunInput.objects.for_workspace(workspace).filter(flow_run_id=flow_run_id, key__startswith=prefix)
    if exclude_keys:
        qs = qs.exclude(key__in=exclude_keys)
    return list(qs.order_by("created", "id")[:limit])


def flow_run_exists(*, workspace, flow_run_id: uuid.UUID) -> bool:
    return FlowRun.objects.for_workspace(workspace).filter(pk=flow_run_id).exists()
