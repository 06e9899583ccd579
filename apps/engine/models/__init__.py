"""The orchestration engine's models, one module per resource; every one is workspace-scoped."""

from apps.engine.models.artifacts import Artifact, ArtifactCollection
from apps.engine.models.blocks import BlockDocument, BlockDocumentReference, BlockSchema, BlockType
from apps.engine.models.deployments import Deployment, DeploymentSchedule, Worker, WorkPool, WorkQueue
from apps.engine.models.events import Event
from apps.engine.models.flow_run_inputs import FlowRunInput
from apps.engine.models.runs import (
    ConcurrencyLimit,
    ConcurrencyLimitV2,
    Decision,
    Flow,
    FlowRun,
    FlowRunState,
    Log,
    OrchestrationDecision,
    StateType,
    TaskRun,
    TaskRunState,
    TaskRunStateCache,
)
from apps.engine.models.variables import Variable

__all__ = [
    "Artifact",
    "ArtifactCollection",
    "BlockDocument",
    "BlockDocumentReference",
    "BlockSchema",
    "BlockType",
    "ConcurrencyLimit",
    "ConcurrencyLimitV2",
    "Decision",
    "Deployment",
    "DeploymentSchedule",
    "Event",
    "Flow",
    "FlowRun",
    "FlowRunInput",
    "FlowRunState",
    "Log",
    "OrchestrationDecision",
    "StateType",
    "TaskRun",
    "TaskRunState",
    "TaskRunStateCache",
    "Variable",
    "WorkPool",
    "WorkQueue",
    "Worker",
]
