"""The lean route: the plain case of the hottest endpoints under a workspace (POST `task_runs/`,
`task_runs/{id}/set_state`, `logs/`, `flow_runs/`, `flow_runs/filter`, `flow_runs/{id}/set_state`; GET
`task_runs/{id}`, `flow_runs/{id}`; and POST `flows/`, which the client sends before every flow run;
apps/core/api/lean.py) is answered by the first middleware, without the
rest of Django's middleware chain and URL resolution (about a tenth of such a request's CPU,
docs/performance.md).

It does what the chain below it does for such a request, calling the same code: Django's SecurityMiddleware
and CommonMiddleware checks before (SSL redirect, disallowed user agents, ALLOWED_HOSTS, PREPEND_WWW: any
answer or error there and the request takes the full chain), the audit context around, the rate-limit
middleware's work after (apps/ratelimit/middleware.py: the draw for a request the view did not count, a 401
remembered, the RateLimit-* headers), then CommonMiddleware's, XFrameOptionsMiddleware's and
SecurityMiddleware's response processing, in the chain's order (for a plain 200/201 all of that at once,
`_finish_plain`: the headers those add, found once per secure flag; and the host check remembered per Host
header, `_common_passes`; both until a setting changes, Django's setting_changed signal). The middleware it
passes by are no-ops for such a request: WhiteNoise (no static file under /api/, checked at start), the
browser-only ones (apps/core/middleware.py: they pass by a bearer request anyway), allauth's (it redirects a
404 of its own /accounts/ prefix only).

Anything else takes the full chain unchanged: another path, method (HEAD, OPTIONS...) or media type, a read's
id not in the canonical UUID form, no bearer key, a key that
does not authenticate (the view then lets DRF answer 401), a body that does not parse, an address that failed
authentication lately (the rate-limit middleware decides first), PRAETOR_LEAN_VIEWS off. The path matcher
yields the same view and keyword arguments as Django's resolver (checked against it at the first request:
a mismatch turns the lean route off); `request.resolver_match` stays None (nothing on this path reads it).
If MIDDLEWARE is not exactly the list below, this middleware removes itself (MiddlewareNotUsed).
tests/core/test_lean.py sends each request both ways and compares status, headers and body.
"""

from __future__ import annotations

import re
import threading

from django.conf import settings
from django.core.exceptions import DisallowedHost, MiddlewareNotUsed
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import resolve

from apps.audit.context import request_context_enter, request_context_leave
from apps.core.api.lean import lean_prepare_on, lean_render
from apps.ratelimit.middleware import keyed_plain_headers, keyed_request_needs_no_check, keyed_response_finish

# The chain this middleware stands in front of, and whose effects on a lean request it reproduces.
REPRODUCED_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.audit.context.AuditContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.core.middleware.BrowserCsrfViewMiddleware",
    "apps.core.middleware.BrowserAuthenticationMiddleware",
    "apps.core.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.ratelimit.middleware.RateLimitMiddleware",
]
_PREFIX = "/api/accounts/"
# The headers of a response `lean_render` rendered the plain way: `_finish_plain` may finish it.
_PLAIN_NAMES = frozenset({"content-type", "allow", "vary"})
# config/urls.py mounts the engine at api/accounts/<str:account_id>/workspaces/<str:workspace_id>/ (first
# among the API routes); the engine's routes of the lean views. `str` matches [^/]+, as here. A read's id
# must be a UUID in its canonical form here: `flow_runs/filter`, `flow_runs/count`... are other views that
# Django's resolver finds first, and any other spelling of an id takes the chain (the view answers it alike).
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PATH = re.compile(
    r"/api/accounts/(?P<account_id>[^/]+)/workspaces/(?P<workspace_id>[^/]+)/"
    r"(?:(?P<task_create>task_runs/)|task_runs/(?P<task_state>[^/]+)/set_state|(?P<logs>logs/)"
    r"|(?P<flow_create>flow_runs/)|(?P<flow_filter>flow_runs/filter)|flow_runs/(?P<flow_state>[^/]+)/set_state"
    rf"|task_runs/(?P<task_read>{_UUID})|flow_runs/(?P<flow_read>{_UUID})"
    r"|(?P<flow_upsert>flows/))\Z"
)
# Each route (the name of its group in _PATH): its method, a sample path below the workspace, and whether the
# group is the view's `id` keyword argument.
_ROUTES = {
    "task_create": ("POST", "task_runs/", False),
    "task_state": ("POST", "task_runs/r-n/set_state", True),
    "logs": ("POST", "logs/", False),
    "flow_create": ("POST", "flow_runs/", False),
    "flow_filter": ("POST", "flow_runs/filter", False),
    "flow_state": ("POST", "flow_runs/r-n/set_state", True),
    "task_read": ("GET", "task_runs/0a8b8f8e-64f7-4d6c-9bd1-5d7c1f0e2a3b", True),
    "flow_read": ("GET", "flow_runs/0A8B8F8E-64F7-4D6C-9BD1-5D7C1F0E2A3B", True),
    # The real client's create-or-read of its flow, once per flow run (docs/performance.md, "Eighth step").
    "flow_upsert": ("POST", "flows/", False),
}


