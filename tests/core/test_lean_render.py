"""The plain rendering and finishing of a lean response (apps/core/api/lean.py `lean_render`,
apps/core/lean_middleware.py `_finish_plain`) leave exactly what `Response.render()` and the chain's response
processing (rate-limit headers, X-Frame-Options, Content-Length, the security headers) leave: the same body
bytes, the same headers stored the same way in the same order, the same rendered state."""

from __future__ import annotations

import datetime
import decimal
import itertools
import uuid

import pytest
from django.test import RequestFactory
from rest_framework.response import Response

from apps.core.api.lean import _RENDERER, lean_render
from apps.core.lean_middleware import LeanRouteMiddleware
from apps.ratelimit import middleware as ratelimit_middleware
from apps.ratelimit.limiter import Decision

DATA = [
    None,
    {},
    [],
    {"id": uuid.UUID("0a8b8f8e-64f7-4d6c-9bd1-5d7c1f0e2a3b"), "n": 1, "x": 1.5, "ok": True, "none": None},
    {"when": datetime.datetime(2026, 12, 6, 17, 0, 1, 123456, tzinfo=datetime.UTC), "day": datetime.date(2026, 1, 2),
     "dur": datetime.timedelta(seconds=3.25), "amount": decimal.Decimal("1.10")},
    {"text": "unicode é ü 漢字 \U0001f600, separators \u2028 and \u2029, quote \" backslash \\ nul \x00 tab \t"},
    {"nested": [{"a": [1, 2, {"b": None}]}, "s", 0, -1, 10**20]},
    "a string",
    0,
    [{"state": {"type": "COMPLETED", "data": None}}] * 3,
]
VIEW_HEADERS = [{}, {"Allow": "POST, OPTIONS"}, {"Allow": "GET, PATCH, DELETE, HEAD, OPTIONS", "Vary": "Accept"}]


def _response(data, status: int, view_headers: dict) -> Response:
    """A Response as a handler returns it and the lean dispatch prepares it (renderer, context, view headers)."""
    response = Response(data, status=status)
    response.accepted_renderer, response.accepted_media_type = _RENDERER, _RENDERER.media_type
    response.renderer_context = {"view": object(), "args": (), "kwargs": {}, "request": None}
    for name, value in view_headers.items():
        response[name] = value
    return response


def _state(response) -> tuple:
    context = dict(response.renderer_context)
    assert context.pop("response") is response
    return (list(response.headers._store.items()), response.content, response._is_rendered,
            response.status_code, sorted(context), response.data)


@pytest.mark.parametrize("data", DATA, ids=range(len(DATA)))
@pytest.mark.parametrize("view_headers", VIEW_HEADERS, ids=range(len(VIEW_HEADERS)))
@pytest.mark.parametrize("status", [200, 201, 204, 400])
def test_plain_render_leaves_what_render_leaves(data, view_headers, status):
    expected = _response(data, status, view_headers).render()
    for _ in range(2):  # the first fills the per-headers cache, the second reads it
        got = _response(data, status, view_headers)
        assert lean_render(got) is True
        assert _state(got) == _state(expected)
        assert got.content == expected.content and isinstance(got.content, bytes)


def test_render_of_a_handlers_own_headers_and_of_anything_else():
    # A handler's own headers are kept where render() keeps them (the lean route then finishes by the chain).
    expected = _response({"a": 1}, 200, {"Allow": "POST"})
    expected["X-Own"] = "1"
    got = _response({"a": 1}, 200, {"Allow": "POST"})
    got["X-Own"] = "1"
    assert lean_render(got) is True and _state(got) == _state(expected.render())
    # Its own content type, a rendered response: render() itself.
    typed = _response({"a": 1}, 200, {})
    typed.content_type = "application/json; charset=utf-8"
    assert lean_render(typed) is False and typed._is_rendered and typed.content == b'{"a":1}'
    assert typed["Content-Type"] == "application/json; charset=utf-8"
    assert lean_render(typed) is False and typed.content == b'{"a":1}'


