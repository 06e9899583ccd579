"""Artifacts in the browser: the latest artifact of each key, and one artifact rendered — markdown
sanitised, tables as tables, links as links — with the earlier versions of its key."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.safestring import mark_safe

from apps.engine.selectors.artifacts import artifact_collection_list, artifact_get, artifact_list
from apps.web.pages import WorkspacePageView
from apps.web.rendering import render_markdown, table_rows

READ = "artifacts:read"
PAGE_SIZE = 50


class ArtifactListView(WorkspacePageView):
    required_permissions = {"GET": READ}

    def get(self, request, org, ws):
        try:
            page = max(int(request.GET.get("page", "1")), 1)
        except ValueError:
            page = 1
        rows = list(artifact_collection_list(workspace=request.workspace, artifacts=None, sort="UPDATED_DESC")
                    [(page - 1) * PAGE_SIZE:page * PAGE_SIZE + 1])
        return render(request, "web/artifacts/list.html", {
            "organization": request.organization, "workspace": request.workspace,
            "collections": rows[:PAGE_SIZE], "page": page, "has_next": len(rows) > PAGE_SIZE,
        })


def rendered(artifact) -> dict:
    """What the template shows for an artifact's data: sanitised HTML, a table, or the raw text."""
    data = artifact.data
    if artifact.type in ("markdown", "link") and isinstance(data, str):
        # Sanitised by render_markdown (markdown-it without raw HTML, then nh3's allow-list).
        return {"html": mark_safe(render_markdown(data))}  # noqa: S308
    if artifact.type == "table" and (table := table_rows(data)) is not None:
        return {"columns": table[0], "rows": table[1]}
    return {"text": data}


class ArtifactDetailView(WorkspacePageView):
    required_permissions = {"GET": READ}

    def get(self, request, org, ws, artifact_id):
        artifact = artifact_get(workspace=request.workspace, artifact_id=artifact_id)
        if artifact is None:
            raise Http404
        versions = list(artifact_list(workspace=request.workspace, artifacts={"key": {"any_": [artifact.key]}},
                                      sort="CREATED_DESC")[:20]) if artifact.key else []
        return render(request, "web/artifacts/detail.html", {
            "organization": request.organization, "workspace": request.workspace, "artifact": artifact,
            "content": rendered(artifact), "versions": versions,
        })
