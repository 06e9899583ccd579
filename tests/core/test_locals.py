"""config/handler.py writes Django's urlconf and script prefix Locals only when their value changes: requests served
one after the other through it see what they see through Django's WSGIHandler (resolution, reverse, the script
prefix, a middleware's request.urlconf, a view's set_urlconf, writes between requests), and a request like the one
before writes neither Local. docs/performance.md, "Fourteenth step: asgiref Locals per request"."""

from __future__ import annotations

import contextvars
import inspect
import json
import textwrap
import threading

import pytest
from asgiref.local import Local
from django.core.handlers.base import BaseHandler
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import base as urls_base
from django.urls import (
    clear_script_prefix,
    get_resolver,
    get_script_prefix,
    get_urlconf,
    include,
    path,
    resolve,
    reverse,
    set_script_prefix,
    set_urlconf,
)

from config import handler as handler_module
from config.handler import Handler
from config.http_threads import run_wsgi
from tests.core.test_handler import djangos_receivers  # noqa: F401 - the fixture, used by name


def _where(request):
    urlconf = get_resolver(get_urlconf()).urlconf_name
    return HttpResponse(json.dumps({
        "reverse": reverse("where"), "urlconf": getattr(urlconf, "__name__", urlconf),
        "match": request.resolver_match.route, "prefix": get_script_prefix(), "resolve": resolve("/where").route,
        "absolute": request.build_absolute_uri(reverse("where"))}))


def _sets(request):
    set_urlconf(_Other)  # a view's own set_urlconf: Django unsets it at request_finished
    return _where(request)


def _writes_prefix(request):
    set_script_prefix("/from-a-view")
    return _where(request)


class _Other:
    """Another urlconf, which `_Switching` gives a request as request.urlconf."""

    urlpatterns = [path("there", _where, name="where"), path("where", _where, name="other")]


class _Switching:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.GET.get("to") == "other":
            request.urlconf = _Other
        elif request.GET.get("to") == "none":
            request.urlconf = None
        return self.get_response(request)


urlpatterns = [path("where", _where, name="where"), path("sets", _sets), path("prefix", _writes_prefix),
               path("", include("config.urls"))]  # the 404 page's links


def _environ(target: str, script_name: str = "") -> dict:
    environ = RequestFactory().get(target).environ
    environ["SCRIPT_NAME"] = script_name
    return environ


def _between_prefix():
    set_script_prefix("/between")


def _between_urlconf():
    set_urlconf(_Other)


def _between_clear():
    clear_script_prefix()


_SEQUENCE = [("/where", ""), ("/where", ""), ("/where", "/mount"), ("/where", "/mount"), ("/where", "/mount/"),
             ("/where", ""), ("/there?to=other", ""), ("/where", ""), ("/there", ""), ("/where?to=none", ""),
             ("/sets", ""), ("/where", ""), ("/prefix", "/mount"), ("/where", "/mount"), _between_prefix,
             ("/where", ""), ("/where", ""), _between_urlconf, ("/where", ""), ("/where", "/mount"),
             _between_clear, ("/where", "/mount"), ("/nowhere", ""), ("/where?to=other", ""), ("/where", "")]


def _served(handler) -> list:
    """Each request's answer and what the thread's Locals read after it, the writes between requests done."""
    seen = []
    for step in _SEQUENCE:
        if callable(step):
            step()
            continue
        status, _, body = run_wsgi(handler, _environ(*step))
        urlconf = get_urlconf()
        seen.append((step, status, body, getattr(urlconf, "__name__", urlconf), get_script_prefix()))
    return seen


def _storages() -> tuple:
    return urls_base._urlconfs._storage._data.get(None), urls_base._prefixes._storage._data.get(None)


@pytest.fixture
def served(settings):
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = [f"{__name__}._Switching"]
    settings.ALLOWED_HOSTS = ["testserver"]
    set_urlconf(None)
    yield
    set_urlconf(None)
    clear_script_prefix()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("djangos_receivers", "served")
