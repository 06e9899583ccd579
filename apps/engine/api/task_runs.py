"""Task runs at Prefect 2.20's paths: create (upsert), read, update, delete, filter, count, set_state;
their state history (task_run_states/) and, our extension, their orchestration decisions."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.api.lean import lean_view, respond
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import NotFound
from apps.engine.api.common import parse_body, path_uuid
from apps.engine.api.flow_runs import query_page, query_uuid
from apps.engine.api.flows import parse_plain
from apps.engine.schemas import filters
from apps.engine.schemas import runs as schemas
from apps.engine.schemas import states as state_schemas
from apps.engine.selectors import task_runs as selectors
from apps.engine.services import task_runs as services

READ, WRITE = "task_runs:read", "task_runs:write"


def task_run_create_set(validated: dict) -> dict:
    """What `task_run_create` makes of `unset_dropped(TaskRunCreate)(validated)`, without its work: the top-level
    nulls dropped (the service reads them as unset), the ids left as the UUIDs validation made and the state
    and policy as validated. The service saves a UUID as it saves its string (no str → UUID parse again), and
    what the general drop does inside does not change what it makes of them: StateValue.from_input reads the
    details through details_json (UUIDs as strings, null details are their defaults) and the policy's
    dropped nulls are its defaults' (tests/engine/test_task_run_create_fields.py compares the rows written
    and the answers of both over the generated and the client's bodies)."""
    return {key: value for key, value in validated.items() if value is not None}


class TaskRunCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.TaskRunCreate, responses={201: schemas.TaskRun, 200: schemas.TaskRun},
                   operation_id="task_run_create")
    def post(self, request, **kwargs):
        data = task_run_create_set(schemas.task_run_create_body(request.data))
        run, created = services.task_run_create(workspace=self.workspace, actor=request.user, **data)
        return respond(schemas.task_run_json(run), status=201 if created else 200)


class TaskRunFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.TaskRunFilterBody, responses=schemas.TaskRun(many=True),
                   operation_id="task_run_filter")
    def post(self, request, **kwargs):
        body = parse_plain(filters.TaskRunFilterBody, request.data)
        runs = selectors.task_run_list(workspace=self.workspace, body=body, sort=body.get("sort", "ID_DESC"))
        return Response([schemas.task_run_json(run) for run in runs[filters.page(body)]])


class TaskRunCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.TaskRunCountBody, responses=OpenApiTypes.INT, operation_id="task_run_count")
    def post(self, request, **kwargs):
        body = parse_plain(filters.TaskRunCountBody, request.data)
        return Response(selectors.task_run_list(workspace=self.workspace, body=body, sort=None).count())


class TaskRunDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=schemas.TaskRun, operation_id="task_run_read")
    def get(self, request, id: str, **kwargs):
        run = selectors.task_run_get(workspace=self.workspace, task_run_id=path_uuid(id))
        if run is None:
            raise NotFound("Task run not found.")
        return respond(schemas.task_run_json(run))

    @extend_schema(request=schemas.TaskRunUpdate, responses={204: None}, operation_id="task_run_update")
    def patch(self, request, id: str, **kwargs):
        changes = parse_body(schemas.TaskRunUpdate, request.data)
        services.task_run_update(workspace=self.workspace, task_run_id=path_uuid(id), changes=changes,
                                 actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="task_run_delete")
    def delete(self, request, id: str, **kwargs):
        services.task_run_delete(workspace=self.workspace, task_run_id=path_uuid(id), actor=request.user)
        return Response(status=204)


class TaskRunSetStateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=state_schemas.SetStateBody, responses={201: state_schemas.OrchestrationResult,
                                                                  200: state_schemas.OrchestrationResult},
                   operation_id="task_run_set_state")
    def post(self, request, id: str, **kwargs):
        body = state_schemas.set_state_body(request.data)
        result = services.task_run_set_state(workspace=self.workspace, task_run_id=path_uuid(id),
                                             state=body["state"], force=body.get("force", False), actor=request.user)
        return respond(result.as_json(), status=201 if result.wrote_state else 200)


class TaskRunDecisionsView(WorkspaceAPIView):
    """Our extension: why each proposed state of this task run was accepted, rejected, delayed or aborted."""

    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.DecisionOut(many=True), operation_id="task_run_decisions",
                   parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)])
    def get(self, request, id: str, **kwargs):
        run_id = path_uuid(id)
        if selectors.task_run_get(workspace=self.workspace, task_run_id=run_id) is None:
            raise NotFound("Task run not found.")
        rows = selectors.task_run_decision_list(workspace=self.workspace, task_run_id=run_id)[query_page(request)]
        return Response([state_schemas.decision_json(row) for row in rows])


class TaskRunStateListView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.State(many=True), operation_id="task_run_state_list",
                   parameters=[OpenApiParameter("task_run_id", OpenApiTypes.UUID, required=True)])
    def get(self, request, **kwargs):
        run_id = query_uuid(request, "task_run_id")
        states = selectors.task_run_state_list(workspace=self.workspace, task_run_id=run_id)
        return Response([state_schemas.state_json(state) for state in states])


class TaskRunStateDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.State, operation_id="task_run_state_read")
    def get(self, request, id: str, **kwargs):
        state = selectors.task_run_state_get(workspace=self.workspace, state_id=path_uuid(id))
        if state is None:
            raise NotFound("Task run state not found.")
        return Response(state_schemas.state_json(state))


urlpatterns = [
    path("task_runs/", lean_view(TaskRunCreateView), name="task-runs"),
    path("task_runs/filter", TaskRunFilterView.as_view(), name="task-runs-filter"),
    path("task_runs/count", TaskRunCountView.as_view(), name="task-runs-count"),
    path("task_runs/<str:id>", lean_view(TaskRunDetailView, "GET"), name="task-run"),
    path("task_runs/<str:id>/set_state", lean_view(TaskRunSetStateView), name="task-run-set-state"),
    path("task_runs/<str:id>/decisions", TaskRunDecisionsView.as_view(), name="task-run-decisions"),
    path("task_run_states/", TaskRunStateListView.as_view(), name="task-run-states"),
    path("task_run_states/<str:id>", TaskRunStateDetailView.as_view(), name="task-run-state"),
]
