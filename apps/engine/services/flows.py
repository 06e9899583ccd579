"""Writes for flows: create is an upsert by name (the client registers its flow on every run)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from apps.core.errors import NotFound
from apps.core.prepared import PreparedQuery
from apps.engine.models.runs import Flow

# The flow of a name, read first: the client "creates" its flow before every flow run, and but for the first
# the flow exists (one statement, compiled once per process). Not prepared on the server: its index is the
# (workspace, name) unique one, which a generic plan on a never analysed table passes over for the
# workspace_id index (the whole workspace's flows read; tests/core/test_generic_plans.py).
_FLOW_BY_NAME = PreparedQuery(lambda workspace_id, name: Flow.objects.for_workspace(workspace_id).filter(name=name),
                              types=(uuid.UUID, str), server_prepared=False)


def flow_create(*, workspace, name: str, tags: list[str], actor=None) -> tuple[Flow, bool]:
    """The flow named `name`, created if new (its tags then set); returns (flow, created). `name` is a
    validated name (FlowCreate: no NUL).

    A flow that exists is read and returned unchanged (one statement). Otherwise concurrent creates of one
    name make one row: the insert ignores the unique-name conflict and the row is read back.
    """
    flow = _FLOW_BY_NAME.one(getattr(workspace, "pk", workspace), name)
    if flow is not None:
        return flow, False
    candidate = Flow(workspace=workspace, name=name, tags=list(tags))
    with transaction.atomic():
        Flow.objects.for_workspace(workspace).bulk_create([candidate], ignore_conflicts=True)
        flow = Flow.objects.for_workspace(workspace).get(name=name)
    return flow, flow.pk == candidate.pk


def flow_update(*, workspace, flow_id: uuid.UUID, tags: list[str] | None, actor=None) -> None:
    updated = Flow.objects.for_workspace(workspace).filter(pk=flow_id)
    if tags is None:
        if not updated.exists():
            raise NotFound("Flow not found.")
        return
    if not updated.update(tags=list(tags), updated=timezone.now()):
        raise NotFound("Flow not found.")


def flow_delete(*, workspace, flow_id: uuid.UUID, actor=None) -> None:
    """Delete a flow with its runs, their task runs, states and decisions (cascade)."""
    deleted, _ = Flow.objects.for_workspace(workspace).filter(pk=flow_id).delete()
    if not deleted:
        raise NotFound("Flow not found.")
