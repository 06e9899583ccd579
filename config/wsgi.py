"""WSGI entry point (HTTP only; the events websocket needs the ASGI entry point)."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django.setup(set_prefix=False)  # as get_wsgi_application

from config.handler import Handler  # noqa: E402

application = Handler()
