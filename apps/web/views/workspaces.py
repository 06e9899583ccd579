"""A workspace's home page: what it is and how to point the prefect client at it."""

from __future__ import annotations

from django.shortcuts import render

from apps.web.pages import MEMBER, WorkspacePageView


class WorkspaceHomeView(WorkspacePageView):
    required_permissions = {"GET": MEMBER}

    def get(self, request, org, ws):
        workspace = request.workspace
        return render(request, "web/workspace.html", {
            "workspace": workspace,
            "organization": request.organization,
            # The address the browser used is the one the user's machine can reach us at.
            "cloud_api_url": request.build_absolute_uri("/api").rstrip("/"),
            "workspace_slug": f"{request.organization.handle}/{workspace.handle}",
        })
