"""config/handler.py's Handler answers what Django's WSGIHandler answers (status, headers in order, body), sends
request_started and request_finished to the receivers Django's Signal.send would, connected before or after, and
closes database connections that are obsolete or broken at the start and at the end of a request, initialized
caches, and a response's resources, as Django does."""

from __future__ import annotations

import contextvars
import hashlib
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.handlers.base import reset_urlconf
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.db import close_old_connections, connections, reset_queries
from django.http import FileResponse, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.test import RequestFactory, override_settings
from django.urls import get_urlconf, path, set_urlconf
from rest_framework.test import APIClient

from apps.ratelimit import middleware as ratelimit_middleware
from config import handler as handler_module
from config.handler import Handler
from config.http_threads import run_wsgi
from tests.engine.runs_helpers import base, create_flow, create_flow_run, create_task_run, set_flow_state, state

_TIMES = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
_VARYING = {"RateLimit-Remaining", "RateLimit-Reset", "Content-Length"}


class _Closing(HttpResponse):
    """A response whose class closes in its own way: Handler.serve must call its close()."""

    closes: list = []

    def close(self):
        self.closes.append(self.status_code)
        super().close()


def _cookie(request):
    response = HttpResponse(b"with a cookie", content_type="text/plain")
    response.set_cookie("flavour", "oat", httponly=True)
    response["X-Extra"] = " padded "
    return response


def _fails(request):
    raise RuntimeError("the view fails")


def _closing(request):
    return _Closing(b"closing", status=202)


class _Chunks:
    """A streaming response's content: its close() recorded (and raising when asked, which Django ignores)."""

    closes: list = []

    def __init__(self, name: str, raises: bool = False):
        self.name, self.raises = name, raises

    def __iter__(self):
        return iter([b"streamed ", self.name.encode()])

    def close(self):
        self.closes.append(self.name)
        if self.raises:
            raise ValueError("a closer fails")


def _streaming(request):
    response = StreamingHttpResponse(_Chunks("first", raises=request.GET.get("raises") == "1"))
    response._resource_closers.append(_Chunks("second").close)  # a closer after the failing one still runs
    return response


def _file(request):
    response = FileResponse(open(request.GET["name"], "rb"))  # noqa: SIM115 - the response closes it
    _Chunks.closes.append(response.file_to_stream)
    return response


class _RecordingCache(LocMemCache):
    """A cache backend whose close() is recorded (Django's RedisCache's is BaseCache's no-op)."""

    closes: list = []

    def __init__(self, name, params):
        super().__init__(name, params)
        self.name = name

    def close(self, **kwargs):
        self.closes.append(self.name)


def _uses_caches(request):
    for alias in request.GET.get("caches", "").split(","):
        if alias:
            caches[alias].get("key")
    return HttpResponse(b"cached")


urlpatterns = [path("cookie", _cookie), path("fails", _fails), path("closing", _closing),
               path("streaming", _streaming), path("file", _file), path("caches", _uses_caches)]


def _answers(app, environ) -> tuple:
    status, headers, body = run_wsgi(app, environ)
    return status, [(k, v) for k, v in headers if k not in _VARYING], _TIMES.sub(b"<time>", body)


def _called(app, environ) -> tuple:
    """As a WSGI server calls it: __call__, iterate, close()."""
    started = []
    result = app(environ, lambda status, headers, exc_info=None: started.append((status, headers)))
    try:
        body = b"".join(result)
    finally:
        result.close()
    return started[0][0], [(k, v) for k, v in started[0][1] if k not in _VARYING], _TIMES.sub(b"<time>", body)