def route_kwargs(match) -> tuple[str, dict]:
    """The route a `_PATH` match names and the keyword arguments Django's resolver gives its view."""
    route = match.lastgroup
    kwargs = {"account_id": match["account_id"], "workspace_id": match["workspace_id"]}
    if _ROUTES[route][2]:
        kwargs["id"] = match[route]
    return route, kwargs


# Bumped by any change of a setting (Django's setting_changed signal: override_settings, pytest-django's settings
# fixture), so what LeanRouteMiddleware remembers of settings is read again (Django empties its own caches of
# settings the same way).
_settings_generation = 0


@receiver(setting_changed)
def _settings_changed(**kwargs) -> None:
    global _settings_generation
    _settings_generation += 1


# `LeanRouteMiddleware._secure`: a SECURE_PROXY_SSL_HEADER that is set but not a pair (is_secure() raises: asked).
_ASK = object()
# Request classes whose is_secure() is Django's (HttpRequest.is_secure and .scheme, WSGIRequest._get_scheme):
# the proxy header's value if SECURE_PROXY_SSL_HEADER names one and the request has it, else wsgi.url_scheme.
_DJANGO_SCHEME: dict = {}
_DJANGOS = (HttpRequest.is_secure, HttpRequest.scheme, WSGIRequest._get_scheme)


def _scheme_is_djangos(cls) -> bool:
    known = _DJANGO_SCHEME.get(cls)
    if known is None:
        known = _DJANGO_SCHEME[cls] = all(
            mine is django for mine, django in zip((cls.is_secure, cls.scheme, cls._get_scheme), _DJANGOS, strict=True))
    return known


def _unused(request):
    raise AssertionError("only the middleware's request and response hooks are called")


