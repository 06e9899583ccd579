"""The orchestration engine's models, one module per resource; every one is workspace-scoped."""

from apps.engine.models.artifacts import Artifact, ArtifactCollection
from apps.engine.models.blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType
from apps.engine.models.events import Event
from apps.engine.models.variables import Variable

__all__ = [
    "Artifact", "ArtifactCollection", "BlockDocument", "BlockDocumentReference", "BlockSchema", "BlockType", "Event",
    "Variable",
]