@pytest.fixture
def keep_connection():
    """As Django's test client does: the test's transaction keeps its connection across the requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_handler_answers_what_djangos_answers(workspace, user_key, authed_client, settings, keep_connection,
                                             monkeypatch, caplog):
    monkeypatch.setattr(ratelimit_middleware, "_recent_failures", {})
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    task = create_task_run(APIClient(HTTP_AUTHORIZATION=f"Bearer {user_key}"), workspace, run["id"])["id"]
    factory, b = RequestFactory(HTTP_AUTHORIZATION=f"Bearer {user_key}", HTTP_HOST="testserver"), base(workspace)
    requests = [
        lambda: factory.get(f"{b}task_runs/{task}"),  # the lean route
        lambda: factory.post(f"{b}task_runs/{task}/set_state",
                             json.dumps({"state": state("RUNNING"), "force": True}), content_type="application/json"),
        lambda: factory.get(f"{b}flow_runs/{run['id']}/graph"),  # DRF's path
        lambda: factory.get(f"{b}task_runs/00000000-0000-4000-8000-000000000000"),  # a 404 (logged)
        lambda: factory.post(f"{b}task_runs/", b"{", content_type="application/json"),  # a 400
        lambda: RequestFactory().get("/api/health"),
    ]
    django_handler, handler = WSGIHandler(), Handler()
    for make in requests:
        expected = _answers(django_handler, make().environ)
        assert _answers(handler, make().environ) == expected
        assert _called(handler, make().environ) == expected
    settings.ROOT_URLCONF = __name__  # a response with cookies, a failing view, a response closing its own way
    for name in ("cookie", "fails", "closing"):
        _Closing.closes.clear()
        expected = _answers(django_handler, RequestFactory().get(f"/{name}").environ)
        assert _answers(handler, RequestFactory().get(f"/{name}").environ) == expected
        assert _called(handler, RequestFactory().get(f"/{name}").environ) == expected
        assert _Closing.closes == ([202] * 3 if name == "closing" else [])
    assert _answers(handler, RequestFactory().get("/cookie").environ)[1] == [
        ("Content-Type", "text/plain"), ("X-Extra", " padded "), ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"), ("Set-Cookie", " flavour=oat; HttpOnly; Path=/")]
    assert _answers(handler, RequestFactory().get("/fails").environ)[0] == "500 Internal Server Error"
    assert get_urlconf() is None  # reset at request_finished


@pytest.mark.django_db
def test_the_signals_reach_the_receivers_djangos_would(settings, keep_connection):
    settings.ROOT_URLCONF = __name__
    heard = []

    def started(signal, sender, environ, **kwargs):
        heard.append(("started", signal, sender, environ["PATH_INFO"], kwargs))

    def finished(signal, sender, **kwargs):
        heard.append(("finished", signal, sender, kwargs))

    def for_other_senders(**kwargs):
        heard.append("other sender")

    async def asynchronous(signal, sender, **kwargs):
        heard.append(("async", sender))

    def serve(app, kind):
        heard.clear()
        environ = RequestFactory().get("/cookie").environ
        app.serve(environ) if kind == "serve" else _called(app, environ)
        return list(heard)

    django_handler, handler = WSGIHandler(), Handler()
    assert serve(handler, "serve") == []  # the receivers found (tests' own connections are not closed)
    signals.request_started.connect(started)
    signals.request_finished.connect(finished, sender=WSGIHandler)
    signals.request_finished.connect(for_other_senders, sender=Handler)
    try:
        expected = [("started", signals.request_started, WSGIHandler, "/cookie", {}),
                    ("finished", signals.request_finished, WSGIHandler, {})]
        assert serve(django_handler, "call") == expected
        assert serve(handler, "serve") == expected
        assert serve(handler, "call") == expected
        signals.request_started.connect(asynchronous)  # sent through Signal.send (async_to_sync), after `started`
        assert serve(handler, "serve") == [expected[0], ("async", WSGIHandler), expected[1]]
        signals.request_started.disconnect(asynchronous)
        signals.request_started.disconnect(started)
        assert serve(handler, "serve") == expected[1:]
    finally:
        signals.request_started.disconnect(started)
        signals.request_started.disconnect(asynchronous)
        signals.request_finished.disconnect(finished, sender=WSGIHandler)
        signals.request_finished.disconnect(for_other_senders, sender=Handler)
    assert serve(handler, "serve") == []


def test_request_started_is_done_inline_only_with_djangos_two_receivers(keep_connection):
    assert handler_module._started.current()[2] is False  # close_old_connections disconnected
    signals.request_started.connect(close_old_connections)
    assert handler_module._started.current()[2] is True
    signals.request_started.disconnect(close_old_connections)


@pytest.mark.django_db(transaction=True)
def test_obsolete_connections_are_closed_at_start_and_finish(settings, monkeypatch, djangos_receivers):
    """Autocommit on (no test transaction): close_old_connections closes the connection past CONN_MAX_AGE before
    the view (request_started) and after it (request_finished), as under Django's handler; a young one is kept
    across requests and its query log emptied."""
    settings.ROOT_URLCONF = __name__
    db = connections["default"]
    # Django's own receivers in a server's order (the fixture: a test client earlier in the run may have left
    # close_old_connections last), so the inline path is the one taken
    monkeypatch.setitem(db.settings_dict, "CONN_MAX_AGE", 600)
    handler = Handler()
    chain, seen, age = handler._middleware_chain, [], []

    def view_sees(request):  # what the view finds, and the connection made obsolete during the request if asked
        seen.append(db.connection)
        response = chain(request)
        if age:
            db.close_at = time.monotonic() - 1
        return response

    handler._middleware_chain = view_sees
    db.close()
    db.ensure_connection()
    kept = db.connection
    db.queries_log.append({"sql": "select 1", "time": "0.001"})
    assert handler.serve(RequestFactory().get("/cookie").environ)[0] == "200 OK"
    assert seen == [kept] and db.connection is kept and not db.queries_log
    db.close_at = time.monotonic() - 1  # obsolete at the start: closed before the view
    seen.clear()
    assert handler.serve(RequestFactory().get("/cookie").environ)[0] == "200 OK"
    assert seen == [None] and db.connection is None
    db.ensure_connection()
    kept, age = db.connection, [True]  # obsolete by the end of the request: closed at request_finished
    seen.clear()
    assert handler.serve(RequestFactory().get("/cookie").environ)[0] == "200 OK"
    assert seen == [kept] and db.connection is None


@pytest.fixture
def djangos_receivers():
    """The two signals' receivers in the order a server process has them (Django's imports connect them so): the
    test client disconnects close_old_connections around its requests and connects it again, last, which a test
    run keeps. The order found is put back afterwards."""
    layouts = {signals.request_started: (reset_queries, close_old_connections),
               signals.request_finished: (close_old_connections, close_caches, reset_urlconf)}
    found = {signal: [ref() for _, ref, _ in signal.receivers] for signal in layouts}
    for signal, receivers in layouts.items():
        for receiver in receivers:
            signal.disconnect(receiver)
        for receiver in receivers:
            signal.connect(receiver)
    assert handler_module._started.current()[2] and handler_module._finished.current()[2]
    yield
    for signal, receivers in found.items():
        for receiver in layouts[signal]:
            signal.disconnect(receiver)
        for receiver in receivers:
            signal.connect(receiver)


def test_a_server_process_has_djangos_receivers_only():
    """What a server loads (django.setup, config.asgi, the URLconf) connects no receiver of its own to either
    signal, and Django's are in the order the handler's inline work follows: the inline way is the one served.
    Fails when Django's receivers (or their order) change, or when the project connects one: then the handler
    sends the signal as Django does, and this test says the fast way is lost."""
    code = ("import django; django.setup()\n"
            "import config.asgi\n"
            "from django.urls import get_resolver; get_resolver().url_patterns\n"
            "from config import handler\n"
            "print(handler._started.current()[2], handler._finished.current()[2])\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    assert out.split()[-2:] == ["True", "True"]


def test_request_finished_is_done_inline_only_with_djangos_three_receivers(djangos_receivers):
    signals.request_finished.disconnect(close_caches)
    assert handler_module._finished.current()[2] is False
    signals.request_finished.connect(close_caches)  # last now: another order
    assert handler_module._finished.current()[2] is False
    signals.request_finished.disconnect(reset_urlconf)
    signals.request_finished.connect(reset_urlconf)  # Django's order again
    assert handler_module._finished.current()[2] is True


def test_the_close_done_here_is_djangos():
    """handler.close does HttpResponseBase.close's steps, request_finished aside: a change of Django's method fails
    this test, to be looked at (config/handler.py's `close`)."""
    assert textwrap.dedent(inspect.getsource(HttpResponseBase.close)) == textwrap.dedent("""\
        def close(self):
            for closer in self._resource_closers:
                try:
                    closer()
                except Exception:
                    pass
            # Free resources that were still referenced.
            self._resource_closers.clear()
            self.closed = True
            signals.request_finished.send(sender=self._handler_class)
        """)


@pytest.mark.django_db(transaction=True)
def test_late_receivers_are_heard_on_the_inline_way(settings, djangos_receivers):
    settings.ROOT_URLCONF = __name__
    heard = []

    def finished(signal, sender, **kwargs):
        heard.append((signal, sender, kwargs, get_urlconf()))  # after reset_urlconf, as Django's order has it

    def serve(app):
        heard.clear()
        assert _answers(app, RequestFactory().get("/cookie").environ)[0] == "200 OK"
        assert get_urlconf() is None
        return list(heard)

    django_handler, handler = WSGIHandler(), Handler()
    signals.request_finished.connect(finished)
    try:
        assert handler_module._finished.current()[2] is False
        expected = [(signals.request_finished, WSGIHandler, {}, None)]
        assert serve(django_handler) == expected
        assert serve(handler) == expected
    finally:
        signals.request_finished.disconnect(finished)
    assert handler_module._finished.current()[2] is True
    assert serve(handler) == []


@pytest.mark.django_db(transaction=True)
def test_broken_connections_are_closed_at_finish(settings, monkeypatch, djangos_receivers):
    """A connection left out of autocommit, or with an error since its last commit that is no longer usable, is
    closed by request_finished's inline way; one with an error and still usable is kept, its flag cleared."""
    settings.ROOT_URLCONF = __name__
    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 600)
    db, handler, usable = connections["default"], Handler(), [True]
    chain, during = handler._middleware_chain, []

    def view_breaks(request):
        response = chain(request)
        during.pop()()
        return response

    handler._middleware_chain = view_breaks
    monkeypatch.setattr(db, "is_usable", lambda: usable[0])
    for breaks, closed in [(lambda: db.set_autocommit(False), True), (lambda: setattr(db, "errors_occurred", True),
                                                                     False)]:
        db.ensure_connection()
        kept = db.connection
        during.append(breaks)
        assert handler.serve(RequestFactory().get("/cookie").environ)[0] == "200 OK"
        assert (db.connection is None) is closed and not db.errors_occurred
        assert closed or db.connection is kept
    usable[0] = False
    during.append(lambda: setattr(db, "errors_occurred", True))
    assert handler.serve(RequestFactory().get("/cookie").environ)[0] == "200 OK"
    assert db.connection is None


