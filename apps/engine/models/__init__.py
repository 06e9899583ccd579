"""The orchestration engine's models, one module per resource; every one is workspace-scoped."""

from apps.engine.models.blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType

__all__ = ["BlockDocument", "BlockDocumentReference", "BlockSchema", "BlockType"]
