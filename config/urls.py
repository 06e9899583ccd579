"""URL root: mounts each app's urls module."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.billing import urls as billing_urls
from apps.core import health

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", health.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # The engine first: its routes carry nearly all API traffic, and resolution tries patterns in order.
    # None of them matches a path the management routes below serve (no shared first segment).
    path("api/accounts/<str:account_id>/workspaces/<str:workspace_id>/", include("apps.engine.urls")),
    path("api/", include("apps.identity.urls")),
    path("api/", include("apps.organizations.urls")),
    path("api/", include("apps.workspaces.urls")),
    path("api/", include("apps.access.urls")),
    path("api/", include("apps.audit.urls")),
    path("api/accounts/<str:account_id>/", include(billing_urls.account_urlpatterns)),
    path("webhooks/", include(billing_urls.webhook_urlpatterns)),
    path("", include("apps.web.urls")),
]
