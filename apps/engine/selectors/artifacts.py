"""Reads for artifacts: by id, latest of a key, and Prefect's ArtifactFilter / ArtifactCollectionFilter."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from apps.engine.models.artifacts import Artifact, ArtifactCollection

SORTS = {"CREATED_DESC": ("-created",), "UPDATED_DESC": ("-updated",), "ID_DESC": ("-id",),
         "KEY_DESC": ("-key",), "KEY_ASC": ("key",)}


def artifact_get(*, workspace, artifact_id: uuid.UUID) -> Artifact | None:
    return Artifact.objects.for_workspace(workspace).filter(pk=artifact_id).first()


def artifact_collection_get(*, workspace, key: str) -> ArtifactCollection | None:
    return ArtifactCollection.objects.for_workspace(workspace).filter(key=key).first()


def _q(f: dict | None, id_field: str) -> Q:
    f = f or {}
    parts = []
    if (x := f.get(id_field)) and x.get("any_") is not None:
        parts.append(Q(**{f"{'latest_id' if id_field == 'latest_id' else 'id'}__in": x["any_"]}))
    if x := f.get("key"):
        if x.get("any_") is not None:
            parts.append(Q(key__in=x["any_"]))
        if x.get("like_") is not None:
            parts.append(Q(key__icontains=x["like_"]))
        if x.get("exists_") is not None:
            parts.append(Q(key__isnull=not x["exists_"]))
    for field in ("flow_run_id", "task_run_id"):
        if (x := f.get(field)) and x.get("any_") is not None:
            parts.append(Q(**{f"{field}__in": x["any_"]}))
    if x := f.get("type"):
        if x.get("any_") is not None:
            parts.append(Q(type__in=x["any_"]))
        if x.get("not_any_") is not None:
            parts.append(~Q(type__in=x["not_any_"]))
    q = Q()
    for part in parts:
        q = (q | part) if (f.get("operator") == "or_" and q) else (q & part)
    return q


def artifact_list(*, workspace, artifacts: dict | None, sort: str = "ID_DESC") -> QuerySet[Artifact]:
    return Artifact.objects.for_workspace(workspace).filter(_q(artifacts, "id")).order_by(*SORTS[sort], "-id")


def artifact_collection_list(*, workspace, artifacts: dict | None,
                             sort: str = "ID_DESC") -> QuerySet[ArtifactCollection]:
    return (ArtifactCollection.objects.for_workspace(workspace).filter(_q(artifacts, "latest_id"))
            .order_by(*SORTS[sort], "-id"))