def _chain_finish(middleware, request, response):
    """What the lean route does to a response that is not plain: the chain's response processing."""
    response = ratelimit_middleware.keyed_response_finish(request, response)
    response = middleware.xframe.process_response(request, response)
    response = middleware.common.process_response(request, response)
    return middleware.security.process_response(request, response)


@pytest.mark.parametrize(("secure", "hsts", "frame", "referrer", "coop", "nosniff", "limited"), list(itertools.product(
    [False, True], [(0, False, False), (3600, False, False), (60, True, True)], ["DENY", "sameorigin"],
    ["same-origin", "no-referrer, strict-origin", None], ["same-origin", None], [True, False], [True, False])))
def test_plain_finish_adds_what_the_chain_adds(settings, secure, hsts, frame, referrer, coop, nosniff, limited):
    (settings.SECURE_HSTS_SECONDS, settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD) = hsts
    settings.X_FRAME_OPTIONS, settings.SECURE_REFERRER_POLICY = frame, referrer
    settings.SECURE_CROSS_ORIGIN_OPENER_POLICY, settings.SECURE_CONTENT_TYPE_NOSNIFF = coop, nosniff
    settings.PRAETOR_RATELIMIT_ENABLED = limited
    middleware = LeanRouteMiddleware(lambda request: None)
    decision = Decision(allowed=True, limit=600, remaining=599, reset_after=0.4, retry_after=0.0)
    for data, status in ((None, 201), ({"id": "x", "s": "é\u2028"}, 200), ([1] * 100, 201)):
        answers = []
        for plain in (False, True):
            request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/", secure=secure)
            ratelimit_middleware._state(request).decision = decision
            response = _response(data, status, {"Allow": "POST, OPTIONS"})
            lean_render(response)
            if plain:
                assert middleware._finish_plain(request, response) is True
            else:
                response = _chain_finish(middleware, request, response)
            answers.append((list(response.headers._store.items()), response.content))
        assert answers[0] == answers[1]
        headers = dict(answers[1][0])
        assert headers["content-length"] == ("Content-Length", str(len(answers[1][1])))
        assert ("strict-transport-security" in headers) is bool(secure and hsts[0])
        assert ("ratelimit-limit" in headers) is limited


def test_plain_finish_leaves_an_undrawn_request_to_the_chain(settings):
    settings.PRAETOR_RATELIMIT_ENABLED = True
    middleware = LeanRouteMiddleware(lambda request: None)
    request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/")
    response = _response({"a": 1}, 200, {"Allow": "POST, OPTIONS"})
    lean_render(response)
    before = list(response.headers._store.items())
    assert middleware._finish_plain(request, response) is False  # keyed_response_finish draws it then
    assert list(response.headers._store.items()) == before


def _common_lets_through(middleware, request) -> bool | str:
    try:
        return middleware.common.process_request(request) is None
    except Exception as exc:  # the error the chain would answer
        return type(exc).__name__


@pytest.mark.parametrize(("allowed", "debug"), [(["*"], False), (["example.com", ".praetor.dev"], False),
                                                ([], True), ([], False), (["testserver"], False)])
@pytest.mark.parametrize(("forwarded", "agents", "www"), [(False, [], False), (True, [], False),
                                                          (False, ["bad-bot"], False), (False, [], True)])
def test_the_host_check_decides_as_common_middleware(settings, allowed, debug, forwarded, agents, www):
    import re

    settings.ALLOWED_HOSTS, settings.DEBUG, settings.USE_X_FORWARDED_HOST = allowed, debug, forwarded
    settings.DISALLOWED_USER_AGENTS, settings.PREPEND_WWW = [re.compile(a) for a in agents], www
    middleware = LeanRouteMiddleware(lambda request: None)
    hosts = ["example.com", "www.example.com", "a.praetor.dev", "praetor.dev:8443", "localhost", "127.0.0.1",
             "[::1]", "evil.com", "example.com:80", "bad host", "", "testserver", None]
    for _ in range(2):  # the second round from what the first remembered
        for host in hosts:
            for extra in ({}, {"HTTP_X_FORWARDED_HOST": "example.com"}, {"HTTP_USER_AGENT": "a bad-bot/1"}):
                request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/", **extra)
                if host is None:
                    request.META.pop("HTTP_HOST", None)
                else:
                    request.META["HTTP_HOST"] = host
                expected = _common_lets_through(middleware, request)
                try:
                    got = middleware._common_passes(request)
                except Exception as exc:
                    got = type(exc).__name__
                assert (got is True) == (expected is True), (host, extra, got, expected)


