"""Work pools (with their queues and workers) and concurrency limits in the browser."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from apps.engine.selectors import ui
from apps.web.pages import WorkspacePageView


class WorkPoolListView(WorkspacePageView):
    required_permissions = {"GET": "work_pools:read"}

    def get(self, request, org, ws):
        return render(request, "web/pools/list.html", {
            "organization": request.organization, "workspace": request.workspace,
            "pools": ui.work_pool_health_list(workspace=request.workspace, now=timezone.now()),
        })


class WorkPoolDetailView(WorkspacePageView):
    required_permissions = {"GET": "work_pools:read"}

    def get(self, request, org, ws, pool_id):
        workspace, now = request.workspace, timezone.now()
        pool = ui.work_pool_get(workspace=workspace, work_pool_id=pool_id)
        if pool is None:
            raise Http404
        workers = ui.worker_list(workspace=workspace, work_pool=pool)
        return render(request, "web/pools/detail.html", {
            "organization": request.organization, "workspace": workspace, "pool": pool,
            "queues": ui.work_queue_list(workspace=workspace, work_pool=pool, now=now)
            if request.access.has("work_queues:read") else None,
            "workers": [{"worker": w, "online": ui.worker_is_online(w, now)} for w in workers],
        })


class ConcurrencyLimitListView(WorkspacePageView):
    required_permissions = {"GET": "concurrency_limits:read"}

    def get(self, request, org, ws):
        tag_limits, global_limits = ui.concurrency_limit_list(workspace=request.workspace)
        return render(request, "web/concurrency.html", {
            "organization": request.organization, "workspace": request.workspace,
            "tag_limits": tag_limits, "global_limits": global_limits,
        })
