"""Flow runs in the browser: the filtered, paginated list; one run's page (state history with the
orchestration decisions, task runs on a timeline, subflows, parameters, results); its logs, followed live
by polling while the run is not finished."""

from __future__ import annotations

import datetime
import uuid
from urllib.parse import urlencode

from django import forms
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from apps.engine.models import Deployment, Flow, StateType
from apps.engine.models.runs import TERMINAL_STATE_TYPES
from apps.engine.selectors import ui
from apps.web.pages import WorkspacePageView
from apps.web.views import run_actions

PAGE_SIZE = 25
LOG_PAGE = 200
CHOICE_LIMIT = 500  # flows and deployments offered in the filter's lists


def _split_tags(value: str) -> list[str]:
    return [t.strip() for t in value.replace(",", " ").split() if t.strip()]


class FlowRunFilterForm(forms.Form):
    state = forms.MultipleChoiceField(label="State", required=False, choices=StateType.choices,
                                      widget=forms.CheckboxSelectMultiple)
    flow = forms.TypedMultipleChoiceField(label="Flow", required=False, coerce=uuid.UUID)
    deployment = forms.TypedMultipleChoiceField(label="Deployment", required=False, coerce=uuid.UUID)
    tags = forms.CharField(label="Tags", required=False, max_length=500,
                           help_text="Runs having all of these tags, separated by spaces or commas.")
    since = forms.DateTimeField(label="Expected start from (UTC)", required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    until = forms.DateTimeField(label="Expected start before (UTC)", required=False,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    page = forms.IntegerField(required=False, min_value=1, max_value=10_000, widget=forms.HiddenInput)

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flow"].choices = [
            (str(pk), name) for pk, name in
            Flow.objects.for_workspace(workspace).order_by("name").values_list("pk", "name")[:CHOICE_LIMIT]
        ]
        self.fields["deployment"].choices = [
            (str(pk), f"{flow}/{name}") for pk, name, flow in
            Deployment.objects.for_workspace(workspace).order_by("flow__name", "name")
            .values_list("pk", "name", "flow__name")[:CHOICE_LIMIT]
        ]

    def clean(self):
        data = super().clean()
        for key in ("since", "until"):
            if data.get(key) is not None:
                # The form's times are UTC, whatever the server's default time zone.
                data[key] = data[key].replace(tzinfo=datetime.UTC)
        if data.get("since") and data.get("until") and data["since"] >= data["until"]:
            raise forms.ValidationError("The start of the time range must be before its end.")
        return data

    def run_filter(self) -> ui.FlowRunFilter:
        data = self.cleaned_data
        return ui.FlowRunFilter(states=data.get("state") or [], flow_ids=data.get("flow") or [],
                                deployment_ids=data.get("deployment") or [], tags=_split_tags(data.get("tags") or ""),
                                since=data.get("since"), until=data.get("until"))


class FlowRunListView(WorkspacePageView):
    required_permissions = {"GET": "flow_runs:read"}

    def get(self, request, org, ws):
        workspace = request.workspace
        form = FlowRunFilterForm(request.GET or None, workspace=workspace)
        context = {"organization": request.organization, "workspace": workspace, "form": form,
                   "runs": [], "next_url": None, "previous_url": None, "page": 1, "filtered": False}
        if form.is_bound and not form.is_valid():
            return render(request, "web/runs/list.html", context, status=400)
        run_filter = form.run_filter() if form.is_bound else ui.FlowRunFilter()
        page = (form.cleaned_data.get("page") if form.is_bound else None) or 1
        runs, has_next = ui.flow_run_page(workspace=workspace, run_filter=run_filter,
                                          offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        params = [(k, v) for k in request.GET for v in request.GET.getlist(k) if k != "page" and v]

        def page_url(n: int) -> str:
            return "?" + urlencode([*params, ("page", n)])

        context.update(runs=runs, page=page, filtered=bool(params),
                       next_url=page_url(page + 1) if has_next else None,
                       previous_url=page_url(page - 1) if page > 1 else None)
        return render(request, "web/runs/list.html", context)


def _run_or_404(request, run_id):
    run = ui.flow_run_get(workspace=request.workspace, flow_run_id=run_id)
    if run is None:
        raise Http404
    return run


def _timeline(task_runs, run) -> list[dict]:
    """Bars for the task-run timeline: offset and width as percentages of the flow run's span."""
    now = timezone.now()
    starts = [t.start_time for t in task_runs if t.start_time]
    begin = min([run.start_time, *starts] if run.start_time else starts, default=None)
    ends = [t.end_time or now for t in task_runs if t.start_time]
    end = max([run.end_time or now, *ends] if run.start_time else ends, default=None)
    span = (end - begin).total_seconds() if begin and end and end > begin else 0
    bars = []
    for task in task_runs:
        if not task.start_time or not span:
            bars.append({"task": task, "left": 0, "width": 0})
            continue
        left = (task.start_time - begin).total_seconds() / span * 100
        width = max(((task.end_time or now) - task.start_time).total_seconds() / span * 100, 0.5)
        bars.append({"task": task, "left": round(left, 2), "width": round(min(width, 100 - left), 2)})
    return bars


class FlowRunDetailView(WorkspacePageView):
    required_permissions = {"GET": "flow_runs:read"}

    def get(self, request, org, ws, run_id):
        workspace, access = request.workspace, request.access
        run = _run_or_404(request, run_id)
        task_runs = ui.task_run_list_for_flow_run(workspace=workspace, flow_run=run) \
            if access.has("task_runs:read") else []
        logs = ui.flow_run_log_tail(workspace=workspace, flow_run_id=run.pk, limit=LOG_PAGE) \
            if access.has("logs:read") else []
        context = {
            "organization": request.organization, "workspace": workspace, "run": run,
            "transitions": ui.flow_run_transitions(workspace=workspace, flow_run=run),
            "timeline": _timeline(task_runs, run), "can_read_tasks": access.has("task_runs:read"),
            "subflows": ui.subflow_run_list(workspace=workspace, flow_run=run),
            "logs": logs, "can_read_logs": access.has("logs:read"),
            "log_poll": _log_poll(run, logs),
            "is_terminal": run.state_type in TERMINAL_STATE_TYPES,
            "result": (run.state.data if run.state_id and run.state else None),
            "artifacts": _run_artifacts(workspace, run) if access.has("artifacts:read") else None,
            "can_cancel": run_actions.can_cancel(run, access), "can_retry": run_actions.can_retry(run, access),
        }
        return render(request, "web/runs/detail.html", context)


def _run_artifacts(workspace, run) -> list[dict]:
    from apps.engine.selectors.artifacts import artifact_list
    from apps.web.views.artifacts import rendered

    found = artifact_list(workspace=workspace, artifacts={"flow_run_id": {"any_": [run.pk]}}, sort="CREATED_DESC")
    return [{"artifact": a, "content": rendered(a)} for a in found[:20]]


def _log_poll(run, logs) -> str | None:
    """The query string of the next poll for new log lines, or None once the run has finished."""
    if run.state_type in TERMINAL_STATE_TYPES:
        return None
    if not logs:
        return ""
    last = logs[-1]
    return urlencode({"after": last.created.isoformat(), "after_id": str(last.pk)})


class FlowRunLogsView(WorkspacePageView):
    """New log lines after a cursor, as table rows for htmx to append; the response also replaces the
    poller (out of band) with one carrying the new cursor, or removes it once the run has finished."""

    required_permissions = {"GET": "logs:read"}

    def get(self, request, org, ws, run_id):
        run = _run_or_404(request, run_id)
        cursor = None
        if request.GET.get("after"):
            try:
                cursor = ui.LogCursor(created=datetime.datetime.fromisoformat(request.GET["after"]),
                                      id=uuid.UUID(request.GET.get("after_id", "")))
            except ValueError:
                return render(request, "web/runs/log_error.html", status=400)
        logs = ui.flow_run_log_after(workspace=request.workspace, flow_run_id=run.pk, cursor=cursor, limit=LOG_PAGE)
        if logs:
            poll = _log_poll(run, logs)
        elif run.state_type in TERMINAL_STATE_TYPES:
            poll = None
        else:
            poll = request.GET.urlencode()
        # A full page of lines means more are waiting: poll again at once rather than after the interval.
        return render(request, "web/runs/log_rows.html", {
            "organization": request.organization, "workspace": request.workspace, "run": run,
            "logs": logs, "log_poll": poll, "more": len(logs) == LOG_PAGE, "oob": True,
        })
