"""Reads for flows: by id, by name, and Prefect's flow filters with sorting."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.core.prepared import PreparedQuery
from apps.engine.models.runs import Flow
from apps.engine.selectors.filters import flows_body_q

FLOW_SORTS = {"CREATED_DESC": ("-created",), "UPDATED_DESC": ("-updated",), "NAME_ASC": ("name",),
              "NAME_DESC": ("-name",)}


def flow_get(*, workspace, flow_id: uuid.UUID) -> Flow | None:
    return Flow.objects.for_workspace(workspace).filter(pk=flow_id).first()


_FLOW_ID = PreparedQuery(
    lambda workspace_id, flow_id: Flow.objects.by_pk_for_workspace(workspace_id, flow_id).only("id"))


def flow_exists(*, workspace, flow_id: uuid.UUID) -> bool:
    """Whether the workspace has this flow (every flow run create asks: compiled once per process)."""
    return _FLOW_ID.one(getattr(workspace, "pk", workspace), flow_id) is not None


def flow_get_by_name(*, workspace, name: str) -> Flow | None:
    return Flow.objects.for_workspace(workspace).filter(name=name).first()


def flow_list(*, workspace, body: dict, sort: str | None = "NAME_ASC") -> QuerySet[Flow]:
    """Flows matching a flows/filter body (flows, flow_runs, task_runs, deployments, work_pools)."""
    qs = Flow.objects.for_workspace(workspace).filter(flows_body_q(workspace, body))
    return qs.order_by(*FLOW_SORTS[sort], "id") if sort else qs
