"""ASGI entry point: HTTP runs Django's WSGI handler on a pool of threads (config/http_threads.py: one
reusable database connection per thread); websockets go to the routes the apps declare (Channels).

gunicorn's default worker (config/server.py ThreadsWorker) takes the two applications out of this router and
serves HTTP with the WSGI handler on its own threads, websockets with `websocket_application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django_wsgi_app = get_wsgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from config.http_threads import ThreadPoolHttp  # noqa: E402
from config.websockets import websocket_urlpatterns  # noqa: E402

websocket_application = URLRouter(websocket_urlpatterns)
application = ProtocolTypeRouter({
    "http": ThreadPoolHttp(django_wsgi_app, threads=settings.PRAETOR_WEB_THREADS,
                           poll_threads=settings.PRAETOR_WEB_POLL_THREADS),
    "websocket": websocket_application,
})