@pytest.mark.parametrize("text", ['{"a": 1}', "[]", '{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', "\ufeff{}",
                                  " {} ", "{} x", "", '{"a": "\\u0000"}', '{"a": 1e400}', "[" * 100 + "]" * 100,
                                  '{"a": 1, "a": 2}', '"\\ud800"'])
def test_the_body_decodes_as_drfs_json_loads(text):
    from rest_framework.utils import json

    from apps.core.api.lean import _DECODE

    outcomes = []
    for decode in (json.loads, _DECODE):
        try:
            outcomes.append(("ok", repr(decode(text))))
        except ValueError:  # lean_prepare leaves the request to DRF then
            outcomes.append(("ValueError", None))
    assert outcomes[0] == outcomes[1]


def test_what_the_middleware_remembers_of_settings_follows_a_change_of_them(settings):
    """The host check and the finishing headers are remembered per Host header and per secure flag only; a change
    of a setting (setting_changed) makes the same middleware decide afresh, as the chain does."""
    settings.ALLOWED_HOSTS, settings.DEBUG, settings.PREPEND_WWW = ["example.com"], False, False
    settings.X_FRAME_OPTIONS = "DENY"
    settings.PRAETOR_RATELIMIT_ENABLED = False
    middleware = LeanRouteMiddleware(lambda request: None)

    def passes(host="example.com"):
        request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/", HTTP_HOST=host)
        return middleware._common_passes(request), _common_lets_through(middleware, request)

    def frame():
        request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/")
        response = _response({"a": 1}, 200, {})
        lean_render(response)
        assert middleware._finish_plain(request, response) is True
        return response["X-Frame-Options"], _chain_finish(middleware, request, _response({"a": 1}, 200, {}).render())[
            "X-Frame-Options"]

    assert passes() == (True, True) and passes() == (True, True)
    assert frame() == ("DENY", "DENY")
    settings.ALLOWED_HOSTS = ["other.example"]
    assert passes() == (False, "DisallowedHost")
    settings.ALLOWED_HOSTS, settings.PREPEND_WWW = ["example.com", "www.example.com"], True
    assert passes() == (False, False)  # the chain redirects to www.
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    assert frame() == ("SAMEORIGIN", "SAMEORIGIN")


class _View:
    """What `_lean_dispatch` calls of a view, with a handler that may change its headers."""

    change = None

    def __init__(self, **kwargs):
        pass

    @property
    def default_response_headers(self):
        return {"Allow": "POST, OPTIONS", "Vary": "Accept"}

    def resolve_tenant(self, request, kwargs):
        pass

    def rate_limit_draw(self, request):
        pass

    def check_declared_permission(self, request):
        pass

    def post(self, request, **kwargs):
        if self.change:
            self.change(self.headers)
        return Response({"a": 1}, status=201)


def _reorder(headers):
    headers["Allow"] = headers.pop("Allow")


def _add(headers):
    headers["X-Own"] = "1"


@pytest.mark.parametrize("change", [None, _reorder, _add, lambda headers: headers.update(Allow="GET")])
def test_the_views_headers_are_stored_as_setting_them_one_by_one_stores_them(change):
    from apps.core.api.lean import _lean_dispatch

    _View.change = staticmethod(change) if change else None
    for _ in range(2):  # the first works out the stored form, the second reuses it
        request = RequestFactory().post("/x", b"{}", content_type="application/json")
        response = _lean_dispatch(_View, {}, request, {}, None, None, {})
        expected = Response({"a": 1}, status=201)
        for name, value in response.renderer_context["view"].headers.items():
            expected[name] = value
        assert list(response.headers._store.items()) == list(expected.headers._store.items())


