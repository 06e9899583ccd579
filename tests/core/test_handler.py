"""config/handler.py's Handler answers what Django's WSGIHandler answers (status, headers in order, body), sends
request_started and request_finished to the receivers Django's Signal.send would, connected before or after, and
closes database connections that are obsolete at the start and at the end of a request, as Django does."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections, connections
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import get_urlconf, path
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


urlpatterns = [path("cookie", _cookie), path("fails", _fails), path("closing", _closing)]


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
def test_obsolete_connections_are_closed_at_start_and_finish(settings, monkeypatch):
    """Autocommit on (no test transaction): close_old_connections closes the connection past CONN_MAX_AGE before
    the view (request_started) and after it (request_finished), as under Django's handler; a young one is kept
    across requests and its query log emptied."""
    settings.ROOT_URLCONF = __name__
    db = connections["default"]
    assert handler_module._started.current()[2] is True  # Django's own receivers: the inline path
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
