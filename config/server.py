"""The gunicorn workers (deploy/gunicorn.conf.py, PRAETOR_WEB_SERVER): `ThreadsWorker`, request threads sharing one
epoll (config/http_server/), and `Worker`, uvicorn's, with its trusted-proxy test done once per address.

`ThreadsWorker` (the default): gunicorn forks it, it builds config/http_server/'s Server on gunicorn's listening
sockets with the WSGI application and the websocket application config.asgi routes to, starts the threads (after
the fork: threads do not survive one), and its main thread only beats gunicorn's heartbeat, watches for a new
parent and for max_requests, and on SIGTERM or SIGQUIT (gunicorn's graceful and quick stops; uvicorn's worker takes
both as graceful, and so does this one) stops the server within graceful_timeout.

`Worker` (PRAETOR_WEB_SERVER=uvicorn):

Every HTTP request passes through the worker's one event loop thread (uvicorn's httptools protocol, its
proxy-headers middleware, config/asgi.py, the hand-off of config/http_threads.py) while Django runs on the
request threads. uvicorn's ProxyHeadersMiddleware tests the peer's address against `forwarded_allow_ips`
(PRAETOR_FORWARDED_ALLOW_IPS) on every request by parsing it with `ipaddress`: about 20 Python function calls,
a tenth of what the loop runs per request. The answer depends on the address string alone, so
`_TrustedHostsMemo` keeps it per string (bounded); what the middleware then does with X-Forwarded-For and
X-Forwarded-Proto is uvicorn's own code, unchanged, and the entries of a trusted peer's X-Forwarded-For go
through the same memo. Everything else is uvicorn's: its "auto" event loop and HTTP protocol (uvloop and
httptools, pinned), its middleware, its settings from gunicorn's. docs/performance.md, "Sixth step: the event
loop"; tests/core/test_server.py holds the outcomes to uvicorn's for trusted and untrusted peers.
"""

from __future__ import annotations

import logging
import os
import signal
import time

from gunicorn.workers.base import Worker as GunicornWorker
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware, _TrustedHosts
from uvicorn_worker import UvicornWorker

# Distinct addresses remembered (peers, and X-Forwarded-For entries of trusted peers, which are the clients' to
# choose); past this the memo starts again, so a flood of addresses costs what every request cost before.
_MEMO_SIZE = 4096


class _TrustedHostsMemo(_TrustedHosts):
    """uvicorn's trusted hosts, built from the same setting; its answer for an address string computed once."""

    def __init__(self, trusted_hosts: list[str] | str) -> None:
        super().__init__(trusted_hosts)
        self._known: dict[str | None, bool] = {}

    def __contains__(self, host: str | None) -> bool:
        known = self._known.get(host)
        if known is None:
            known = super().__contains__(host)
            if len(self._known) >= _MEMO_SIZE:
                self._known.clear()
            self._known[host] = known
        return known


def remember_trusted_hosts(app, forwarded_allow_ips: list[str] | str):
    """The application uvicorn loaded, its proxy-headers middleware (when on) given a memo built from the same
    setting uvicorn built its trusted hosts from."""
    if isinstance(app, ProxyHeadersMiddleware):
        app.trusted_hosts = _TrustedHostsMemo(forwarded_allow_ips)
    return app


class Worker(UvicornWorker):
    """uvicorn's gunicorn worker, its proxy-headers middleware given `_TrustedHostsMemo`."""

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        self.config.load()  # uvicorn's own loading (the server skips it when it is done)
        self.config.loaded_app = remember_trusted_hosts(self.config.loaded_app, self.config.forwarded_allow_ips)
        await super()._serve()


def split_application(application):
    """(WSGI application, websocket ASGI application) of config.asgi's router: the WSGI application its HTTP
    scopes run on threads (config/http_threads.py ThreadPoolHttp) and the application of its websocket scopes."""
    mapping = getattr(application, "application_mapping", None)
    if mapping is None or not hasattr(mapping.get("http"), "wsgi_application"):
        raise RuntimeError("ThreadsWorker serves config.asgi:application (HTTP on ThreadPoolHttp + websockets)")
    return mapping["http"].wsgi_application, mapping.get("websocket")


class ThreadsWorker(GunicornWorker):
    """gunicorn's worker running config/http_server/'s Server: HTTP on request threads sharing one epoll, the
    events websocket on one asyncio thread with uvicorn's websocket protocol."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.cfg.is_ssl:
            raise RuntimeError("ThreadsWorker serves plain HTTP (TLS ends at the proxy): PRAETOR_WEB_SERVER=uvicorn")
        for name, log in (("praetor.server", self.log.error_log), ("uvicorn.error", self.log.error_log),
                          ("praetor.server.access", self.log.access_log)):
            logger = logging.getLogger(name)
            logger.handlers = log.handlers
            logger.setLevel(log.level)
            logger.propagate = False

    def init_signals(self) -> None:
        super().init_signals()
        # gunicorn's arbiter sends SIGQUIT for a quick stop and SIGINT on Ctrl-C; uvicorn's worker stops gracefully
        # on both, and so does this one (graceful_timeout still bounds it)
        signal.signal(signal.SIGQUIT, self.handle_exit)
        signal.signal(signal.SIGINT, self.handle_exit)

    def run(self) -> None:
        from django.conf import settings

        from config.http_server import Server

        wsgi, websocket = split_application(self.wsgi)
        server = Server([getattr(s, "sock", s) for s in self.sockets], wsgi, websocket,
                        threads=settings.PRAETOR_WEB_THREADS, poll_threads=settings.PRAETOR_WEB_POLL_THREADS,
                        keepalive=self.cfg.keepalive, max_connections=self.cfg.worker_connections,
                        forwarded_allow_ips=self.cfg.forwarded_allow_ips, send_timeout=self.timeout,
                        access_log=logging.getLogger("praetor.server.access") if self.cfg.accesslog else None)
        server.start()
        try:
            while self.alive:
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
                if server.served >= self.max_requests:
                    self.log.info("Autorestarting worker after current request.")
                    break
                time.sleep(1.0)
        finally:
            self.notify()
            server.stop(self.cfg.graceful_timeout)