def _made(response) -> list:
    """Everything a response holds, its mutable parts by value and type."""
    state = []
    for name, value in response.__dict__.items():
        if name == "headers":
            value = (type(value), list(value._store.items()))
        elif name == "cookies":
            value = (type(value), dict(value))
        state.append((name, value))
    return state


@pytest.mark.parametrize("data", DATA, ids=range(len(DATA)))
@pytest.mark.parametrize("status", [None, 200, 201, 204, 400])
def test_respond_makes_what_the_constructor_makes(data, status):
    from apps.core.api.lean import _RESPONSE_MODELS, respond

    expected = Response(data) if status is None else Response(data, status=status)
    for _ in range(2):  # the first makes the status's model, the second uses it
        got = respond(data) if status is None else respond(data, status=status)
        assert type(got) is Response and _made(got) == _made(expected)
        assert got.status_code == expected.status_code and got.data is data
    assert _RESPONSE_MODELS[status] is not False  # made from the model: every attribute is of a kind it copies
    # Each response's mutable parts are its own: changing one's changes no other's (nor the next one's).
    first, second = respond(data, status=status), respond(data, status=status)
    first["X-Own"] = "1"
    first.cookies["c"] = "v"
    first._resource_closers.append(print)
    first._post_render_callbacks.append(print)
    first._container.append(b"more")
    assert _made(second) == _made(expected) and _made(respond(data, status=status)) == _made(expected)
    # And both render, and close, alike.
    assert lean_render(_prepared(second)) is True
    assert _state(second) == _state(_prepared(Response(data, status=status)).render())


def _prepared(response):
    response.accepted_renderer, response.accepted_media_type = _RENDERER, _RENDERER.media_type
    response.renderer_context = {"view": object(), "args": (), "kwargs": {}, "request": None}
    return response


def test_respond_of_what_the_constructor_refuses_or_converts(settings):
    from rest_framework import serializers

    from apps.core.api.lean import respond

    for status in (99, 600, "x", None.__class__):
        with pytest.raises((TypeError, ValueError)) as expected:
            Response(None, status=status)
        with pytest.raises(expected.type):
            respond(None, status=status)
    with pytest.raises(AssertionError):
        respond(serializers.Serializer(), status=200)  # DRF's refusal, even once the status has its model
    assert _made(respond({}, status="201")) == _made(Response({}, status="201"))
    # A setting changed (here the Content-Type Django works out): the next responses see it.
    assert respond({}, status=200)["Content-Type"] == "text/html; charset=utf-8"
    settings.DEFAULT_CHARSET = "latin-1"
    assert _made(respond({}, status=200)) == _made(Response({}, status=200))
    assert respond({}, status=200)["Content-Type"] == "text/html; charset=latin-1"


# Django 5.2's HttpRequest.is_secure, HttpRequest.scheme and WSGIRequest._get_scheme, whose inputs
# LeanRouteMiddleware._secure remembers the answer by (SECURE_PROXY_SSL_HEADER, its header's value, wsgi.url_scheme).
_SCHEME_SOURCE_SHA256 = "6ec86d7487f16be39ab72acf5b26943ccd4b574ec839b4abdab4b28738b0034b"


def test_djangos_scheme_is_the_one_the_secure_memo_knows():
    import hashlib
    import inspect

    from django.core.handlers.wsgi import WSGIRequest
    from django.http import HttpRequest

    text = (inspect.getsource(HttpRequest.is_secure) + inspect.getsource(HttpRequest.scheme.fget)
            + inspect.getsource(WSGIRequest._get_scheme))
    assert hashlib.sha256(text.encode()).hexdigest() == _SCHEME_SOURCE_SHA256, (
        "Django's is_secure changed: check what LeanRouteMiddleware._secure remembers it by")


