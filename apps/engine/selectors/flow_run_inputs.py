"""Reads of flow run inputs, always within one workspace and one of its flow runs."""

from __future__ import annotations

import uuid

from apps.engine.models.flow_run_inputs import FlowRunInput
from apps.engine.models.runs import FlowRun, StateType

# Runs under way (docs/billing.md): a paused run waiting for input is one of them.
_UNDER_WAY = (StateType.PENDING, StateType.RUNNING, StateType.PAUSED)


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


def flow_run_is_under_way(*, workspace, flow_run_id: uuid.UUID) -> bool:
    """Whether the workspace's run is Pending, Running or Paused: the inputs it is sent (its own input schema
    when it pauses for input, another flow's `send_input`) are part of that run."""
    return FlowRun.objects.for_workspace(workspace).filter(pk=flow_run_id, state_type__in=_UNDER_WAY).exists()
