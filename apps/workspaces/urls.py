"""Workspace management routes (Cloud's), mounted under /api/. The engine of one workspace lives below
accounts/{a}/workspaces/{w}/ (apps.engine.urls); these never end in a slash after the workspace id."""

from django.urls import path

from apps.core.api.routes import both_slashes
from apps.workspaces.api import views

_A = "accounts/<str:account_id>/"

urlpatterns = [
    *both_slashes(_A + "workspaces/", views.WorkspacesView.as_view(), "workspaces"),
    path(_A + "workspaces/filter", views.WorkspacesFilterView.as_view(), name="workspaces-filter"),
    path(_A + "workspaces/<str:workspace_id>", views.WorkspaceDetailView.as_view(), name="workspace-detail"),
]