@pytest.mark.parametrize("proxy", [None, (), ("HTTP_X_FORWARDED_PROTO", "https"), ("HTTP_X_SCHEME", "HTTPS"),
                                   ("HTTP_X_FORWARDED_PROTO",), ("A", "b", "c"), "HTTP_X_FORWARDED_PROTO"])
def test_the_tail_is_remembered_by_what_is_secure_reads(settings, proxy):
    """The tail of a plain finish is remembered by what `_secure` makes of a request only where requests of that
    key are all secure or all not, as `request.is_secure()` says; a malformed setting is is_secure()'s (raises)."""
    settings.SECURE_PROXY_SSL_HEADER = proxy
    middleware = LeanRouteMiddleware(lambda request: None)
    middleware._settings_read()
    seen = {}
    values = [None, "https", "http", "HTTPS", " https ", "https,http", "http, https", "https , x", "", ",", "ftp"]
    for _ in range(2):  # the second round from what the first remembered
        for value, scheme in itertools.product(values, ["http", "https", None]):
            request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/")
            request.environ["wsgi.url_scheme"] = scheme
            if scheme is None:
                del request.environ["wsgi.url_scheme"]
            for header in ("HTTP_X_FORWARDED_PROTO", "HTTP_X_SCHEME"):
                if value is not None:
                    request.META[header] = value
            try:
                expected = request.is_secure()
            except Exception as exc:
                expected = type(exc).__name__
            key = middleware._secure(request)
            if key is None:  # is_secure() asked
                assert proxy and (len(proxy) != 2 or isinstance(proxy, str)), (proxy, value, scheme)
                continue
            # requests of the same key are all secure or all not
            assert seen.setdefault(key, expected) == expected, (proxy, value, scheme, key)
            tail = middleware._tail(request)
            assert tail is middleware._tails[expected] and middleware._secures[key] is tail


def test_the_secure_flag_of_a_request_class_of_its_own_is_asked(settings):
    from django.core.handlers.wsgi import WSGIRequest

    class Always(WSGIRequest):
        def is_secure(self):
            return True

    settings.SECURE_PROXY_SSL_HEADER = None
    middleware = LeanRouteMiddleware(lambda request: None)
    middleware._settings_read()
    plain = RequestFactory().post("/api/accounts/a/workspaces/w/logs/")
    assert middleware._secure(plain) == (None, "http")
    assert middleware._secure(Always(plain.environ)) is None
    assert middleware._tail(plain) is middleware._tails[False]
    assert middleware._tail(Always(plain.environ)) is middleware._tails[True]


def test_the_secure_flag_is_worked_out_once_per_header_and_scheme(settings):
    """A plain finish asks Django's is_secure for the first request of a proxy header and scheme only (~9 k
    instructions a call; twice then: the memo's and SecurityMiddleware's as the tail is worked out), again for
    another, and again after a setting changes."""
    import sys

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600
    middleware = LeanRouteMiddleware(lambda request: None)
    decision = Decision(allowed=True, limit=600, remaining=599, reset_after=0.4, retry_after=0.0)
    asked = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name == "is_secure":
            asked.append(frame.f_locals["self"].META.get("HTTP_X_FORWARDED_PROTO"))

    def finish(proto):
        request = RequestFactory().post("/api/accounts/a/workspaces/w/logs/", HTTP_X_FORWARDED_PROTO=proto)
        ratelimit_middleware._state(request).decision = decision
        response = _response({"a": 1}, 200, {})
        lean_render(response)
        sys.setprofile(profile)
        try:
            assert middleware._finish_plain(request, response) is True
        finally:
            sys.setprofile(None)
        return "strict-transport-security" in response.headers._store

    assert [finish("https") for _ in range(5)] == [True] * 5
    assert [finish("http") for _ in range(5)] == [False] * 5
    assert asked == ["https", "https", "http", "http"]
    settings.SECURE_HSTS_SECONDS = 60
    assert [finish("https") for _ in range(3)] == [True] * 3
    assert asked == ["https", "https", "http", "http", "https", "https"]
