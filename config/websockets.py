"""Websocket routes (the engine's events stream registers here)."""

from django.urls import path

from apps.engine.api.events_stream import EventsInConsumer

websocket_urlpatterns: list = [
    path("api/accounts/<str:account_id>/workspaces/<str:workspace_id>/events/in", EventsInConsumer.as_asgi()),
]
