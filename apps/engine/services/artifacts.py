"""Writes for artifacts: creating one with a key also makes it the latest of that key's collection."""

from __future__ import annotations

import re
import uuid

from django.db import transaction

from apps.core.errors import Invalid, NotFound
from apps.engine.models.artifacts import Artifact, ArtifactCollection

_KEY = re.compile(r"^[a-z0-9-]+$")
_COPIED = ("type", "description", "data", "metadata", "flow_run_id", "task_run_id")
MAX_METADATA_VALUE = 500


def _metadata(metadata: dict | None) -> dict | None:
    """As Prefect does, metadata values are strings cut to 500 characters (with an ellipsis)."""
    if metadata is None:
        return None
    return {k: (str(v)[:MAX_METADATA_VALUE] + "...") if len(str(v)) > MAX_METADATA_VALUE else str(v)
            for k, v in metadata.items()}


def _sync_collection(workspace, key: str) -> None:
    """Point the key's collection at its newest artifact, or drop it when none is left."""
    scoped = ArtifactCollection.objects.for_workspace(workspace)
    latest = Artifact.objects.for_workspace(workspace).filter(key=key).order_by("-created", "-id").first()
    if latest is None:
        scoped.filter(key=key).delete()
        return
    fields = {"latest": latest, **{name: getattr(latest, name) for name in _COPIED}}
    scoped.update_or_create(workspace=workspace, key=key, defaults=fields)


@transaction.atomic
def artifact_create(*, workspace, key: str | None = None, type: str | None = None, description: str | None = None,
                    data=None, metadata_: dict | None = None, flow_run_id: uuid.UUID | None = None,
                    task_run_id: uuid.UUID | None = None, actor=None) -> Artifact:
    """Create an artifact. Keys are lowercase letters, digits and dashes; a keyed artifact becomes
    the latest of its key (the key's collection row is locked, so concurrent creates serialise)."""
    if key is not None and not _KEY.match(key):
        raise Invalid("Artifact key must only contain lowercase letters, numbers, and dashes.", loc=["body", "key"])
    if key is not None:
        # Lock the key's collection first so two creators of one key cannot both think they are latest.
        list(ArtifactCollection.objects.for_workspace(workspace).select_for_update().filter(key=key))
    artifact = Artifact.objects.for_workspace(workspace).create(
        workspace=workspace, key=key, type=type, description=description, data=data, metadata=_metadata(metadata_),
        flow_run_id=flow_run_id, task_run_id=task_run_id)
    if key is not None:
        _sync_collection(workspace, key)
    return artifact


@transaction.atomic
def artifact_update(*, workspace, artifact_id: uuid.UUID, changes: dict, actor=None) -> Artifact:
    """Update data, description or metadata; the key's collection follows when this is its latest."""
    artifact = Artifact.objects.for_workspace(workspace).select_for_update().filter(pk=artifact_id).first()
    if artifact is None:
        raise NotFound("Artifact not found.")
    if "metadata_" in changes:
        changes = {**changes, "metadata": _metadata(changes.pop("metadata_"))}
    for field, value in changes.items():
        setattr(artifact, field, value)
    artifact.save(update_fields=[*changes, "updated"])
    if artifact.key is not None:
        _sync_collection(workspace, artifact.key)
    return artifact


@transaction.atomic
def artifact_delete(*, workspace, artifact_id: uuid.UUID, actor=None) -> None:
    """Delete an artifact; if it was the latest of its key, the previous one becomes the latest."""
    artifact = Artifact.objects.for_workspace(workspace).select_for_update().filter(pk=artifact_id).first()
    if artifact is None:
        raise NotFound("Artifact not found.")
    key = artifact.key
    if key is not None:
        ArtifactCollection.objects.for_workspace(workspace).filter(key=key, latest=artifact).delete()
    artifact.delete()
    if key is not None:
        _sync_collection(workspace, key)
