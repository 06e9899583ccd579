"""Flow runs at Prefect 2.20's paths: create (idempotent), read, update, delete, filter, count, history,
set_state, resume; their state history (flow_run_states/) and, our extension, their orchestration
decisions (flow_runs/{id}/decisions)."""

from __future__ import annotations

import uuid

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.api.lean import lean_view, respond
from apps.core.api.pagination import parse_limit_offset
from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid, NotFound
from apps.engine.api.common import parse_body, path_uuid, plain, unset_dropped
from apps.engine.api.flows import parse_plain
from apps.engine.models.runs import StateType
from apps.engine.schemas import filters
from apps.engine.schemas import runs as schemas
from apps.engine.schemas import states as state_schemas
from apps.engine.selectors import flow_runs as selectors
from apps.engine.selectors import task_runs as task_run_selectors
from apps.engine.selectors.run_history import run_history
from apps.engine.services import flow_runs as services

READ, WRITE, CANCEL = "flow_runs:read", "flow_runs:write", "flow_runs:cancel"


# The schema's own null fields dropped, the nulls inside parameters, context, state data... kept.
flow_run_create_fields = unset_dropped(schemas.FlowRunCreate)


def flow_run_create_set(validated: dict) -> dict:
    """What `flow_run_create` makes of `flow_run_create_fields(validated)`, without its work: the top-level
    nulls and the policy's dropped (a null `resuming` is its default, False), the ids left as the UUIDs
    validation made and the state as validated. The service saves a UUID as it saves its string (no str → UUID
    parse again), and StateValue.from_input reads the state's details through details_json (UUIDs as
    strings, null details are their defaults) whatever the general drop did inside them
    (tests/engine/test_flow_run_create_rows.py compares the rows written and the answers of both)."""
    fields = {key: value for key, value in validated.items() if value is not None}
    policy = fields.get("empirical_policy")
    if policy is not None:
        fields["empirical_policy"] = {key: value for key, value in policy.items() if value is not None}
    return fields


class FlowRunCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    def is_work_under_way(self, request) -> bool:
        # A subflow of a run under way (its parent task run belongs to a Running flow run) is part of that
        # run: a read-only workspace lets it start, so the parent can finish. Any other new run is refused.
        parent = request.data.get("parent_task_run_id") if isinstance(request.data, dict) else None
        try:
            parent_id = uuid.UUID(str(parent)) if parent else None
        except ValueError:
            return False
        return parent_id is not None and task_run_selectors.task_run_in_running_flow_run(
            workspace=self.workspace, task_run_id=parent_id)

    @extend_schema(request=schemas.FlowRunCreate, responses={201: schemas.FlowRunResponse,
                                                             200: schemas.FlowRunResponse},
                   operation_id="flow_run_create")
    def post(self, request, **kwargs):
        data = flow_run_create_set(schemas.flow_run_create_body(request.data))
        run, created = services.flow_run_create(workspace=self.workspace, actor=request.user, **data)
        return respond(schemas.flow_run_json(run), status=201 if created else 200)


class FlowRunFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.FlowRunFilterBody, responses=schemas.FlowRunResponse(many=True),
                   operation_id="flow_run_filter")
    def post(self, request, **kwargs):
        body = plain(filters.flow_run_filter_body(request.data))
        runs = selectors.flow_run_page(workspace=self.workspace, body=body)
        return respond([schemas.flow_run_json(run) for run in runs])


class FlowRunCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.FlowRunCountBody, responses=OpenApiTypes.INT, operation_id="flow_run_count")
    def post(self, request, **kwargs):
        body = parse_plain(filters.FlowRunCountBody, request.data)
        return Response(selectors.flow_run_list(workspace=self.workspace, body=body, sort=None).count())


class FlowRunHistoryView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=filters.FlowRunHistoryBody, responses=OpenApiTypes.OBJECT,
                   operation_id="flow_run_history")
    def post(self, request, **kwargs):
        body = parse_plain(filters.FlowRunHistoryBody, request.data)
        runs = selectors.flow_run_list(workspace=self.workspace, body=body, sort=None)
        return Response(run_history(runs, body))


class FlowRunDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}
    work_under_way_methods = frozenset({"PATCH"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(responses=schemas.FlowRunResponse, operation_id="flow_run_read")
    def get(self, request, id: str, **kwargs):
        run = selectors.flow_run_get(workspace=self.workspace, flow_run_id=path_uuid(id))
        if run is None:
            raise NotFound("Flow run not found.")
        return respond(schemas.flow_run_json(run))

    @extend_schema(request=schemas.FlowRunUpdate, responses={204: None}, operation_id="flow_run_update")
    def patch(self, request, id: str, **kwargs):
        changes = parse_body(schemas.FlowRunUpdate, request.data)
        services.flow_run_update(workspace=self.workspace, flow_run_id=path_uuid(id), changes=changes,
                                 actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="flow_run_delete")
    def delete(self, request, id: str, **kwargs):
        services.flow_run_delete(workspace=self.workspace, flow_run_id=path_uuid(id), actor=request.user)
        return Response(status=204)


class FlowRunSetStateView(WorkspaceAPIView):
    """Propose a state. Cancelling or cancelling a run needs only `flow_runs:cancel`; anything else
    needs `flow_runs:write`."""

    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    def required_permission(self, request) -> str | None:
        state = request.data.get("state") if isinstance(request.data, dict) else None
        proposed = state.get("type") if isinstance(state, dict) else None
        if proposed in (StateType.CANCELLING, StateType.CANCELLED) and request.access is not None \
                and not request.access.has(WRITE):
            return CANCEL
        return WRITE

    @extend_schema(request=state_schemas.SetStateBody, responses={201: state_schemas.OrchestrationResult,
                                                                  200: state_schemas.OrchestrationResult},
                   operation_id="flow_run_set_state")
    def post(self, request, id: str, **kwargs):
        body = state_schemas.set_state_body(request.data)
        result = services.flow_run_set_state(workspace=self.workspace, flow_run_id=path_uuid(id),
                                             state=body["state"], force=body.get("force", False), actor=request.user,
                                             parameters={"api-version": request.headers.get("X-Prefect-Api-Version")})
        return respond(result.as_json(), status=201 if result.wrote_state else 200)


class FlowRunResumeView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=state_schemas.ResumeBody, responses={201: state_schemas.OrchestrationResult,
                                                                200: state_schemas.OrchestrationResult},
                   operation_id="flow_run_resume")
    def post(self, request, id: str, **kwargs):
        body = parse_body(state_schemas.ResumeBody, request.data)
        result = services.flow_run_resume(workspace=self.workspace, flow_run_id=path_uuid(id),
                                          run_input=body.get("run_input"), actor=request.user)
        if result is None:
            return Response({"state": None, "status": "ABORT",
                             "details": {"type": "abort_details",
                                         "reason": "Cannot resume a flow run that is not paused."}})
        return Response(result.as_json(), status=201 if result.wrote_state else 200)


class FlowRunDecisionsView(WorkspaceAPIView):
    """Our extension: why each proposed state of this run was accepted, rejected, delayed or aborted."""

    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.DecisionOut(many=True), operation_id="flow_run_decisions",
                   parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)])
    def get(self, request, id: str, **kwargs):
        run_id = path_uuid(id)
        if selectors.flow_run_get(workspace=self.workspace, flow_run_id=run_id) is None:
            raise NotFound("Flow run not found.")
        window = query_page(request)
        rows = selectors.flow_run_decision_list(workspace=self.workspace, flow_run_id=run_id)[window]
        return Response([state_schemas.decision_json(row) for row in rows])


class FlowRunStateListView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.State(many=True), operation_id="flow_run_state_list",
                   parameters=[OpenApiParameter("flow_run_id", OpenApiTypes.UUID, required=True)])
    def get(self, request, **kwargs):
        run_id = query_uuid(request, "flow_run_id")
        states = selectors.flow_run_state_list(workspace=self.workspace, flow_run_id=run_id)
        return Response([state_schemas.state_json(state) for state in states])


class FlowRunStateDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=state_schemas.State, operation_id="flow_run_state_read")
    def get(self, request, id: str, **kwargs):
        state = selectors.flow_run_state_get(workspace=self.workspace, state_id=path_uuid(id))
        if state is None:
            raise NotFound("Flow run state not found.")
        return Response(state_schemas.state_json(state))


def query_uuid(request, name: str) -> uuid.UUID:
    raw = request.query_params.get(name)
    if raw is None:
        raise Invalid("field required", loc=["query", name], code="missing")
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Invalid("value is not a valid uuid", loc=["query", name], code="uuid") from None


def query_page(request) -> slice:
    """The slice `?limit=&offset=` select (default and maximum 200; bad values are 422)."""
    limit, offset = parse_limit_offset(request.query_params)
    return slice(offset, offset + limit)


urlpatterns = [
    path("flow_runs/", lean_view(FlowRunCreateView), name="flow-runs"),
    path("flow_runs/filter", lean_view(FlowRunFilterView), name="flow-runs-filter"),
    path("flow_runs/count", FlowRunCountView.as_view(), name="flow-runs-count"),
    path("flow_runs/history", FlowRunHistoryView.as_view(), name="flow-runs-history"),
    path("flow_runs/<str:id>", lean_view(FlowRunDetailView, "GET"), name="flow-run"),
    path("flow_runs/<str:id>/set_state", lean_view(FlowRunSetStateView), name="flow-run-set-state"),
    path("flow_runs/<str:id>/resume", FlowRunResumeView.as_view(), name="flow-run-resume"),
    path("flow_runs/<str:id>/decisions", FlowRunDecisionsView.as_view(), name="flow-run-decisions"),
    path("flow_run_states/", FlowRunStateListView.as_view(), name="flow-run-states"),
    path("flow_run_states/<str:id>", FlowRunStateDetailView.as_view(), name="flow-run-state"),
]
