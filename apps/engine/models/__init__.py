"""The orchestration engine's models, one module per resource; every one is workspace-scoped."""

from apps.engine.models.blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType
from apps.engine.models.events import Event

__all__ = ["BlockDocument", "BlockDocumentReference", "BlockSchema", "BlockType", "Event"]
