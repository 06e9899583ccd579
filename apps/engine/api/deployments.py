"""Deployments at Prefect 2.20's paths: upsert, read (by id, by flow/name), filter, count, update, delete,
pause/resume, schedules, create_flow_run, work_queue_check and the runners' get_scheduled_flow_runs."""

from __future__ import annotations

import datetime

from django.urls import path
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.api.views import WorkspaceAPIView
from apps.core.errors import Invalid
from apps.engine.api.common import page, parse_body, path_uuid, plain
from apps.engine.api.work_pools import render_queue
from apps.engine.schemas import deployments as schemas
from apps.engine.schemas.runs import flow_run_json
from apps.engine.schemas.work_pools import WorkQueueResponse
from apps.engine.selectors import deployments as selectors
from apps.engine.services import deployments as services
from apps.engine.services import work_pools as pool_services

READ, WRITE, RUN = "deployments:read", "deployments:write", "deployments:run"
POLL = "work_queues:poll"


def created_by(request) -> dict | None:
    """Prefect's CreatedBy/UpdatedBy for the caller: a user or a service account (bot)."""
    actor = request.user
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    if getattr(actor, "email", None):
        return {"id": str(actor.pk), "type": "USER", "display_value": actor.email}
    return {"id": str(actor.pk), "type": "SERVICE_ACCOUNT", "display_value": getattr(actor, "name", "")}


def render(deployment, now=None) -> dict:
    now = now or timezone.now()
    data = schemas.deployment_data(deployment, status=selectors.deployment_status(deployment, now))
    return schemas.DeploymentResponse(data).data


class DeploymentCreateView(WorkspaceAPIView):
    required_permissions = {"POST": WRITE}

    @extend_schema(request=schemas.DeploymentCreate, responses={200: schemas.DeploymentResponse,
                                                                201: schemas.DeploymentResponse},
                   operation_id="deployment_create")
    def post(self, request, **kwargs):
        data = parse_body(schemas.DeploymentCreate, request.data)
        deployment, created = services.deployment_upsert(workspace=self.workspace, data=dict(data),
                                                         actor=request.user, created_by=created_by(request))
        deployment = selectors.deployment_get(workspace=self.workspace, deployment_id=deployment.pk)
        return Response(render(deployment), status=201 if created else 200)


def _filters(body: dict) -> dict:
    return {key: body.get(key) for key in ("flows", "flow_runs", "task_runs", "deployments", "work_pools",
                                           "work_pool_queues")}


class DeploymentFilterView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.DeploymentFilterBody, responses=schemas.DeploymentResponse(many=True),
                   operation_id="deployment_filter")
    def post(self, request, **kwargs):
        body = plain(parse_body(schemas.DeploymentFilterBody, request.data))
        qs = selectors.deployment_list(workspace=self.workspace, **_filters(body), sort=body.get("sort"))
        now = timezone.now()
        return Response([render(d, now) for d in page(qs, body)])


class DeploymentCountView(WorkspaceAPIView):
    required_permissions = {"POST": READ}

    @extend_schema(request=schemas.DeploymentCountBody, responses=OpenApiTypes.INT, operation_id="deployment_count")
    def post(self, request, **kwargs):
        body = plain(parse_body(schemas.DeploymentCountBody, request.data))
        qs = selectors.deployment_list(workspace=self.workspace, **_filters(body))
        return Response(qs.count())


class DeploymentScheduledRunsView(WorkspaceAPIView):
    """What `prefect serve` runners poll: Scheduled runs of their deployments, soonest first."""

    required_permissions = {"POST": POLL}
    work_under_way_methods = frozenset({"POST"})  # open in a read-only workspace (docs/billing.md)

    @extend_schema(request=schemas.DeploymentScheduledRunsBody, responses=OpenApiTypes.OBJECT,
                   operation_id="deployment_get_scheduled_flow_runs")
    def post(self, request, **kwargs):
        body = parse_body(schemas.DeploymentScheduledRunsBody, request.data)
        ids = body["deployment_ids"]
        runs = selectors.deployment_scheduled_runs(workspace=self.workspace, deployment_ids=ids,
                                                   scheduled_before=body.get("scheduled_before"))
        now = timezone.now()
        out = [flow_run_json(run, now=now) for run in runs[: body.get("limit") or 200]]
        pool_services.polled_mark(workspace=self.workspace, deployment_ids=ids)
        return Response(out)


