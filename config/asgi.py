"""ASGI entry point: HTTP runs Django's WSGI handler (config/handler.py's Handler) on a pool of threads
(config/http_threads.py: one reusable database connection per thread); websockets go to the routes the apps
declare (Channels).

gunicorn's default worker (config/server.py ThreadsWorker) takes the two applications out of this router and
serves HTTP with the WSGI handler on its own threads, websockets with `websocket_application`."""

import os

from config.handler import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
# Django's WSGIHandler, its work around the middleware chain cheaper (config/handler.py)
django_wsgi_app = get_wsgi_application()

# The URLconf imported here, in gunicorn's master (preload_app), not by each worker's first request: every fork
# (start, and each max_requests recycle) otherwise spent 430-630 ms of CPU importing every view module on a
# request (docs/performance.md, "the real client's request mix"). It opens no connection and starts no thread.
from django.urls import get_resolver  # noqa: E402

_url_patterns = get_resolver().url_patterns

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
