"""Block types, block schemas, block documents and capabilities, at Prefect 2.20's paths and shapes."""

from __future__ import annotations

import uuid

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.pagination import parse_limit_offset
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid, NotFound
from apps.engine.api.common import page, parse_body, parse_params, path_uuid, plain
from apps.engine.schemas import blocks as schemas
from apps.engine.selectors import blocks as selectors
from apps.engine.services import blocks as services

READ, WRITE, READ_SECRETS = "blocks:read", "blocks:write", "blocks:read_secrets"
INCLUDE_SECRETS = OpenApiParameter("include_secrets", OpenApiTypes.BOOL, required=False)


def _secrets_allowed(request, asked: bool) -> bool:
    """Secrets are shown only when asked for AND the caller holds blocks:read_secrets; otherwise obscured."""
    return bool(asked) and request.access.has(READ_SECRETS)


def _query_bool(request, name: str, default: bool = False) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise Invalid("value could not be parsed to a boolean", loc=["query", name], code="bool")


# --- block types ---------------------------------------------------------------------------------

class BlockTypeCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.BlockTypeCreate, responses={201: schemas.BlockType},
                   operation_id="block_type_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.BlockTypeCreate, request.data)
        block_type = services.block_type_create(workspace=self.workspace, actor=request.user, **data)
        return Response(schemas.BlockType(block_type).data, status=201)


class BlockTypeFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.BlockTypeFilterBody, responses=schemas.BlockType(many=True),
                   operation_id="block_type_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.BlockTypeFilterBody, request.data))
        qs = selectors.block_type_list(workspace=self.workspace, block_types=body.get("block_types"),
                                       block_schemas=body.get("block_schemas"))
        return Response(schemas.BlockType(page(qs, body), many=True).data)


class BlockTypeDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    def _get(self, id):
        block_type = selectors.block_type_get(workspace=self.workspace, block_type_id=path_uuid(id))
        if block_type is None:
            raise NotFound("Block type not found")
        return block_type

    @extend_schema(responses=schemas.BlockType, operation_id="block_type_read")
    def get(self, request, id, **kwargs):
        return Response(schemas.BlockType(self._get(id)).data)

    @extend_schema(request=schemas.BlockTypeUpdate, responses={204: None}, operation_id="block_type_update")
    def patch(self, request, id, **kwargs):
        changes = parse_body(schemas.BlockTypeUpdate, request.data)
        services.block_type_update(block_type=self._get(id), changes=changes, actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="block_type_delete")
    def delete(self, request, id, **kwargs):
        services.block_type_delete(block_type=self._get(id), actor=request.user)
        return Response(status=204)


class BlockTypeBySlugView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=schemas.BlockType, operation_id="block_type_read_by_slug")
    def get(self, request, slug, **kwargs):
        block_type = selectors.block_type_get_by_slug(workspace=self.workspace, slug=slug)
        if block_type is None:
            raise NotFound("Block type not found")
        return Response(schemas.BlockType(block_type).data)


class BlockTypeDocumentsView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(parameters=[INCLUDE_SECRETS], responses=schemas.BlockDocument(many=True),
                   operation_id="block_type_documents_list")
    def get(self, request, slug, **kwargs):
        show = _secrets_allowed(request, _query_bool(request, "include_secrets"))
        docs = selectors.block_document_list(workspace=self.workspace,
                                             block_types={"slug": {"any_": [slug]}})
        limit, offset = parse_limit_offset(request.query_params)
        rows = list(docs[offset : offset + limit])
        if show:
            services.block_secrets_read(workspace=self.workspace, documents=rows, actor=request.user)
        return Response([schemas.render_block_document(d, include_secrets=show) for d in rows])


class BlockTypeDocumentByNameView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(parameters=[INCLUDE_SECRETS], responses=schemas.BlockDocument,
                   operation_id="block_type_document_read_by_name")
    def get(self, request, slug, name, **kwargs):
        show = _secrets_allowed(request, _query_bool(request, "include_secrets"))
        document = selectors.block_document_get_by_name(workspace=self.workspace, block_type_slug=slug, name=name)
        if document is None:
            raise NotFound("Block document not found")
        if show:
            services.block_secrets_read(workspace=self.workspace, documents=[document], actor=request.user)
        return Response(schemas.render_block_document(document, include_secrets=show))