class DeploymentByNameView(WorkspaceAPIView):
    required_permissions = {"GET": READ}

    @extend_schema(responses=schemas.DeploymentResponse, operation_id="deployment_read_by_name")
    def get(self, request, flow_name, deployment_name, **kwargs):
        deployment = selectors.deployment_get_by_name(workspace=self.workspace, flow_name=flow_name,
                                                      name=deployment_name)
        if deployment is None:
            raise services.deployment_not_found()
        return Response(render(deployment))


class DeploymentDetailView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(responses=schemas.DeploymentResponse, operation_id="deployment_read")
    def get(self, request, id, **kwargs):
        deployment = selectors.deployment_get(workspace=self.workspace, deployment_id=path_uuid(id))
        if deployment is None:
            raise services.deployment_not_found()
        return Response(render(deployment))

    @extend_schema(request=schemas.DeploymentUpdate, responses={204: None}, operation_id="deployment_update")
    def patch(self, request, id, **kwargs):
        deployment_id = path_uuid(id)
        data = parse_body(schemas.DeploymentUpdate, request.data)
        services.deployment_update(workspace=self.workspace, deployment_id=deployment_id, data=dict(data),
                                   actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="deployment_delete")
    def delete(self, request, id, **kwargs):
        services.deployment_delete(workspace=self.workspace, deployment_id=path_uuid(id), actor=request.user)
        return Response(status=204)


class ScheduleRunsBody(serializers.Serializer):
    start_time = serializers.DateTimeField(required=False, allow_null=True)
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    min_time = serializers.FloatField(required=False, allow_null=True, min_value=0)
    min_runs = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    max_runs = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=1000)


class DeploymentScheduleRunsView(WorkspaceAPIView):
    """POST deployments/{id}/schedule: make runs of the deployment's schedules now (backfills: past times)."""

    required_permissions = {"POST": WRITE}

    @extend_schema(request=ScheduleRunsBody, responses={200: None}, operation_id="deployment_schedule")
    def post(self, request, id, **kwargs):
        body = parse_body(ScheduleRunsBody, request.data)
        deployment = selectors.deployment_get(workspace=self.workspace, deployment_id=path_uuid(id))
        if deployment is None:
            raise services.deployment_not_found()
        min_time = body.get("min_time")
        services.deployment_schedule_runs(
            workspace=self.workspace, deployment=deployment, start=body.get("start_time"), end=body.get("end_time"),
            min_runs=body.get("min_runs"), max_runs=body.get("max_runs"),
            min_time=datetime.timedelta(seconds=min_time) if min_time is not None else None, actor=request.user,
        )
        return Response(None, status=200)


class _PauseView(WorkspaceAPIView):
    abstract = True
    required_permissions = {"POST": WRITE}
    paused: bool

    def post(self, request, id, **kwargs):
        services.deployment_set_paused(workspace=self.workspace, deployment_id=path_uuid(id), paused=self.paused,
                                       actor=request.user)
        return Response(None, status=200)


@extend_schema(request=None, responses={200: None})
class DeploymentPauseView(_PauseView):
    paused = True


@extend_schema(request=None, responses={200: None})
class DeploymentResumeView(_PauseView):
    paused = False


class DeploymentCreateFlowRunView(WorkspaceAPIView):
    required_permissions = {"POST": RUN}

    @extend_schema(request=schemas.DeploymentFlowRunCreate, responses={201: OpenApiTypes.OBJECT},
                   operation_id="deployment_create_flow_run")
    def post(self, request, id, **kwargs):
        deployment_id = path_uuid(id)
        data = parse_body(schemas.DeploymentFlowRunCreate, request.data)
        run, created = services.deployment_create_flow_run(
            workspace=self.workspace, deployment_id=deployment_id, data=dict(data), actor=request.user,
            created_by=created_by(request))
        run = selectors.flow_run_for_response(workspace=self.workspace, run_id=run.pk)
        return Response(flow_run_json(run, now=timezone.now()), status=201 if created else 200)


class DeploymentWorkQueueCheckView(WorkspaceAPIView):
    """Deprecated in Prefect: the queues that would pick the deployment's runs up (its own queue)."""

    required_permissions = {"GET": READ}

    @extend_schema(responses=WorkQueueResponse(many=True), operation_id="deployment_work_queue_check")
    def get(self, request, id, **kwargs):
        deployment = selectors.deployment_get(workspace=self.workspace, deployment_id=path_uuid(id))
        if deployment is None:
            raise services.deployment_not_found()
        queue = deployment.work_queue
        return Response([render_queue(queue)] if queue is not None else [])


