from django.urls import path

from apps.identity.api import views

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("me/workspaces", views.MeWorkspacesView.as_view(), name="me-workspaces"),
    path("me/workspaces/", views.MeWorkspacesView.as_view()),
]
