"""A workspace's home page: the dashboard (runs by state over the last day or week, runs that need a look,
work pool health) and how to point the prefect client at the workspace."""

from __future__ import annotations

import datetime

from django.shortcuts import render
from django.utils import timezone

from apps.engine.selectors import ui
from apps.web.pages import MEMBER, WorkspacePageView

WINDOWS = {"day": (datetime.timedelta(days=1), "hour"), "week": (datetime.timedelta(days=7), "day")}


class WorkspaceHomeView(WorkspacePageView):
    required_permissions = {"GET": MEMBER}

    def get(self, request, org, ws):
        workspace, access = request.workspace, request.access
        window = request.GET.get("window") if request.GET.get("window") in WINDOWS else "day"
        span, bucket = WINDOWS[window]
        now = timezone.now()
        context = {
            "workspace": workspace,
            "organization": request.organization,
            # The address the browser used is the one the user's machine can reach us at.
            "cloud_api_url": request.build_absolute_uri("/api").rstrip("/"),
            "workspace_slug": f"{request.organization.handle}/{workspace.handle}",
            "window": window,
            "can_read_runs": access.has("flow_runs:read"),
            "can_read_pools": access.has("work_pools:read"),
        }
        if context["can_read_runs"]:
            histogram = ui.flow_run_histogram(workspace=workspace, since=now - span, until=now, bucket=bucket)
            label = "%H:%M" if bucket == "hour" else "%a %d %b"
            context["histogram"] = histogram
            context["chart"] = {
                "labels": [b.strftime(label) for b in histogram.buckets],
                "series": [{"state": s, "counts": c} for s, c in histogram.series.items()],
            }
            context["chart_rows"] = [
                (label, [counts[i] for counts in histogram.series.values()])
                for i, label in enumerate(context["chart"]["labels"])
            ]
            context["attention"] = ui.flow_run_attention_list(workspace=workspace, since=now - span, now=now)
        if context["can_read_pools"]:
            context["pools"] = ui.work_pool_health_list(workspace=workspace, now=now)
        return render(request, "web/workspace.html", context)
