"""Audit routes, mounted under /api/."""

from django.urls import path

from apps.audit.api import views

urlpatterns = [
    path("accounts/<str:account_id>/audit_events", views.AuditEventsView.as_view(), name="audit-events"),
    path("accounts/<str:account_id>/audit_events/", views.AuditEventsView.as_view()),
]
