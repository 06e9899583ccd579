"""Flows and deployments in the browser: lists and details, with a deployment's schedules, upcoming and
recent runs."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from apps.engine.selectors import ui
from apps.web.pages import WorkspacePageView


class FlowListView(WorkspacePageView):
    required_permissions = {"GET": "flows:read"}

    def get(self, request, org, ws):
        return render(request, "web/flows/list.html", {
            "organization": request.organization, "workspace": request.workspace,
            "flows": list(ui.flow_list(workspace=request.workspace)),
        })


class FlowDetailView(WorkspacePageView):
    required_permissions = {"GET": "flows:read"}

    def get(self, request, org, ws, flow_id):
        workspace, access = request.workspace, request.access
        flow = ui.flow_get(workspace=workspace, flow_id=flow_id)
        if flow is None:
            raise Http404
        return render(request, "web/flows/detail.html", {
            "organization": request.organization, "workspace": workspace, "flow": flow,
            "deployments": ui.deployment_list(workspace=workspace, flow_id=flow.pk)
            if access.has("deployments:read") else None,
            "runs": ui.flow_run_recent(workspace=workspace, flow=flow) if access.has("flow_runs:read") else None,
        })


class DeploymentListView(WorkspacePageView):
    required_permissions = {"GET": "deployments:read"}

    def get(self, request, org, ws):
        return render(request, "web/deployments/list.html", {
            "organization": request.organization, "workspace": request.workspace,
            "deployments": ui.deployment_list(workspace=request.workspace),
        })


def deployment_context(request, deployment) -> dict:
    workspace, access = request.workspace, request.access
    can_read_runs = access.has("flow_runs:read")
    return {
        "organization": request.organization, "workspace": workspace, "deployment": deployment,
        "upcoming": ui.deployment_upcoming_runs(workspace=workspace, deployment=deployment) if can_read_runs else None,
        "runs": ui.flow_run_recent(workspace=workspace, deployment=deployment) if can_read_runs else None,
        "can_run": access.has("deployments:run"),
        "can_write": access.has("deployments:write"),
    }


class DeploymentDetailView(WorkspacePageView):
    required_permissions = {"GET": "deployments:read"}

    def get(self, request, org, ws, deployment_id):
        deployment = ui.deployment_get(workspace=request.workspace, deployment_id=deployment_id)
        if deployment is None:
            raise Http404
        return render(request, "web/deployments/detail.html", deployment_context(request, deployment))
