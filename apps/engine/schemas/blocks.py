"""Input and output shapes of blocks, with Prefect 2.20's schema names (server/schemas/{actions,core,filters})."""

from __future__ import annotations

from rest_framework import serializers

from apps.core.api.serializers import StrictInputSerializer

BLOCK_DOCUMENT_SORTS = ["NAME_DESC", "NAME_ASC", "BLOCK_TYPE_AND_NAME_ASC"]


class BlockTextsFilter(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class BlockIdsFilter(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.UUIDField(), required=False, allow_null=True)


class BlockTypeFilterName(StrictInputSerializer):
    like_ = serializers.CharField(required=False, allow_null=True)


class BlockTypeFilter(StrictInputSerializer):
    name = BlockTypeFilterName(required=False, allow_null=True)
    slug = BlockTextsFilter(required=False, allow_null=True)


class BlockSchemaFilterCapabilities(StrictInputSerializer):
    all_ = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)


class BlockSchemaFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    id = BlockIdsFilter(required=False, allow_null=True)
    block_type_id = BlockIdsFilter(required=False, allow_null=True)
    block_capabilities = BlockSchemaFilterCapabilities(required=False, allow_null=True)
    version = BlockTextsFilter(required=False, allow_null=True)


class BlockDocumentFilterIsAnonymous(StrictInputSerializer):
    eq_ = serializers.BooleanField(required=False, allow_null=True)


class BlockDocumentFilterName(StrictInputSerializer):
    any_ = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True)
    like_ = serializers.CharField(required=False, allow_null=True)


class BlockDocumentFilter(StrictInputSerializer):
    operator = serializers.ChoiceField(choices=["and_", "or_"], required=False, default="and_")
    id = BlockIdsFilter(required=False, allow_null=True)
    is_anonymous = BlockDocumentFilterIsAnonymous(required=False, allow_null=True)
    block_type_id = BlockIdsFilter(required=False, allow_null=True)
    name = BlockDocumentFilterName(required=False, allow_null=True)


class _Paging(StrictInputSerializer):
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=200, allow_null=True)


class BlockTypeFilterBody(_Paging):
    block_types = BlockTypeFilter(required=False, allow_null=True)
    block_schemas = BlockSchemaFilter(required=False, allow_null=True)


class BlockSchemaFilterBody(_Paging):
    block_schemas = BlockSchemaFilter(required=False, allow_null=True)


class BlockDocumentCountBody(StrictInputSerializer):
    block_documents = BlockDocumentFilter(required=False, allow_null=True)
    block_types = BlockTypeFilter(required=False, allow_null=True)
    block_schemas = BlockSchemaFilter(required=False, allow_null=True)


class BlockDocumentFilterBody(BlockDocumentCountBody, _Paging):
    include_secrets = serializers.BooleanField(required=False, default=False)
    sort = serializers.ChoiceField(choices=BLOCK_DOCUMENT_SORTS, required=False, default="NAME_ASC")


class BlockTypeCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=255)
    slug = serializers.SlugField(max_length=255)
    logo_url = serializers.URLField(max_length=2083, required=False, allow_null=True)
    documentation_url = serializers.URLField(max_length=2083, required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code_example = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class BlockTypeUpdate(StrictInputSerializer):
    logo_url = serializers.URLField(max_length=2083, required=False, allow_null=True)
    documentation_url = serializers.URLField(max_length=2083, required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    code_example = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class BlockSchemaCreate(StrictInputSerializer):
    fields = serializers.DictField(required=False, default=dict)
    block_type_id = serializers.UUIDField()
    capabilities = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    version = serializers.CharField(max_length=255, required=False, default="non-versioned")


class BlockDocumentCreate(StrictInputSerializer):
    name = serializers.CharField(max_length=255, required=False, allow_null=True)
    data = serializers.DictField(required=False, default=dict)
    block_schema_id = serializers.UUIDField()
    block_type_id = serializers.UUIDField()
    is_anonymous = serializers.BooleanField(required=False, default=False)


class BlockDocumentUpdate(StrictInputSerializer):
    block_schema_id = serializers.UUIDField(required=False, allow_null=True)
    data = serializers.DictField(required=False, allow_null=True)
    merge_existing_data = serializers.BooleanField(required=False, default=True)


class BlockType(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    slug = serializers.CharField()
    logo_url = serializers.CharField(allow_null=True)
    documentation_url = serializers.CharField(allow_null=True)
    description = serializers.CharField(allow_null=True)
    code_example = serializers.CharField(allow_null=True)
    is_protected = serializers.BooleanField()


class BlockSchema(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    checksum = serializers.CharField()
    fields = serializers.JSONField()
    block_type_id = serializers.UUIDField()
    block_type = BlockType()
    capabilities = serializers.ListField(child=serializers.CharField())
    version = serializers.CharField()


class BlockDocument(serializers.Serializer):
    id = serializers.UUIDField()
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()
    name = serializers.CharField()
    data = serializers.JSONField()
    block_schema_id = serializers.UUIDField()
    block_schema = BlockSchema()
    block_type_id = serializers.UUIDField()
    block_type_name = serializers.CharField(source="block_type.name")
    block_type = BlockType()
    block_document_references = serializers.JSONField()
    is_anonymous = serializers.BooleanField()


def _render_references(references: dict) -> dict:
    out = {}
    for name, ref in references.items():
        doc = dict(ref["block_document"])
        doc["block_type"] = BlockType(doc["block_type"]).data
        doc["block_document_references"] = _render_references(doc["block_document_references"])
        out[name] = {"block_document": doc}
    return out


def render_block_document(document, *, include_secrets: bool) -> dict:
    """A document as Prefect returns it: nested documents' data folded in, secrets obscured unless asked."""
    from apps.engine.selectors.blocks import block_document_full_data

    data, references = block_document_full_data(document, include_secrets=include_secrets)
    document.data = data
    document.block_document_references = _render_references(references)
    return BlockDocument(document).data