class LeanRouteMiddleware:
    def __init__(self, get_response):
        if list(settings.MIDDLEWARE) != [f"{__name__}.LeanRouteMiddleware", *REPRODUCED_MIDDLEWARE]:
            raise MiddlewareNotUsed("MIDDLEWARE is not the chain whose effects the lean route reproduces.")
        static = "/" + (settings.STATIC_URL or "").lstrip("/")
        if (settings.STATIC_URL and static.startswith("/api/")) or getattr(settings, "WHITENOISE_ROOT", None):
            raise MiddlewareNotUsed("WhiteNoise may serve files under /api/.")
        self.get_response = get_response
        self.security = SecurityMiddleware(_unused)
        self.common = CommonMiddleware(_unused)
        self.xframe = XFrameOptionsMiddleware(_unused)
        self._views: dict | None = None
        self._views_lock = threading.Lock()
        # The memos below depend on settings, read once per `_settings_generation` (any change of a setting
        # empties them; nothing changes one in a running server): reading a setting is a LazyObject lookup.
        self._generation = -1
        self._usual_host = False  # no DISALLOWED_USER_AGENTS, no PREPEND_WWW: the host check decides alone
        self._forwarded_host = False  # USE_X_FORWARDED_HOST
        self._tails: dict = {}  # secure -> the headers the response processing adds (for X_FRAME_OPTIONS)
        self._lean_on = False  # PRAETOR_LEAN_VIEWS
        self._proxy_header = None  # SECURE_PROXY_SSL_HEADER's header name (None: unset; _ASK: not a pair)
        self._secures: dict = {}  # (the proxy header's value, wsgi.url_scheme) -> its tail (`_tail`)
        self._hosts: dict = {}  # Host header -> whether the host is allowed (for ALLOWED_HOSTS, DEBUG)

    def _lean_views(self) -> dict:
        """The lean dispatch of each route's view as Django's resolver finds it, checked to be a lean view of
        the route's method with the same keyword arguments as the matcher; an empty dict (the lean route
        off) if not."""
        with self._views_lock:
            if self._views is None:
                views = {}
                for name, (method, sample, _) in _ROUTES.items():
                    path = f"{_PREFIX}a-c/workspaces/w-s/{sample}"
                    match, found = _PATH.match(path), resolve(path)
                    if (match is None or match.lastgroup != name or getattr(found.func, "lean_method", None) != method
                            or found.kwargs != route_kwargs(match)[1] or found.args):
                        views = {}
                        break
                    views[name] = (method, found.func.lean_dispatch)
                self._views = views
            return self._views

    def _settings_read(self) -> None:
        """Empty the memos of settings and read the settings the host check decides by afresh."""
        generation = _settings_generation
        self._hosts, self._tails, self._secures = {}, {}, {}
        self._lean_on = bool(settings.PRAETOR_LEAN_VIEWS)
        proxy = settings.SECURE_PROXY_SSL_HEADER
        try:
            self._proxy_header = None if not proxy else proxy[0] if len(proxy) == 2 else _ASK
        except (TypeError, KeyError, IndexError):
            self._proxy_header = _ASK
        self._usual_host = not settings.DISALLOWED_USER_AGENTS and not settings.PREPEND_WWW
        self._forwarded_host = bool(settings.USE_X_FORWARDED_HOST)
        self._generation = generation

    def _common_passes(self, request) -> bool:
        """Whether CommonMiddleware.process_request lets the request through (answers nothing, raises nothing).
        In the usual case (a Host header that is the host, no disallowed user agents, no PREPEND_WWW) that is
        whether the host is allowed, which depends on the header, ALLOWED_HOSTS and DEBUG only: remembered
        per header until a setting changes. Anything else asks process_request itself (its error is raised)."""
        if self._generation != _settings_generation:
            self._settings_read()
        host = request.META.get("HTTP_HOST")
        if host is None or not self._usual_host or (self._forwarded_host and "HTTP_X_FORWARDED_HOST" in request.META):
            return self.common.process_request(request) is None
        key = host
        allowed = self._hosts.get(key)
        if allowed is None:
            try:
                request.get_host()
                allowed = True
            except DisallowedHost:
                allowed = False
            if len(self._hosts) >= 256:
                self._hosts.clear()
            self._hosts[key] = allowed
        return allowed

    def _secure(self, request):
        """`request.is_secure()`'s inputs, remembered by (the value of SECURE_PROXY_SSL_HEADER's header,
        wsgi.url_scheme): Django's is_secure() depends on nothing else (HttpRequest.scheme: the header's first
        comma-separated value compared with the setting's, else WSGIRequest._get_scheme: the environ's
        wsgi.url_scheme; tests/core/test_lean_render.py guards Django's source); None (ask is_secure() itself)
        for a request class of its own scheme, a malformed setting (is_secure() raises) or a header value that
        is not a str."""
        header = self._proxy_header
        django = _DJANGO_SCHEME.get(type(request))
        if django is None:
            django = _scheme_is_djangos(type(request))
        if header is _ASK or not django:
            return None
        value = None if header is None else request.META.get(header)
        if value is not None and type(value) is not str:
            return None
        return value, request.environ.get("wsgi.url_scheme")

    def _tail(self, request) -> dict:
        """The headers XFrameOptionsMiddleware, CommonMiddleware and SecurityMiddleware add to a plain success
        (`_finish_plain`), in their order, as ResponseHeaders' store holds them, with Content-Length to be
        replaced: what they add to an empty response. Their work depends on the request only by whether it is
        secure (and on settings: X_FRAME_OPTIONS, the SECURE_* ones), so the tail is remembered per secure flag,
        and per what the flag is worked out from (`_secure`; is_secure() is ~9 k instructions), until a setting
        changes."""
        if self._generation != _settings_generation:
            self._settings_read()
        key = self._secure(request)
        tail = None if key is None else self._secures.get(key)
        if tail is None:
            secure = request.is_secure()
            tail = self._tails.get(secure)
            if tail is None:
                probe = HttpResponse(b"")
                probe.headers._store.clear()
                for middleware in (self.xframe, self.common, self.security):
                    probe = middleware.process_response(request, probe)
                tail = self._tails[secure] = dict(probe.headers._store)
            if key is not None:
                if len(self._secures) >= 64:  # the header is the client's to choose
                    self._secures.clear()
                self._secures[key] = tail
        return tail

    def _finish_plain(self, request, response) -> bool:
        """What the rate-limit, XFrameOptions, Common and Security middleware do to a success (200, 201) the
        lean dispatch rendered the plain way (`lean_render`: Content-Type and the view's Allow/Vary only), done
        at once; False (nothing done) when the request was not drawn. tests/core/test_lean_render.py compares."""
        limits = keyed_plain_headers(request)
        if limits is None:
            return False
        store = response.headers._store
        store.update(limits)  # already as the store holds them (str of ints, lowercased names): none is in it yet
        tail = self._tail(request)
        store.update(tail)  # in the tail's order (none of its names is in the store: `_PLAIN_NAMES`, above)
        if "content-length" in tail:
            store["content-length"] = ("Content-Length", str(len(response._container[0])))  # its place kept
        return True

    def __call__(self, request):
        path = request.path_info
        if self._generation != _settings_generation:
            self._settings_read()
        # request.path: the rate-limit middleware decides by it (the same unless mounted under a SCRIPT_NAME)
        if (
            request.method not in ("POST", "GET")
            or not path.startswith(_PREFIX)
            or request.path != path
            or not self._lean_on  # PRAETOR_LEAN_VIEWS
        ):
            return self.get_response(request)
        match = _PATH.match(path)
        if match is None:
            return self.get_response(request)
        route, kwargs = route_kwargs(match)
        method, dispatch = (self._views if self._views is not None else self._lean_views()).get(route, (None, None))
        if method != request.method:
            return self.get_response(request)  # another method (a 405), or the lean route off
        try:
            if self.security.process_request(request) or not self._common_passes(request):
                return self.get_response(request)  # a redirect or a disallowed host: the chain answers it
        except Exception:
            return self.get_response(request)  # a disallowed host or user agent: the chain answers it
        if not keyed_request_needs_no_check(request):
            return self.get_response(request)
        token = request_context_enter(request)
        try:
            try:
                plain = False
                prepared = lean_prepare_on(request)  # PRAETOR_LEAN_VIEWS read above
                if prepared is None:
                    response = None
                else:
                    response = dispatch(request, kwargs, *prepared)
                    plain = lean_render(response)
            except Exception as exc:
                response = response_for_exception(request, exc)
            if (plain and response.status_code in (200, 201) and response.headers._store.keys() <= _PLAIN_NAMES
                    and self._finish_plain(request, response)):
                return response
            if response is not None:
                try:
                    response = keyed_response_finish(request, response)
                except Exception as exc:  # as the chain's wrapper around the rate-limit middleware answers
                    response = response_for_exception(request, exc)
        finally:
            request_context_leave(token)
        if response is None:
            return self.get_response(request)  # no key that authenticates, or a body DRF answers: DRF's path
        response = self.xframe.process_response(request, response)
        response = self.common.process_response(request, response)
        return self.security.process_response(request, response)
