"""Artifacts at Prefect 2.20's paths: create, read/update/delete, latest of a key, filter and count
(all artifacts, or the latest per key)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid, NotFound
from apps.engine.api.common import page, parse_body, parse_params, path_uuid, plain
from apps.engine.schemas import artifacts as schemas
from apps.engine.selectors import artifacts as selectors
from apps.engine.services import artifacts as services

READ, WRITE = "artifacts:read", "artifacts:write"


def _artifact_filter(body: dict) -> dict:
    """Fold the run-id parts of flow_runs/task_runs filters into the artifact filter (and_)."""
    artifacts = dict(body.get("artifacts") or {})
    for runs, field in (("flow_runs", "flow_run_id"), ("task_runs", "task_run_id")):
        ids = ((body.get(runs) or {}).get("id") or {}).get("any_")
        if ids is not None:
            existing = (artifacts.get(field) or {}).get("any_")
            artifacts[field] = {"any_": [i for i in ids if existing is None or i in existing]}
            if artifacts.get("operator") == "or_":
                raise Invalid("Run filters cannot be combined with an or_ artifact filter.", loc=["body", runs])
    return artifacts


class ArtifactCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.ArtifactCreate, responses={201: schemas.Artifact}, operation_id="artifact_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.ArtifactCreate, request.data)
        artifact = services.artifact_create(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.Artifact(artifact).data, status=201)


class ArtifactFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.ArtifactFilterBody, responses=schemas.Artifact(many=True),
                   operation_id="artifact_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.ArtifactFilterBody, request.data))
        qs = selectors.artifact_list(workspace=self.workspace, artifacts=_artifact_filter(body), sort=body["sort"])
        return Response(schemas.Artifact(page(qs, body), many=True).data)


class ArtifactCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.ArtifactCountBody, responses=OpenApiTypes.INT, operation_id="artifact_count")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.ArtifactCountBody, request.data))
        return Response(selectors.artifact_list(workspace=self.workspace, artifacts=_artifact_filter(body)).count())


class ArtifactLatestFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.ArtifactCollectionFilterBody, responses=schemas.ArtifactCollection(many=True),
                   operation_id="artifact_latest_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.ArtifactCollectionFilterBody, request.data))
        qs = selectors.artifact_collection_list(workspace=self.workspace, artifacts=_artifact_filter(body),
                                                sort=body["sort"])
        return Response(schemas.ArtifactCollection(page(qs, body), many=True).data)


class ArtifactLatestCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.ArtifactCollectionCountBody, responses=OpenApiTypes.INT,
                   operation_id="artifact_latest_count")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.ArtifactCollectionCountBody, request.data))
        qs = selectors.artifact_collection_list(workspace=self.workspace, artifacts=_artifact_filter(body))
        return Response(qs.count())


class ArtifactLatestView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=schemas.ArtifactCollection, operation_id="artifact_latest_by_key")
    def get(self, request, key, **kwargs):
        collection = selectors.artifact_collection_get(workspace=self.workspace, key=key)
        if collection is None:
            raise NotFound("Artifact not found.")
        return Response(schemas.ArtifactCollection(collection).data)


class ArtifactDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=schemas.Artifact, operation_id="artifact_read")
    def get(self, request, id, **kwargs):
        artifact = selectors.artifact_get(workspace=self.workspace, artifact_id=path_uuid(id))
        if artifact is None:
            raise NotFound("Artifact not found.")
        return Response(schemas.Artifact(artifact).data)

    @extend_schema(request=schemas.ArtifactUpdate, responses={204: None}, operation_id="artifact_update")
    def patch(self, request, id, **kwargs):
        changes = parse_body(schemas.ArtifactUpdate, request.data)
        services.artifact_update(workspace=self.workspace, artifact_id=path_uuid(id), changes=dict(changes),
                                 actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="artifact_delete")
    def delete(self, request, id, **kwargs):
        services.artifact_delete(workspace=self.workspace, artifact_id=path_uuid(id), actor=request.user)
        return Response(status=204)


urlpatterns = [
    path("artifacts/", ArtifactCreateView.as_view(), name="artifacts"),
    path("artifacts/filter", ArtifactFilterView.as_view(), name="artifacts-filter"),
    path("artifacts/count", ArtifactCountView.as_view(), name="artifacts-count"),
    path("artifacts/latest/filter", ArtifactLatestFilterView.as_view(), name="artifacts-latest-filter"),
    path("artifacts/latest/count", ArtifactLatestCountView.as_view(), name="artifacts-latest-count"),
    path("artifacts/<str:key>/latest", ArtifactLatestView.as_view(), name="artifact-latest"),
    path("artifacts/<str:id>", ArtifactDetailView.as_view(), name="artifact"),
]