def test_requests_see_what_they_see_under_djangos_handler():
    expected = _served(WSGIHandler())
    clear_script_prefix()
    assert _served(Handler()) == expected
    bodies = {json.loads(body)["reverse"] for _, status, body, _, _ in expected if status.startswith("200")}
    assert bodies == {"/where", "/mount/where", "/there", "/from-a-view/where"}  # the sequence reaches every case


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("djangos_receivers", "served")
def test_a_request_like_the_one_before_writes_neither_local():
    handler = Handler()
    run_wsgi(handler, _environ("/where"))
    run_wsgi(handler, _environ("/where"))
    before = _storages()
    status, _, body = run_wsgi(handler, _environ("/where"))
    assert status == "200 OK" and json.loads(body)["reverse"] == "/where"
    assert _storages() == before and before[0] is _storages()[0] and before[1] is _storages()[1]
    assert get_urlconf() is None and get_script_prefix() == "/"
    # a middleware's request.urlconf is unset at the end; the next request writes nothing again
    assert json.loads(run_wsgi(handler, _environ("/there?to=other"))[2])["urlconf"] == "_Other"
    assert get_urlconf() is None
    run_wsgi(handler, _environ("/where"))
    before = _storages()
    run_wsgi(handler, _environ("/where"))
    assert _storages()[0] is before[0] and _storages()[1] is before[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("djangos_receivers", "served")
def test_another_thread_or_context_does_not_use_this_ones_notes():
    handler = Handler()
    run_wsgi(handler, _environ("/where", "/mount"))
    run_wsgi(handler, _environ("/where", "/mount"))
    assert handler_module._urlconf.value() is None and handler_module._prefix.value() == "/mount"
    elsewhere = []

    def notes():
        return handler_module._urlconf.value(), handler_module._prefix.value()

    thread = threading.Thread(target=lambda: elsewhere.append(notes()))
    thread.start()
    thread.join()
    assert elsewhere == [(handler_module._UNKNOWN, handler_module._UNKNOWN)]
    assert contextvars.Context().run(notes) == (handler_module._UNKNOWN, handler_module._UNKNOWN)
    assert contextvars.copy_context().run(notes) == (None, "/mount")
    answers = []  # served in a thread of its own: Django's way there, the same answer
    thread = threading.Thread(target=lambda: answers.append(
        (run_wsgi(handler, _environ("/where", "/mount"))[2], get_urlconf(), get_script_prefix())))
    thread.start()
    thread.join()
    assert json.loads(answers[0][0])["reverse"] == "/mount/where" and answers[0][1:] == (None, "/mount/")


def test_asgirefs_storage_is_watched():
    """The fast way is on: asgiref's Local keeps its storage as `_Written` relies on (fails when asgiref changes it;
    then the handler writes both Locals as Django does, and this says the saving is lost)."""
    assert handler_module._urlconf.var is urls_base._urlconfs._storage._data
    assert handler_module._prefix.var is urls_base._prefixes._storage._data
    assert isinstance(handler_module._urlconf.var, contextvars.ContextVar)


def test_a_storage_that_cannot_be_watched_is_never_trusted():
    critical = Local(thread_critical=True)  # a threading.local: no context variable to watch
    written = handler_module._Written(critical, "t", lambda v: None, lambda: None, "x")
    assert written.var is handler_module._NEVER
    written.noted(None)
    assert written.value() is handler_module._UNKNOWN

    class _InPlace:
        """A storage changed in place: the variable's object stays the same across writes."""

        def __init__(self):
            self._data = contextvars.ContextVar("in place")

    local = type("L", (), {})()
    local._storage = _InPlace()
    held: dict = {}

    def write(value):
        if local._storage._data.get(None) is None:
            local._storage._data.set(held)
        if value is None:
            held.pop("v", None)
        else:
            held["v"] = value

    assert handler_module._watchable(local, write, lambda: held.get("v"), "x") is handler_module._NEVER
    assert handler_module._watchable(local, lambda v: None, lambda: None, "x") is handler_module._NEVER


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("djangos_receivers", "served")
def test_without_a_watched_storage_the_locals_are_written_as_django_writes_them(monkeypatch):
    critical = Local(thread_critical=True)
    for name in ("_urlconf", "_prefix"):
        monkeypatch.setattr(handler_module, name, handler_module._Written(critical, name, None, None, None))
    expected = _served(WSGIHandler())
    clear_script_prefix()
    handler = Handler()
    assert _served(handler) == expected
    before = _storages()
    run_wsgi(handler, _environ("/where"))
    assert _storages()[0] is not before[0] and _storages()[1] is not before[1]


def test_get_response_restated_is_djangos():
    """Handler.get_response restates BaseHandler.get_response (Django 5.2) less its set_urlconf: fails when Django's
    changes, to be restated again."""
    assert textwrap.dedent(inspect.getsource(BaseHandler.get_response)) == textwrap.dedent('''\
        def get_response(self, request):
            """Return an HttpResponse object for the given HttpRequest."""
            # Setup default url resolver for this thread
            set_urlconf(settings.ROOT_URLCONF)
            response = self._middleware_chain(request)
            response._resource_closers.append(request.close)
            if response.status_code >= 400:
                log_response(
                    "%s: %s",
                    response.reason_phrase,
                    request.path,
                    response=response,
                    request=request,
                )
            return response
        ''')
