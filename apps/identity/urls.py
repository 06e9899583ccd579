from django.urls import path

from apps.core.api.routes import both_slashes
from apps.identity.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/workspaces", views.MeWorkspacesView.as_view(), name="me-workspaces"),
    path("me/workspaces/", views.MeWorkspacesView.as_view()),
    *both_slashes("users/<str:user_id>/api_keys", views.UserApiKeysView.as_view(), "user-api-keys"),
    path("users/<str:user_id>/api_keys/<str:key_id>", views.UserApiKeyDetailView.as_view(), name="user-api-key"),
]