class DeploymentSchedulesView(WorkspaceAPIView):
    required_permissions = {"GET": READ, "POST": WRITE}

    @extend_schema(responses=schemas.DeploymentSchedule(many=True), operation_id="deployment_schedules_read")
    def get(self, request, id, **kwargs):
        deployment = selectors.deployment_get(workspace=self.workspace, deployment_id=path_uuid(id))
        if deployment is None:
            raise services.deployment_not_found()
        return Response(schemas.DeploymentSchedule(
            [schemas.schedule_data(s) for s in deployment.schedules.all()], many=True).data)

    @extend_schema(request=schemas.DeploymentScheduleCreate(many=True),
                   responses={201: schemas.DeploymentSchedule(many=True)}, operation_id="deployment_schedules_create")
    def post(self, request, id, **kwargs):
        deployment_id = path_uuid(id)
        if not isinstance(request.data, list):
            raise Invalid("Expected a list of schedules.", loc=["body"])
        serializer = schemas.DeploymentScheduleCreate(data=request.data, many=True)
        serializer.is_valid(raise_exception=True)
        created = services.deployment_schedules_create(workspace=self.workspace, deployment_id=deployment_id,
                                                       schedules=list(serializer.validated_data), actor=request.user)
        return Response(schemas.DeploymentSchedule([schemas.schedule_data(s) for s in created], many=True).data,
                        status=201)


class DeploymentScheduleDetailView(WorkspaceAPIView):
    required_permissions = {"PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(request=schemas.DeploymentScheduleUpdate, responses={204: None},
                   operation_id="deployment_schedule_update")
    def patch(self, request, id, schedule_id, **kwargs):
        changes = parse_body(schemas.DeploymentScheduleUpdate, request.data)
        services.deployment_schedule_update(workspace=self.workspace, deployment_id=path_uuid(id),
                                            schedule_id=path_uuid(schedule_id, "schedule_id"),
                                            changes=dict(changes), actor=request.user)
        return Response(status=204)

    @extend_schema(responses={204: None}, operation_id="deployment_schedule_delete")
    def delete(self, request, id, schedule_id, **kwargs):
        services.deployment_schedule_delete(workspace=self.workspace, deployment_id=path_uuid(id),
                                            schedule_id=path_uuid(schedule_id, "schedule_id"), actor=request.user)
        return Response(status=204)


urlpatterns = [
    path("deployments/", DeploymentCreateView.as_view(), name="deployments"),
    path("deployments/filter", DeploymentFilterView.as_view(), name="deployments-filter"),
    path("deployments/count", DeploymentCountView.as_view(), name="deployments-count"),
    path("deployments/get_scheduled_flow_runs", DeploymentScheduledRunsView.as_view(),
         name="deployments-scheduled-runs"),
    path("deployments/name/<str:flow_name>/<str:deployment_name>", DeploymentByNameView.as_view(),
         name="deployment-by-name"),
    path("deployments/<str:id>", DeploymentDetailView.as_view(), name="deployment"),
    path("deployments/<str:id>/schedule", DeploymentScheduleRunsView.as_view(), name="deployment-schedule"),
    path("deployments/<str:id>/set_schedule_active", DeploymentResumeView.as_view(),
         name="deployment-set-schedule-active"),
    path("deployments/<str:id>/resume_deployment", DeploymentResumeView.as_view(), name="deployment-resume"),
    path("deployments/<str:id>/set_schedule_inactive", DeploymentPauseView.as_view(),
         name="deployment-set-schedule-inactive"),
    path("deployments/<str:id>/pause_deployment", DeploymentPauseView.as_view(), name="deployment-pause"),
    path("deployments/<str:id>/create_flow_run", DeploymentCreateFlowRunView.as_view(),
         name="deployment-create-flow-run"),
    path("deployments/<str:id>/work_queue_check", DeploymentWorkQueueCheckView.as_view(),
         name="deployment-work-queue-check"),
    path("deployments/<str:id>/schedules", DeploymentSchedulesView.as_view(), name="deployment-schedules"),
    path("deployments/<str:id>/schedules/<str:schedule_id>", DeploymentScheduleDetailView.as_view(),
         name="deployment-schedule-detail"),
]
