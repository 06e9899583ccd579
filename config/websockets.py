"""Websocket routes (the engine's events stream registers here)."""

websocket_urlpatterns: list = []
