"""The gunicorn worker (deploy/gunicorn.conf.py): uvicorn's, with its trusted-proxy test done once per address.

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
