"""Browser pages. Fixed top-level routes first; /{org}/… and /{org}/{ws}/… last. Organization sub-pages
sit under /{org}/-/ (a handle never starts with "-"), so they can never collide with a workspace handle."""

from django.urls import path, register_converter

from apps.web.routing import HandleConverter, OrganizationHandleConverter
from apps.web.views import access, api_keys, audit, home, organizations, workspaces

register_converter(OrganizationHandleConverter, "org")
register_converter(HandleConverter, "handle")

app_name = "web"
urlpatterns = [
    path("", home.HomeView.as_view(), name="home"),
    path("onboarding/", home.OnboardingView.as_view(), name="onboarding"),
    path("settings/api-keys/", api_keys.ApiKeyListView.as_view(), name="api-keys"),
    path("settings/api-keys/<uuid:key_id>/revoke", api_keys.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("<org:org>", organizations.OrganizationSlashView.as_view(), name="organization-no-slash"),
    path("<org:org>/", organizations.OrganizationHomeView.as_view(), name="organization"),
    path("<org:org>/-/workspaces/new", organizations.WorkspaceCreateView.as_view(), name="workspace-create"),
    path("<org:org>/-/audit/", audit.AuditTrailView.as_view(), name="audit-trail"),
    path("<org:org>/<handle:ws>/", workspaces.WorkspaceHomeView.as_view(), name="workspace"),
    path("<org:org>/<handle:ws>/access/", access.WorkspaceAccessView.as_view(), name="workspace-access"),
    path("<org:org>/<handle:ws>/access/<uuid:grant_id>/role", access.WorkspaceAccessChangeView.as_view(),
         name="workspace-access-change"),
    path("<org:org>/<handle:ws>/access/<uuid:grant_id>/remove", access.WorkspaceAccessRemoveView.as_view(),
         name="workspace-access-remove"),
]
