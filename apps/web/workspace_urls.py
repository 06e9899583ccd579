"""Routes of a workspace's orchestration pages (/{org}/{ws}/runs/, flows/, deployments/, …), mounted after
the fixed routes by apps/web/urls.py."""

from django.urls import path

import apps.web.routing  # noqa: F401  (registers the "org" and "handle" path converters)
from apps.web.views import artifacts, blocks, deployment_actions, flows, pools, run_actions, runs, variables

_WS = "<org:org>/<handle:ws>/"
urlpatterns = [
    path(_WS + "runs/", runs.FlowRunListView.as_view(), name="flow-runs"),
    path(_WS + "runs/<uuid:run_id>/", runs.FlowRunDetailView.as_view(), name="flow-run"),
    path(_WS + "runs/<uuid:run_id>/logs", runs.FlowRunLogsView.as_view(), name="flow-run-logs"),
    path(_WS + "runs/<uuid:run_id>/cancel", run_actions.FlowRunCancelView.as_view(), name="flow-run-cancel"),
    path(_WS + "runs/<uuid:run_id>/retry", run_actions.FlowRunRetryView.as_view(), name="flow-run-retry"),
    path(_WS + "flows/", flows.FlowListView.as_view(), name="flows"),
    path(_WS + "flows/<uuid:flow_id>/", flows.FlowDetailView.as_view(), name="flow"),
    path(_WS + "deployments/", flows.DeploymentListView.as_view(), name="deployments"),
    path(_WS + "deployments/<uuid:deployment_id>/", flows.DeploymentDetailView.as_view(), name="deployment"),
    path(_WS + "deployments/<uuid:deployment_id>/run", deployment_actions.DeploymentRunView.as_view(),
         name="deployment-run"),
    path(_WS + "deployments/<uuid:deployment_id>/pause", deployment_actions.DeploymentPauseView.as_view(),
         name="deployment-pause"),
    path(_WS + "deployments/<uuid:deployment_id>/schedules/<uuid:schedule_id>/active",
         deployment_actions.DeploymentScheduleToggleView.as_view(), name="deployment-schedule-toggle"),
    path(_WS + "work-pools/", pools.WorkPoolListView.as_view(), name="work-pools"),
    path(_WS + "work-pools/<uuid:pool_id>/", pools.WorkPoolDetailView.as_view(), name="work-pool"),
    path(_WS + "concurrency/", pools.ConcurrencyLimitListView.as_view(), name="concurrency-limits"),
    path(_WS + "blocks/", blocks.BlockListView.as_view(), name="blocks"),
    path(_WS + "blocks/new/", blocks.BlockCatalogView.as_view(), name="block-catalog"),
    path(_WS + "blocks/new/<slug:slug>", blocks.BlockCreateView.as_view(), name="block-create"),
    path(_WS + "blocks/<uuid:block_id>/", blocks.BlockDetailView.as_view(), name="block"),
    path(_WS + "blocks/<uuid:block_id>/reveal", blocks.BlockRevealView.as_view(), name="block-reveal"),
    path(_WS + "blocks/<uuid:block_id>/edit", blocks.BlockEditView.as_view(), name="block-edit"),
    path(_WS + "blocks/<uuid:block_id>/delete", blocks.BlockDeleteView.as_view(), name="block-delete"),
    path(_WS + "variables/", variables.VariableListView.as_view(), name="variables"),
    path(_WS + "variables/<uuid:variable_id>/edit", variables.VariableEditView.as_view(), name="variable-edit"),
    path(_WS + "variables/<uuid:variable_id>/delete", variables.VariableDeleteView.as_view(),
         name="variable-delete"),
    path(_WS + "artifacts/", artifacts.ArtifactListView.as_view(), name="artifacts"),
    path(_WS + "artifacts/<uuid:artifact_id>/", artifacts.ArtifactDetailView.as_view(), name="artifact"),
]