@pytest.mark.django_db(transaction=True)
def test_initialized_caches_are_closed_as_django_closes_them(settings, djangos_receivers):
    """Every initialized cache's close() at request_finished (a backend with its own close), the same calls as
    under Django's handler; a cache the thread never used is not made; caches configured anew are the ones closed."""
    settings.ROOT_URLCONF = __name__
    backend = f"{__name__}._RecordingCache"
    two = {"default": {"BACKEND": backend, "LOCATION": "default"}, "other": {"BACKEND": backend, "LOCATION": "other"}}
    django_handler, handler = WSGIHandler(), Handler()

    def closes(app, used: str) -> list:
        _RecordingCache.closes.clear()
        assert _answers(app, RequestFactory().get(f"/caches?caches={used}").environ)[0] == "200 OK"
        return sorted(_RecordingCache.closes)

    with override_settings(CACHES=two):
        for used, expected in [("other", ["other"]), ("", ["other"]), ("default", ["default", "other"]),
                               ("", ["default", "other"])]:
            assert closes(django_handler, used) == expected
            assert closes(handler, used) == expected
        assert handler_module._caches() == caches.all(initialized_only=True)
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": "renewed"}}):
        assert closes(handler, "") == []  # a new storage: nothing initialized in it yet
        assert closes(handler, "default") == ["renewed"]
        closed = caches["default"]
        assert closes(handler, "") == ["renewed"]
        assert handler_module._caches() == [closed]


