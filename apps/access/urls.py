"""Access routes, mounted under /api/."""

from django.urls import path

from apps.access.api import views

_WS = "accounts/<str:account_id>/workspaces/<str:workspace_id>/"

urlpatterns = [
    path("workspace_scopes", views.WorkspaceScopesView.as_view(), name="workspace-scopes"),
    path("workspace_scopes/", views.WorkspaceScopesView.as_view()),
    path("accounts/<str:account_id>/workspace_roles/", views.WorkspaceRolesView.as_view(), name="workspace-roles"),
    path("accounts/<str:account_id>/workspace_roles/filter", views.WorkspaceRolesFilterView.as_view(),
         name="workspace-roles-filter"),
    path("accounts/<str:account_id>/workspace_roles/<str:role_id>", views.WorkspaceRoleDetailView.as_view(),
         name="workspace-role"),
    path(_WS + "user_access/", views.UserAccessView.as_view(), name="workspace-user-access"),
    path(_WS + "user_access/<str:access_id>", views.UserAccessDetailView.as_view(),
         name="workspace-user-access-detail"),
    path(_WS + "bot_access/", views.BotAccessView.as_view(), name="workspace-bot-access"),
    path(_WS + "bot_access/<str:access_id>", views.BotAccessDetailView.as_view(),
         name="workspace-bot-access-detail"),
    path(_WS + "team_access/", views.TeamAccessView.as_view(), name="workspace-team-access"),
    path(_WS + "team_access/<str:access_id>", views.TeamAccessDetailView.as_view(),
         name="workspace-team-access-detail"),
]
