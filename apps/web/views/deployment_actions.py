"""Acting on a deployment from its page: run it with parameters from a form generated from its parameter
schema, and pause or resume its schedules, through the deployments services (the same checks as the API)."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render

from apps.core.errors import DomainError
from apps.engine.selectors import ui
from apps.engine.services.deployments import (
    deployment_create_flow_run,
    deployment_schedule_update,
    deployment_set_paused,
)
from apps.web.pages import WorkspacePageView
from apps.web.schema_forms import build_schema_form, form_error_at, schema_form_values
from apps.web.views.flows import deployment_context

RUN, WRITE = "deployments:run", "deployments:write"


class RunOptionsForm(forms.Form):
    start_at = forms.DateTimeField(label="Start at (UTC)", required=False,
                                   widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                   help_text="Leave empty to start now.")

    def clean_start_at(self):
        value = self.cleaned_data["start_at"]
        return value.replace(tzinfo=datetime.UTC) if value else None


def parameter_form(deployment, data=None):
    schema = deployment.parameter_openapi_schema or {"properties": {}}
    return build_schema_form(schema, data=data, initial=deployment.parameters or {})


def _deployment_or_404(request, deployment_id):
    deployment = ui.deployment_get(workspace=request.workspace, deployment_id=deployment_id)
    if deployment is None:
        raise Http404
    return deployment


class DeploymentRunView(WorkspacePageView):
    required_permissions = {"GET": RUN, "POST": RUN}

    def _render(self, request, deployment, form, options, error=None, status=200):
        return render(request, "web/deployments/run.html", {
            "organization": request.organization, "workspace": request.workspace, "deployment": deployment,
            "form": form, "options": options, "error": error}, status=status)

    def get(self, request, org, ws, deployment_id):
        deployment = _deployment_or_404(request, deployment_id)
        return self._render(request, deployment, parameter_form(deployment), RunOptionsForm())

    def post(self, request, org, ws, deployment_id):
        deployment = _deployment_or_404(request, deployment_id)
        form, options = parameter_form(deployment, data=request.POST), RunOptionsForm(request.POST)
        if not (form.is_valid() and options.is_valid()):
            return self._render(request, deployment, form, options, status=400)
        data = {"parameters": schema_form_values(form)}
        if options.cleaned_data["start_at"]:
            data["state"] = {"type": "SCHEDULED", "state_details": {
                "scheduled_time": options.cleaned_data["start_at"].isoformat()}}
        try:
            run, _ = deployment_create_flow_run(workspace=request.workspace, deployment_id=deployment.pk, data=data,
                                                actor=request.user,
                                                created_by={"id": str(request.user.pk), "type": "USER",
                                                            "display_value": request.user.email},
                                                # Always against the schema here, enforced or not (docs/ui.md).
                                                check_parameters=True)
        except DomainError as error:
            located = [e for e in getattr(error, "errors", []) if e["loc"][:2] == ["body", "parameters"]]
            for failure in located:  # each parameter that failed the schema, on its field
                form_error_at(form, failure["loc"][2:], failure["msg"])
            return self._render(request, deployment, form, options, error=None if located else error,
                                status=error.status_code)
        queue = deployment.work_queue_name or "its work queue"
        messages.success(request, f"Run {run.name} created; a worker polling {queue} picks it up.")
        return redirect("web:flow-run", org=org, ws=ws, run_id=run.pk)


class DeploymentPauseView(WorkspacePageView):
    """Pause or resume the deployment's schedules (`paused` = "1" or "0")."""

    required_permissions = {"POST": WRITE}

    def post(self, request, org, ws, deployment_id):
        deployment = _deployment_or_404(request, deployment_id)
        paused = request.POST.get("paused") == "1"
        try:
            deployment_set_paused(workspace=request.workspace, deployment_id=deployment.pk, paused=paused,
                                  actor=request.user)
        except DomainError as error:
            return render(request, "web/deployments/detail.html",
                          {**deployment_context(request, deployment), "error": error}, status=error.status_code)
        messages.success(request, "Schedules paused: no new runs are scheduled." if paused
                         else "Schedules resumed: the scheduler adds the next runs shortly.")
        return redirect("web:deployment", org=org, ws=ws, deployment_id=deployment.pk)


class DeploymentScheduleToggleView(WorkspacePageView):
    """Turn one schedule of a deployment on or off (`active` = "1" or "0")."""

    required_permissions = {"POST": WRITE}

    def post(self, request, org, ws, deployment_id, schedule_id):
        deployment = _deployment_or_404(request, deployment_id)
        active = request.POST.get("active") == "1"
        try:
            deployment_schedule_update(workspace=request.workspace, deployment_id=deployment.pk,
                                       schedule_id=schedule_id, changes={"active": active}, actor=request.user)
        except DomainError as error:
            if error.status_code == 404:
                raise Http404 from None
            return render(request, "web/deployments/detail.html",
                          {**deployment_context(request, deployment), "error": error}, status=error.status_code)
        messages.success(request, "Schedule turned on." if active else "Schedule turned off.")
        return redirect("web:deployment", org=org, ws=ws, deployment_id=deployment.pk)