def test_the_kept_lists_are_the_threads_and_the_contexts(settings):
    """_Initialized gives what Django lists, in another thread, in another context, before and after every alias
    is initialized."""
    backend = f"{__name__}._RecordingCache"
    with override_settings(CACHES={"default": {"BACKEND": backend, "LOCATION": "d"},
                                   "other": {"BACKEND": backend, "LOCATION": "e"}}):
        def both() -> tuple:
            return handler_module._caches(), caches.all(initialized_only=True)

        assert both() == ([], [])
        caches["other"]
        assert both() == ([caches["other"]], [caches["other"]])
        caches["default"]
        here = both()
        assert here[0] == here[1] == [caches["default"], caches["other"]] and both()[0] is here[0]  # kept
        elsewhere, context = [], contextvars.copy_context()
        for run in (both, lambda: context.run(both)):  # a thread of its own, this context carried to another
            thread = threading.Thread(target=lambda run=run: elsewhere.append(run()))
            thread.start()
            thread.join()
        assert elsewhere == [([], []), ([], [])]
        assert contextvars.Context().run(both) == ([], [])
        assert contextvars.copy_context().run(both) == here


@pytest.mark.django_db(transaction=True)
def test_a_streaming_or_file_responses_closers_run(settings, djangos_receivers, tmp_path):
    """Its content's close() and the file's, each closer even after one fails (ignored, as Django ignores it),
    then request_finished; the same as under Django's handler."""
    settings.ROOT_URLCONF = __name__
    heard = []

    def finished(**kwargs):
        heard.append("finished")

    (tmp_path / "data.bin").write_bytes(b"a file's bytes")
    django_handler, handler = WSGIHandler(), Handler()
    signals.request_finished.connect(finished)
    try:
        for app in (django_handler, handler):
            for query, closes in [("", ["first", "second"]), ("?raises=1", ["first", "second"])]:
                _Chunks.closes.clear()
                heard.clear()
                assert _answers(app, RequestFactory().get(f"/streaming{query}").environ)[2] == b"streamed first"
                assert _Chunks.closes == closes and heard == ["finished"]
            _Chunks.closes.clear()
            environ = RequestFactory().get("/file", {"name": str(tmp_path / "data.bin")}).environ
            assert _answers(app, environ)[2] == b"a file's bytes"
            assert _Chunks.closes[0].closed
    finally:
        signals.request_finished.disconnect(finished)
    with djangos_receivers_inline():
        for query in ("", "?raises=1"):
            _Chunks.closes.clear()
            assert _answers(handler, RequestFactory().get(f"/streaming{query}").environ)[2] == b"streamed first"
            assert _Chunks.closes == ["first", "second"]
        environ = RequestFactory().get("/file", {"name": str(tmp_path / "data.bin")}).environ
        _Chunks.closes.clear()
        assert _answers(handler, environ)[2] == b"a file's bytes" and _Chunks.closes[0].closed
        set_urlconf("elsewhere")
        response = HttpResponse(b"closed here")
        response._handler_class = WSGIHandler
        response._resource_closers.append(lambda: _Chunks.closes.append("closer"))
        handler_module.close(response)
        assert response.closed and not response._resource_closers and _Chunks.closes[-1] == "closer"
        assert get_urlconf() is None


