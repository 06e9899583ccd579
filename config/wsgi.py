"""WSGI entry point (HTTP only; the events websocket needs the ASGI entry point)."""

import os

from config.handler import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()  # Django's, with config/handler.py's Handler
