"""Browser pages. Fixed top-level routes first; /{org}/… and /{org}/{ws}/… last. Organization sub-pages
sit under /{org}/-/ (a handle never starts with "-"), so they can never collide with a workspace handle."""

from django.urls import path

import apps.web.routing  # noqa: F401  (registers the "org" and "handle" path converters)
from apps.web.people_urls import urlpatterns as people_pages
from apps.web.views import access, api_keys, audit, billing, home, organizations, workspaces
from apps.web.workspace_urls import urlpatterns as workspace_pages

app_name = "web"
urlpatterns = [
    path("", home.HomeView.as_view(), name="home"),
    path("onboarding/", home.OnboardingView.as_view(), name="onboarding"),
    path("settings/api-keys/", api_keys.ApiKeyListView.as_view(), name="api-keys"),
    path("settings/api-keys/<uuid:key_id>/revoke", api_keys.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("<org:org>", organizations.OrganizationSlashView.as_view(), name="organization-no-slash"),
    path("<org:org>/", organizations.OrganizationHomeView.as_view(), name="organization"),
    path("<org:org>/-/workspaces/new", organizations.WorkspaceCreateView.as_view(), name="workspace-create"),
    path("<org:org>/-/workspaces/<handle:ws>/delete", organizations.WorkspaceDeleteView.as_view(),
         name="workspace-delete"),
    path("<org:org>/-/audit/", audit.AuditTrailView.as_view(), name="audit-trail"),
    # Billing and usage (engineer "billing-web"): kept together.
    path("<org:org>/-/billing/", billing.BillingView.as_view(), name="billing"),
    path("<org:org>/-/billing/setup", billing.BillingSetupView.as_view(), name="billing-setup"),
    path("<org:org>/-/billing/subscribe", billing.BillingSubscribeView.as_view(), name="billing-subscribe"),
    path("<org:org>/-/billing/cancel", billing.BillingCancelView.as_view(), name="billing-cancel"),
    path("<org:org>/-/billing/resume", billing.BillingResumeView.as_view(), name="billing-resume"),
    path("<org:org>/-/billing/card", billing.BillingCardView.as_view(), name="billing-card"),
    path("<org:org>/-/usage/", billing.UsageView.as_view(), name="usage"),
    path("<org:org>/<handle:ws>/", workspaces.WorkspaceHomeView.as_view(), name="workspace"),
    path("<org:org>/<handle:ws>/access/", access.WorkspaceAccessView.as_view(), name="workspace-access"),
    path("<org:org>/<handle:ws>/access/<uuid:grant_id>/role", access.WorkspaceAccessChangeView.as_view(),
         name="workspace-access-change"),
    path("<org:org>/<handle:ws>/access/<uuid:grant_id>/remove", access.WorkspaceAccessRemoveView.as_view(),
         name="workspace-access-remove"),
]

# A workspace's orchestration pages (issue 8) live in their own module, so branches rebase around them.
urlpatterns += workspace_pages

# An organization's people: members, invitations, teams, service accounts (issue 2), in their own module too.
urlpatterns += people_pages