class djangos_receivers_inline:
    """Asserts the inline way is taken for request_finished inside the block."""

    def __enter__(self):
        assert handler_module._finished.current()[2] is True

    def __exit__(self, *exc):
        return False


# ---- the request class (config/handler.py's Request, `_script_name`, `_path_info`) ----

# sha256 of Django 5.2's WSGIRequest.__init__ source text, the method config/handler.py's Request restates
_DJANGOS_WSGIREQUEST_INIT_SHA256 = "484035aace3128a9773e844dcd09e44c11324751b97b331307768183d94d649a"


def test_wsgirequests_init_is_the_one_restated():
    """config/handler.py's Request restates Django's WSGIRequest.__init__: fails when Django's changes."""
    djangos = inspect.getsource(WSGIRequest.__init__)
    assert hashlib.sha256(djangos.encode()).hexdigest() == _DJANGOS_WSGIREQUEST_INIT_SHA256, (
        "Django's WSGIRequest.__init__ changed: restate config/handler.py's Request from it")
    ours = inspect.getsource(handler_module.Request.__init__)
    restated = (djangos.replace("get_script_name(environ)", "_script_name(environ)")
                .replace('get_path_info(environ) or "/"', "_path_info(environ)")
                .replace('replace("/", "", 1))\n', 'replace("/", "", 1))  # noqa: UP031 - Django\'s\n'))
    assert ours == restated


