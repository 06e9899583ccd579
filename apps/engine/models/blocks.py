"""Blocks: block types, block schemas (identified by checksum + version) and block documents.

Secret fields of a document (its schema's `secret_fields`) never sit in `data`: they are kept
apart, Fernet-encrypted, in `encrypted_secrets` (see services/blocks.py and docs/blocks.md).
"""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel


class BlockType(WorkspaceScopedModel):
    name = models.CharField(max_length=255)
    slug = models.CharField(max_length=255)
    logo_url = models.URLField(max_length=2083, null=True)
    documentation_url = models.URLField(max_length=2083, null=True)
    description = models.TextField(null=True)
    code_example = models.TextField(null=True)
    is_protected = models.BooleanField(default=False)

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="block_type_unique_slug"),
            models.UniqueConstraint(fields=["workspace", "name"], name="block_type_unique_name"),
        ]


class BlockSchema(WorkspaceScopedModel):
    checksum = models.CharField(max_length=255)
    version = models.CharField(max_length=255, default="non-versioned")
    fields = models.JSONField(default=dict)
    capabilities = models.JSONField(default=list)
    block_type = models.ForeignKey(BlockType, on_delete=models.CASCADE, related_name="block_schemas")

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "checksum", "version"], name="block_schema_unique_checksum"),
        ]
        indexes = [models.Index(fields=["workspace", "block_type", "-created"], name="block_schema_type_created")]


class BlockDocument(WorkspaceScopedModel):
    name = models.CharField(max_length=255)
    is_anonymous = models.BooleanField(default=False)
    # Non-secret data only; secret values are replaced by nothing here and live in encrypted_secrets.
    data = models.JSONField(default=dict)
    # Fernet token of {"<secret field path>": value, ...}; empty when the schema has no secret fields.
    encrypted_secrets = models.TextField(default="", blank=True)
    block_type = models.ForeignKey(BlockType, on_delete=models.CASCADE, related_name="block_documents")
    block_schema = models.ForeignKey(BlockSchema, on_delete=models.CASCADE, related_name="block_documents")

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "block_type", "name"], name="block_document_unique_name"),
        ]
        indexes = [models.Index(fields=["workspace", "is_anonymous", "name"], name="block_document_anon_name")]


class BlockDocumentReference(WorkspaceScopedModel):
    """A field of a parent document that holds another saved document (Prefect's nested blocks)."""

    name = models.CharField(max_length=255)
    parent_block_document = models.ForeignKey(BlockDocument, on_delete=models.CASCADE, related_name="references")
    reference_block_document = models.ForeignKey(BlockDocument, on_delete=models.CASCADE, related_name="referenced_by")

    class Meta(WorkspaceScopedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["parent_block_document", "name"], name="block_document_reference_unique"),
        ]