class InstallSystemBlockTypesView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=None, responses={200: None}, operation_id="block_types_install_system")
    def post(self, request, **kwargs):
        services.workspace_seed_blocks(workspace=self.workspace)
        return Response(None)


# --- block schemas -------------------------------------------------------------------------------

class BlockSchemaCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.BlockSchemaCreate, responses={201: schemas.BlockSchema, 200: schemas.BlockSchema},
                   operation_id="block_schema_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.BlockSchemaCreate, request.data)
        block_type = selectors.block_type_get(workspace=self.workspace, block_type_id=data["block_type_id"])
        if block_type is None:
            raise NotFound(f"Block type {data['block_type_id']} not found.")
        schema, created = services.block_schema_create(
            workspace=self.workspace, block_type=block_type, fields=data["fields"],
            capabilities=data["capabilities"], version=data["version"], actor=request.user,
        )
        return Response(schemas.BlockSchema(schema).data, status=201 if created else 200)


class BlockSchemaFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.BlockSchemaFilterBody, responses=schemas.BlockSchema(many=True),
                   operation_id="block_schema_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.BlockSchemaFilterBody, request.data))
        qs = selectors.block_schema_list(workspace=self.workspace, block_schemas=body.get("block_schemas"))
        return Response(schemas.BlockSchema(page(qs, body), many=True).data)


class BlockSchemaDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "DELETE": WRITE}

    def _get(self, id):
        schema = selectors.block_schema_get(workspace=self.workspace, block_schema_id=path_uuid(id))
        if schema is None:
            raise NotFound("Block schema not found")
        return schema

    @extend_schema(responses=schemas.BlockSchema, operation_id="block_schema_read")
    def get(self, request, id, **kwargs):
        return Response(schemas.BlockSchema(self._get(id)).data)

    @extend_schema(responses={204: None}, operation_id="block_schema_delete")
    def delete(self, request, id, **kwargs):
        services.block_schema_delete(block_schema=self._get(id), actor=request.user)
        return Response(status=204)


class BlockSchemaByChecksumView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(parameters=[OpenApiParameter("version", str, required=False)], responses=schemas.BlockSchema,
                   operation_id="block_schema_read_by_checksum")
    def get(self, request, checksum, **kwargs):
        schema = selectors.block_schema_get_by_checksum(workspace=self.workspace, checksum=checksum,
                                                        version=request.query_params.get("version"))
        if schema is None:
            raise NotFound("Block schema not found")
        return Response(schemas.BlockSchema(schema).data)


class BlockCapabilitiesView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=serializers.ListSerializer(child=serializers.CharField()),
                   operation_id="block_capabilities")
    def get(self, request, **kwargs):
        return Response(selectors.block_capability_list(workspace=self.workspace))


# --- block documents -----------------------------------------------------------------------------

class BlockDocumentCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    def is_work_under_way(self, request) -> bool:
        # The client saves its result storage as an anonymous block when a run under way persists a result.
        return isinstance(request.data, dict) and request.data.get("is_anonymous") is True

    @extend_schema(request=schemas.BlockDocumentCreate, responses={201: schemas.BlockDocument},
                   operation_id="block_document_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.BlockDocumentCreate, request.data)
        document = services.block_document_create(workspace=self.workspace, actor=request.user, **data)
        document = selectors.block_document_get(workspace=self.workspace, block_document_id=document.pk)
        return Response(schemas.render_block_document(document, include_secrets=False), status=201)


class BlockDocumentFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.BlockDocumentFilterBody, responses=schemas.BlockDocument(many=True),
                   operation_id="block_document_filter")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.BlockDocumentFilterBody, request.data))
        show = _secrets_allowed(request, body["include_secrets"])
        qs = selectors.block_document_list(workspace=self.workspace, block_documents=body.get("block_documents"),
                                           block_types=body.get("block_types"),
                                           block_schemas=body.get("block_schemas"), sort=body["sort"])
        rows = page(qs, body)
        if show:
            services.block_secrets_read(workspace=self.workspace, documents=rows, actor=request.user)
        return Response([schemas.render_block_document(d, include_secrets=show) for d in rows])


class BlockDocumentCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.BlockDocumentCountBody, responses=OpenApiTypes.INT,
                   operation_id="block_document_count")
    def post(self, request, **kwargs):
        body = plain(parse_params(schemas.BlockDocumentCountBody, request.data))
        qs = selectors.block_document_list(workspace=self.workspace, block_documents=body.get("block_documents"),
                                           block_types=body.get("block_types"),
                                           block_schemas=body.get("block_schemas"))
        return Response(qs.count())


class BlockDocumentDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    def is_work_under_way(self, request) -> bool:
        # Saving anonymous result storage again overwrites its document (the client's create-then-update).
        if request.method != "PATCH":
            return False
        try:
            document_id = uuid.UUID(str(self.kwargs.get("id")))
        except ValueError:
            return False
        return selectors.block_document_is_anonymous(workspace=self.workspace, block_document_id=document_id)

    @extend_schema(parameters=[INCLUDE_SECRETS], responses=schemas.BlockDocument, operation_id="block_document_read")
    def get(self, request, id, **kwargs):
        show = _secrets_allowed(request, _query_bool(request, "include_secrets"))
        document = selectors.block_document_get(workspace=self.workspace, block_document_id=path_uuid(id))
        if document is None:
            raise NotFound("Block document not found")
        if show:
            services.block_secrets_read(workspace=self.workspace, documents=[document], actor=request.user)
        return Response(schemas.render_block_document(document, include_secrets=show))

    @extend_schema(request=schemas.BlockDocumentUpdate, responses={204: None}, operation_id="block_document_update")
    def patch(self, request, id, **kwargs):
        data = parse_body(schemas.BlockDocumentUpdate, request.data)
        services.block_document_update(workspace=self.workspace, block_document_id=path_uuid(id), actor=request.user,
                                       data=data.get("data"), block_schema_id=data.get("block_schema_id"),
                                       merge_existing_data=data["merge_existing_data"])
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="block_document_delete")
    def delete(self, request, id, **kwargs):
        services.block_document_delete(workspace=self.workspace, block_document_id=path_uuid(id), actor=request.user)
        return Response(status=204)


urlpatterns = [
    path("block_types/", BlockTypeCreateView.as_view(), name="block-types"),
    path("block_types/filter", BlockTypeFilterView.as_view(), name="block-types-filter"),
    path("block_types/install_system_block_types", InstallSystemBlockTypesView.as_view(),
         name="block-types-install-system"),
    path("block_types/slug/<str:slug>", BlockTypeBySlugView.as_view(), name="block-type-by-slug"),
    path("block_types/slug/<str:slug>/block_documents", BlockTypeDocumentsView.as_view(),
         name="block-type-documents"),
    path("block_types/slug/<str:slug>/block_documents/name/<str:name>", BlockTypeDocumentByNameView.as_view(),
         name="block-type-document-by-name"),
    path("block_types/<str:id>", BlockTypeDetailView.as_view(), name="block-type"),
    path("block_schemas/", BlockSchemaCreateView.as_view(), name="block-schemas"),
    path("block_schemas/filter", BlockSchemaFilterView.as_view(), name="block-schemas-filter"),
    path("block_schemas/checksum/<str:checksum>", BlockSchemaByChecksumView.as_view(), name="block-schema-by-checksum"),
    path("block_schemas/<str:id>", BlockSchemaDetailView.as_view(), name="block-schema"),
    path("block_capabilities/", BlockCapabilitiesView.as_view(), name="block-capabilities"),
    path("block_documents/", BlockDocumentCreateView.as_view(), name="block-documents"),
    path("block_documents/filter", BlockDocumentFilterView.as_view(), name="block-documents-filter"),
    path("block_documents/count", BlockDocumentCountView.as_view(), name="block-documents-count"),
    path("block_documents/<str:id>", BlockDocumentDetailView.as_view(), name="block-document"),
]