def _environs():
    latin = "/caf\xc3\xa9"  # UTF-8 bytes of "café" as a WSGI server passes them (ISO-8859-1)
    broken = "/bad\xff\xfe"  # not UTF-8: Django percent-encodes it
    paths = ["/api/x/", "", "/", "//double", latin, broken, "/with%20space", "/a;b"]
    scripts = [None, "", "/mount", "/mount/", latin, broken]
    types = [None, "", "application/json", "application/json; charset=utf-8", "text/plain;charset=latin-1",
             "text/plain; charset=no-such-codec", "multipart/form-data; boundary=xyz", "APPLICATION/JSON"]
    for path_info in paths:
        for script in scripts:
            for content_type in types[:3] if script else types:
                environ = RequestFactory().generic("POST", "/x").environ
                environ.pop("SCRIPT_NAME", None)
                environ["PATH_INFO"] = path_info
                if script is not None:
                    environ["SCRIPT_NAME"] = script
                environ.pop("CONTENT_TYPE", None)
                if content_type is not None:
                    environ["CONTENT_TYPE"] = content_type
                yield environ
    for extra in ({"SCRIPT_URL": "/mount/api/x/"}, {"REDIRECT_URL": "/mount//api/x/"}, {"SCRIPT_URL": ""},
                  {"CONTENT_LENGTH": "12"}, {"CONTENT_LENGTH": "nope"}, {"REQUEST_METHOD": "get"}):
        environ = RequestFactory().generic("POST", "/x").environ
        environ.update({"PATH_INFO": "/api/x/", "SCRIPT_NAME": "/not-the-rewritten-one", **extra})
        yield environ


def _state(request) -> dict:
    state = dict(vars(request))
    stream = state.pop("_stream")
    state.pop("environ"), state.pop("META")
    return {**state, "stream": (type(stream), stream._pos, stream.limit), "encoding": request.encoding,
            "order": list(vars(request)), "meta": dict(request.META)}


@pytest.mark.parametrize("force", [None, "", "/forced"])
def test_requests_are_djangos(settings, force):
    """Request(environ) holds what WSGIRequest(environ) holds (attributes in order, META, the stream's limit, the
    encoding) for paths and script names ASCII, Latin-1-carried UTF-8 and broken UTF-8, rewritten URLs, content
    types with and without a charset, FORCE_SCRIPT_NAME unset, empty and set; the handler's prefix likewise."""
    settings.FORCE_SCRIPT_NAME = force
    from django.core.handlers.wsgi import get_script_name

    def outcome(make, environ):
        try:
            made = make(dict(environ))
        except Exception as exc:
            return type(exc), str(exc)
        return _state(made) if isinstance(made, WSGIRequest) else made

    seen = 0
    for environ in _environs():
        assert outcome(handler_module.Request, environ) == outcome(WSGIRequest, environ), environ
        assert outcome(handler_module._script_name, environ) == outcome(get_script_name, environ), environ
        seen += 1
    assert seen > 200


