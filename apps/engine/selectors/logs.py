"""Reads for logs: Prefect's LogFilter (level, timestamp, flow and task run ids) with its sort."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.engine.models.runs import Log

SORTS = {"TIMESTAMP_ASC": ("timestamp", "created", "id"), "TIMESTAMP_DESC": ("-timestamp", "-created", "-id")}


def log_list(*, workspace, logs: dict | None, sort: str = "TIMESTAMP_ASC") -> QuerySet[Log]:
    """The workspace's logs matching `logs` (a validated LogFilter), in `sort` order. Ties on the
    timestamp keep insertion order, so a batch reads back as it was sent."""
    f = logs or {}
    parts = []
    if level := f.get("level"):
        if level.get("ge_") is not None:
            parts.append(Q(level__gte=level["ge_"]))
        if level.get("le_") is not None:
            parts.append(Q(level__lte=level["le_"]))
    if stamp := f.get("timestamp"):
        if stamp.get("before_") is not None:
            parts.append(Q(timestamp__lte=stamp["before_"]))
        if stamp.get("after_") is not None:
            parts.append(Q(timestamp__gte=stamp["after_"]))
    for field in ("flow_run_id", "task_run_id"):
        if (ids := f.get(field)) and ids.get("any_") is not None:
            parts.append(Q(**{f"{field}__in": ids["any_"]}))
    q = Q()
    for part in parts:
        q = (q | part) if (f.get("operator") == "or_" and q) else (q & part)
    return Log.objects.for_workspace(workspace).filter(q).order_by(*SORTS[sort])