def test_force_script_name_is_read_again_after_a_change(settings):
    environ = RequestFactory().get("/x").environ
    settings.FORCE_SCRIPT_NAME = None
    assert handler_module._script_name(environ) == ""
    settings.FORCE_SCRIPT_NAME = "/forced"
    assert handler_module._script_name(environ) == "/forced"
    assert Handler().request_class is handler_module.Request


# ---- close_old_connections' work on one connection (config/handler.py's `_close_if_unusable_or_obsolete`) ----

# sha256 of Django 5.2's source texts the handler restates (close_if_unusable_or_obsolete) or relies on (get_autocommit:
# ensure_connection, then the autocommit attribute); ensure_connection and async_unsafe are guarded in
# tests/core/test_prepared_connection.py
_DJANGOS_CLOSE_SOURCES = {
    "close_if_unusable_or_obsolete": "9e0690a760eb710d7259a5878f6fd2052dd2718f95d7f64931526a6554be1a51",
    "get_autocommit": "76bded862b792fc64d1f99a2a62e4495c885f055e4595e72631db37513314313",
}


@pytest.mark.parametrize("name", list(_DJANGOS_CLOSE_SOURCES))
def test_the_connection_close_restated_is_djangos(name):
    """config/handler.py's `_close_if_unusable_or_obsolete` restates BaseDatabaseWrapper.close_if_unusable_or_obsolete
    and reads get_autocommit's answer as `ensure_connection()` then `autocommit`: fails when Django's change."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    source = inspect.getsource(getattr(BaseDatabaseWrapper, name))
    assert hashlib.sha256(source.encode()).hexdigest() == _DJANGOS_CLOSE_SOURCES[name], (
        f"Django's BaseDatabaseWrapper.{name} changed: restate config/handler.py's _close_if_unusable_or_obsolete")
    if name == "close_if_unusable_or_obsolete":  # its steps after `if self.connection is not None:`, as ours has them
        steps = source.split("if self.connection is not None:\n", 1)[1]
        restated = textwrap.dedent(steps.replace("self.get_autocommit()", "conn.autocommit").replace("self.", "conn."))
        ours = textwrap.dedent(inspect.getsource(handler_module._close_if_unusable_or_obsolete).split(
            "        return\n", 1)[1])
        assert ours.strip() == restated.strip()


def _connection_states():
    """(name, set-up) of a connection at close_old_connections: each leaves `db` in one state."""
    def past(db):
        db.close_at = time.monotonic() - 1

    def future(db):
        db.close_at = time.monotonic() + 600

    def forever(db):
        db.close_at = None

    def no_autocommit(db):
        db.set_autocommit(False)

    def error(db):
        db.errors_occurred = True

    def unusable_error(db):
        db.errors_occurred = True
        db.is_usable = lambda: False

    def closed(db):
        db.close()

    def checked(db):
        db.health_check_done = True

    return [("young", future), ("forever", forever), ("obsolete", past), ("no autocommit", no_autocommit),
            ("error, usable", error), ("error, unusable", unusable_error), ("closed", closed),
            ("health checked", checked), ("error and obsolete", lambda db: (error(db), past(db))),
            ("no autocommit and error", lambda db: (no_autocommit(db), error(db)))]


def _after(db) -> tuple:
    return (db.connection is None, db.errors_occurred, db.health_check_done, db.get_autocommit()
            if db.connection is not None else None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("state", [name for name, _ in _connection_states()])
def test_connections_are_closed_as_django_closes_them(state, monkeypatch):
    """From each state, `_close_if_unusable_or_obsolete` leaves the connection as Django's method leaves it: closed
    or kept, the error flag, health_check_done, autocommit."""
    (setup,) = [setup for name, setup in _connection_states() if name == state]
    db = connections["default"]
    monkeypatch.setitem(db.settings_dict, "CONN_MAX_AGE", 600)
    outcomes = []
    for close in (db.close_if_unusable_or_obsolete, lambda: handler_module._close_if_unusable_or_obsolete(db)):
        db.close()
        db.ensure_connection()
        setup(db)
        close()
        outcomes.append(_after(db))
        vars(db).pop("is_usable", None)
        if db.connection is not None and not db.get_autocommit():
            db.set_autocommit(True)
    assert outcomes[0] == outcomes[1]


@pytest.mark.django_db(transaction=True)
def test_an_open_connection_is_checked_without_djangos_method(monkeypatch):
    """The usual case (open, in autocommit, no error, young) runs neither Django's method nor async_unsafe's loop
    check (the get_autocommit -> ensure_connection pair, twice a request): fails with Django's method called."""
    import django.utils.asyncio as django_asyncio
    from django.db.backends.base.base import BaseDatabaseWrapper

    db = connections["default"]
    monkeypatch.setitem(db.settings_dict, "CONN_MAX_AGE", 600)
    db.ensure_connection()
    db.close_at = time.monotonic() + 600
    loops, called = [], []
    real = django_asyncio.get_running_loop
    monkeypatch.setattr(django_asyncio, "get_running_loop", lambda: (loops.append(1), real())[1])
    djangos = BaseDatabaseWrapper.close_if_unusable_or_obsolete.__code__

    def profile(frame, event, arg):
        if event == "call" and frame.f_code is djangos:
            called.append(1)

    sys.setprofile(profile)
    try:
        handler_module._close_if_unusable_or_obsolete(db)
    finally:
        sys.setprofile(None)
    assert db.connection is not None and not db.health_check_done
    assert loops == [] and called == []


@pytest.mark.django_db(transaction=True)
def test_a_running_loop_or_a_patched_method_is_djangos_way(monkeypatch, async_unsafe_refused):
    """In a running event loop get_autocommit's ensure_connection refuses, as under Django's method; a method
    patched on the connection (close_if_unusable_or_obsolete, get_autocommit, ensure_connection; set by setitem:
    monkeypatch.setattr's undo would leave a bound method in the instance's dict) is the one called."""
    import asyncio

    from django.core.exceptions import SynchronousOnlyOperation

    db = connections["default"]
    db.ensure_connection()
    db.close_at = None  # young: only the loop refuses

    async def inside(close):
        with pytest.raises(SynchronousOnlyOperation):
            close(db)

    asyncio.run(inside(lambda conn: conn.close_if_unusable_or_obsolete()))
    asyncio.run(inside(handler_module._close_if_unusable_or_obsolete))
    calls = []
    monkeypatch.setitem(vars(db), "get_autocommit", lambda: calls.append("get_autocommit") or False)
    handler_module._close_if_unusable_or_obsolete(db)  # Django's method, asking the patched get_autocommit
    assert calls == ["get_autocommit"] and db.connection is None
    monkeypatch.undo()
    db.ensure_connection()
    monkeypatch.setitem(vars(db), "close_if_unusable_or_obsolete", lambda: calls.append("close"))
    handler_module._close_if_unusable_or_obsolete(db)
    assert calls == ["get_autocommit", "close"] and db.connection is not None
    monkeypatch.undo()
    db.close_at = None  # young: kept
    real = type(db).ensure_connection
    monkeypatch.setattr(type(db), "ensure_connection", lambda conn: calls.append("ensure") or real(conn))
    handler_module._close_if_unusable_or_obsolete(db)  # an ensure_connection of the class's own: called
    assert calls == ["get_autocommit", "close", "ensure"] and db.connection is not None
    monkeypatch.undo()
    monkeypatch.setitem(vars(db), "ensure_connection", lambda: calls.append("own ensure"))
    handler_module._close_if_unusable_or_obsolete(db)  # one set on the instance: called
    assert calls == ["get_autocommit", "close", "ensure", "own ensure"] and db.connection is not None
