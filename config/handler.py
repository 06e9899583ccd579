"""The WSGI handler both of this project's servers call (config/asgi.py): Django's WSGIHandler, its work around the
middleware chain done for less in the usual case, with the same effects.

Per request Django's handler sends request_started (Signal.send: a lock, the receivers list walked and filtered
by sender, its weak references resolved), whose receivers are Django's own `reset_queries` and
`close_old_connections`, each listing the thread's initialized database connections through asgiref's Local;
at the response's close, request_finished the same way (close_old_connections, close_caches listing the
initialized caches, reset_urlconf); and builds the header list through ResponseHeaders' mapping interface
(Python calls per header). Here:

- request_started and request_finished call the receivers Signal.send would call, in its order, with the same
  arguments, found once and found again whenever the signal's receivers list changes (`_Receivers`: a receiver
  connected or disconnected later, for any sender or this one, is heard as Django would have it heard); when a
  signal's receivers are Django's own alone (request_started: reset_queries, close_old_connections;
  request_finished: close_old_connections, close_caches, reset_urlconf), their work is done inline in their order
  on the thread's initialized database connections and caches (`_Initialized`: what `all(initialized_only=True)`
  lists, kept per thread once every alias is initialized, instead of asking asgiref's Local for each alias at
  each signal).
- the header list is the response's header store as it is (what `items()` yields, in order) when the response
  sets no cookie; otherwise Django's own list, Set-Cookie lines after.
- Django's urlconf and script prefix Locals (asgiref's, 10-25 k instructions a read or write) are written only
  when their value changes, seen through asgiref's storage object (`_Written`): BaseHandler.get_response's
  `set_urlconf(settings.ROOT_URLCONF)` is left out while the thread's urlconf is known unset (`get_urlconf()` then
  reads None, which every reader hands to `get_resolver`: the same resolver), request_finished's reset is left out
  while nothing set it, `set_script_prefix` while the thread holds the prefix this request would set.
- the request (`Request`, WSGIRequest's __init__ restated) and the script prefix take an ASCII SCRIPT_NAME and
  PATH_INFO as they are (`_script_name`, `_path_info`: Django's answer for them, without its settings read and
  re-encodings); anything else is Django's get_script_name and get_path_info.
- `serve` (what config/http_threads.run_wsgi calls) answers (status line, headers, body) without a
  start_response callback, then closes the response (`close`: a class keeping Django's HttpResponseBase.close
  has that method's steps done here, its resource closers then request_finished; any other class's close() is
  called).

The sender of both signals stays WSGIHandler, as before this class, so receivers connected for that sender still
hear them. Exceptions propagate as from Django's handler (the middleware chain turns a view's into a 500 response;
the server answers 500 for the rest). tests/core/test_handler.py compares both handlers request by request.
docs/performance.md, "Tenth step", "Twelfth step: request_finished" and "Fourteenth step: asgiref Locals".
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref

import django
from django.conf import settings
from django.core.cache import caches, close_caches
from django.core.handlers.base import reset_urlconf
from django.core.handlers.wsgi import LimitedStream, WSGIHandler, WSGIRequest, get_path_info, get_script_name
from django.core.signals import request_finished, request_started, setting_changed
from django.db import close_old_connections, connections, reset_queries
from django.db.backends.base.base import BaseDatabaseWrapper
from django.dispatch.dispatcher import NONE_ID, _make_id
from django.http import HttpResponseBase
from django.urls import base as urls_base
from django.urls import get_script_prefix, get_urlconf, set_script_prefix, set_urlconf
from django.utils.log import log_response

from apps.core.prepared import _get_running_loop, _idle_when_connected


class _Receivers:
    """What Signal.send(sender=WSGIHandler, ...) calls: the signal's receivers connected for any sender or for
    WSGIHandler, in the list's order, weak references resolved at each send (a dead one skipped), as
    `Signal._live_receivers` finds them; found again whenever the signal's receivers list differs from the copy
    taken when they were last found (`connect`, `disconnect` and the clearing of dead references all change it;
    comparing is a C list comparison whose entries are the same objects). With an asynchronous receiver the signal
    sends itself (Signal.send runs those through async_to_sync)."""

    __slots__ = ("fused", "signal", "state")

    def __init__(self, signal, fused: tuple = ()):
        self.signal = signal
        self.fused = fused  # receivers whose work `request_started_send` does inline when they are all there are
        self.state: tuple = (None, None, False)  # (the list as copied, its receivers or None, they are `fused`)

    def current(self) -> tuple:
        state = self.state
        receivers = self.signal.receivers
        if receivers != state[0]:
            seen = list(receivers)
            refs = []
            for (_, sender_key), ref, is_async in seen:
                if sender_key in (NONE_ID, _SENDER_ID):
                    if is_async:
                        refs = None
                        break
                    refs.append(ref)
            fused = refs is not None and len(refs) == len(self.fused) and all(
                _resolved(ref) is function for ref, function in zip(refs, self.fused, strict=True))
            state = self.state = (seen, refs, fused)  # one assignment: another thread sees all three or none
        return state

    def send(self, **named) -> None:
        refs = self.current()[1]
        if refs is None:
            self.signal.send(sender=WSGIHandler, **named)
            return
        for ref in refs:
            receiver = _resolved(ref)
            if receiver is not None:
                receiver(signal=self.signal, sender=WSGIHandler, **named)


def _resolved(ref):
    return ref() if isinstance(ref, weakref.ReferenceType) else ref


_SENDER_ID = _make_id(WSGIHandler)
_started = _Receivers(request_started, (reset_queries, close_old_connections))
_finished = _Receivers(request_finished, (close_old_connections, close_caches, reset_urlconf))


class _Initialized:
    """`handler.all(initialized_only=True)` (`connections`, `caches`): the current thread's initialized connections.
    Django lists them by asking asgiref's Local twice for each configured alias (12-16 k instructions a time). An
    alias, once initialized, keeps its connection object where it was made (Django never drops one; only
    Django's test servers replace one, as their threads start, before any request): so once every alias is, the
    list is kept and given again. It is kept in a context variable, tagged with the thread and the handler's
    storage: seen only in this thread and this context (or copies of it), where a thread's database connections
    and a context's caches are the ones listed, and only while the storage is the same object
    (override_settings(CACHES) replaces the caches')."""

    __slots__ = ("handler", "kept")

    def __init__(self, handler, name: str):
        self.handler = handler
        self.kept = contextvars.ContextVar(name)

    def __call__(self) -> list:
        kept, handler = self.kept.get(None), self.handler
        if kept is not None and kept[0] == threading.get_ident() and kept[1] is handler._connections:
            return kept[2]
        listed = handler.all(initialized_only=True)
        if len(listed) == len(handler.settings):
            self.kept.set((threading.get_ident(), handler._connections, listed))
        return listed


_databases = _Initialized(connections, "praetor_initialized_databases")
_caches = _Initialized(caches, "praetor_initialized_caches")

_UNKNOWN = object()


class _Written:
    """What one of Django's asgiref Locals (`django.urls.base._urlconfs`, `_prefixes`) holds in this thread and this
    context, as far as this module wrote it last, seen without reading the Local: reading it (`get_urlconf`,
    `get_script_prefix`) costs 14-25 k instructions (two failed attribute lookups before asgiref's `__getattr__`, a
    KeyError and an AttributeError when unset), more than writing it (10-12 k).

    asgiref (3.13) keeps a Local's values in a context variable (`_CVar._data`) whose value, a thread-tagged storage
    object, is replaced at every set or delete (its dict copied, never changed in place): so while that variable holds
    the same object in the same thread, the Local holds what it held, whoever might have written it since. `value`
    gives what `noted` recorded then, or _UNKNOWN when the variable holds another object (someone wrote the Local), in
    another thread, or before any note. Whether asgiref still works this way is checked once, in a context of its own
    (`_watchable`): if it does not, `value` is always _UNKNOWN and the callers do Django's work as Django does it.
    tests/core/test_locals.py guards both."""

    __slots__ = ("kept", "var")

    def __init__(self, local, name: str, write, read, value):
        self.var = _watchable(local, write, read, value)
        self.kept = contextvars.ContextVar(name)

    def value(self):
        kept = self.kept.get(None)
        if kept is not None and kept[0] == threading.get_ident() and kept[1] is self.var.get(None):
            return kept[2]
        return _UNKNOWN

    def noted(self, value) -> None:
        """The Local holds what `value` says (written or read through Django's functions just now)."""
        if self.var is not _NEVER:
            self.kept.set((threading.get_ident(), self.var.get(None), value))


class _Never:
    """A stand-in for the context variable when asgiref's storage cannot be watched: never the same object."""

    @staticmethod
    def get(default):
        return _UNKNOWN


_NEVER = _Never()


def _watchable(local, write, read, value):
    """The context variable holding `local`'s storage, if asgiref's Local keeps it as `_Written` relies on (a
    replaced object at each write and at each delete, the value read back as written); else _NEVER."""
    storage = vars(local).get("_storage")
    var = vars(storage).get("_data") if hasattr(storage, "__dict__") else None
    if not isinstance(var, contextvars.ContextVar):
        return _NEVER

    def check() -> bool:  # in an empty context of its own: the thread's own Local is not touched
        seen = [var.get(None)]
        write(value)
        seen.append(var.get(None))
        written = read()
        write(None)
        seen.append(var.get(None))
        cleared = read()
        write(None)  # unset already: nothing written, the same object
        seen.append(var.get(None))
        return (seen[0] is None and seen[1] is not None and seen[2] is not None and seen[2] is not seen[1]
                and seen[3] is seen[2] and written is not None and cleared != written)

    return var if contextvars.Context().run(check) else _NEVER


def _write_prefix(prefix) -> None:
    if prefix is None:
        urls_base.clear_script_prefix()
    else:
        set_script_prefix(prefix)


_urlconf = _Written(urls_base._urlconfs, "praetor_urlconf_written", set_urlconf, get_urlconf, "praetor.check")
_prefix = _Written(urls_base._prefixes, "praetor_script_prefix_written", _write_prefix, get_script_prefix,
                   "/praetor-check")


_DJANGOS_CLOSE_IF = BaseDatabaseWrapper.close_if_unusable_or_obsolete
_DJANGOS_GET_AUTOCOMMIT = BaseDatabaseWrapper.get_autocommit
_ensure_idle = (None, False)  # the last class-level ensure_connection met here, and whether it is idle when connected


def _close_if_unusable_or_obsolete(conn) -> None:
    """conn.close_if_unusable_or_obsolete() (close_old_connections' work on one connection, at request_started and
    request_finished): Django 5.2's method restated (tests/core/test_handler.py guards its source and
    get_autocommit's) without get_autocommit's `ensure_connection()`, which on an open connection does nothing but
    refuse a running event loop (~5 k of the method's ~6.7 k instructions, twice a request). Restated when the
    connection is open, no event loop runs, the class's close_if_unusable_or_obsolete and get_autocommit are
    Django's and its ensure_connection Django's or Django's test-case patch of it (prepared.py's
    `_idle_when_connected`; Django's test cases and pytest-django patch it on the class), none of the three set on
    the instance. Anything else is the connection's own method."""
    global _ensure_idle
    cls, own = type(conn), conn.__dict__
    ensure = cls.ensure_connection
    seen = _ensure_idle
    if seen[0] is not ensure:
        seen = _ensure_idle = (ensure, _idle_when_connected(ensure))
    if (not seen[1] or cls.close_if_unusable_or_obsolete is not _DJANGOS_CLOSE_IF
            or cls.get_autocommit is not _DJANGOS_GET_AUTOCOMMIT or "ensure_connection" in own
            or "close_if_unusable_or_obsolete" in own or "get_autocommit" in own
            or conn.connection is None or _get_running_loop() is not None):
        conn.close_if_unusable_or_obsolete()
        return
    conn.health_check_done = False
    # If the application didn't restore the original autocommit setting,
    # don't take chances, drop the connection.
    if conn.autocommit != conn.settings_dict["AUTOCOMMIT"]:
        conn.close()
        return

    # If an exception other than DataError or IntegrityError occurred
    # since the last commit / rollback, check if the connection works.
    if conn.errors_occurred:
        if conn.is_usable():
            conn.errors_occurred = False
            conn.health_check_done = True
        else:
            conn.close()
            return

    if conn.close_at is not None and time.monotonic() >= conn.close_at:
        conn.close()
        return


def request_started_send(environ) -> None:
    """request_started.send(sender=WSGIHandler, environ=environ). With Django's two receivers only, their work
    inline, in their order, on the thread's initialized connections."""
    if not _started.current()[2]:
        _started.send(environ=environ)
        return
    initialized = _databases()
    for conn in initialized:  # reset_queries
        conn.queries_log.clear()
    for conn in initialized:  # close_old_connections
        _close_if_unusable_or_obsolete(conn)


def request_finished_send() -> None:
    """request_finished.send(sender=WSGIHandler). With Django's three receivers only, their work inline, in their
    order, on the thread's initialized connections and caches."""
    if not _finished.current()[2]:
        _finished.send()
        return
    for conn in _databases():  # close_old_connections
        _close_if_unusable_or_obsolete(conn)
    for cache in _caches():  # close_caches (caches.close_all)
        cache.close()
    if _urlconf.value() is not None:  # reset_urlconf, unless the urlconf is known unset (see Handler.get_response)
        set_urlconf(None)
        _urlconf.noted(None)


def close(response) -> None:
    """response.close(), its request_finished sent by request_finished_send when its class keeps Django's
    HttpResponseBase.close (whose steps these are: its resource closers, one's Exception ignored, then
    request_finished; sender: `_handler_class`, WSGIHandler as `Handler._response` sets it)."""
    if type(response).close is not HttpResponseBase.close:
        response.close()
        return
    for closer in response._resource_closers:
        try:  # noqa: SIM105 - Django's very form (contextlib.suppress: a context manager a closer)
            closer()
        except Exception:  # noqa: S110 - ignored, as Django ignores it
            pass
    response._resource_closers.clear()
    response.closed = True
    request_finished_send()


_UNREAD = object()
_force_script_name = _UNREAD  # settings.FORCE_SCRIPT_NAME, read once and again after any settings change


def _settings_changed(**kwargs) -> None:
    global _force_script_name
    _force_script_name = _UNREAD


setting_changed.connect(_settings_changed, dispatch_uid="praetor_handler_force_script_name")


def _script_name(environ) -> str:
    """get_script_name(environ) (Django's, django/core/handlers/wsgi.py), its usual case without its work: with no
    FORCE_SCRIPT_NAME and no SCRIPT_URL or REDIRECT_URL (set by Apache's mod_rewrite), Django answers SCRIPT_NAME
    re-encoded to ISO-8859-1 bytes and decoded as UTF-8, which for an ASCII str is the str itself. Anything else is
    Django's function. (Django's reads the setting through LazySettings and calls get_bytes_from_wsgi three times:
    ~8 k instructions, twice a request, here and in WSGIRequest.)"""
    force = _force_script_name
    if force is _UNREAD:
        force = _read_force_script_name()
    if force is None and not environ.get("SCRIPT_URL") and not environ.get("REDIRECT_URL"):
        name = environ.get("SCRIPT_NAME", "")
        if type(name) is str and name.isascii():
            return name
    return get_script_name(environ)


def _read_force_script_name():
    global _force_script_name
    _force_script_name = force = settings.FORCE_SCRIPT_NAME
    return force


def _path_info(environ) -> str:
    """get_path_info(environ) or "/": an ASCII PATH_INFO is its own answer (re-encoded to ISO-8859-1, percent-encoding
    of broken UTF-8 finding none, decoded as UTF-8); anything else is Django's function."""
    path_info = environ.get("PATH_INFO", "/")
    if type(path_info) is str and path_info.isascii():
        return path_info or "/"
    return get_path_info(environ) or "/"


class Request(WSGIRequest):
    """WSGIRequest, whose __init__ (Django 5.2's, restated; tests/core/test_handler.py guards its source) finds the
    script name and the path by `_script_name` and `_path_info`: the same attributes, in the same order."""

    def __init__(self, environ):
        script_name = _script_name(environ)
        # If PATH_INFO is empty (e.g. accessing the SCRIPT_NAME URL without a
        # trailing slash), operate as if '/' was requested.
        path_info = _path_info(environ)
        self.environ = environ
        self.path_info = path_info
        # be careful to only replace the first slash in the path because of
        # http://test/something and http://test//something being different as
        # stated in RFC 3986.
        self.path = "%s/%s" % (script_name.rstrip("/"), path_info.replace("/", "", 1))  # noqa: UP031 - Django's
        self.META = environ
        self.META["PATH_INFO"] = path_info
        self.META["SCRIPT_NAME"] = script_name
        self.method = environ["REQUEST_METHOD"].upper()
        # Set content_type, content_params, and encoding.
        self._set_content_type_params(environ)
        try:
            content_length = int(environ.get("CONTENT_LENGTH"))
        except (ValueError, TypeError):
            content_length = 0
        self._stream = LimitedStream(self.environ["wsgi.input"], content_length)
        self._read_started = False
        self.resolver_match = None


class Handler(WSGIHandler):
    """WSGIHandler with `serve` for this project's servers; see the module's docstring."""

    request_class = Request

    def _response(self, environ):
        """WSGIHandler.__call__ up to start_response: (response, status line, header list)."""
        prefix = _script_name(environ)
        if _prefix.value() != prefix:  # set_script_prefix, unless this thread's prefix was set from this one
            set_script_prefix(prefix)
            _prefix.noted(prefix)
        request_started_send(environ)
        request = self.request_class(environ)
        response = self.get_response(request)
        response._handler_class = WSGIHandler
        status = "%d %s" % (response.status_code, response.reason_phrase)  # noqa: UP031 - Django's very format
        if response.cookies:
            headers = [*response.items(),
                       *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())]
        else:
            headers = list(response.headers._store.values())
        return response, status, headers

    def get_response(self, request):
        """BaseHandler.get_response, whose first step, `set_urlconf(settings.ROOT_URLCONF)`, is left out when this
        thread's urlconf is known unset (this module's request_finished_send unset it, and nothing wrote it since):
        `get_urlconf()` then answers None instead of ROOT_URLCONF during the request, and every reader of it
        (Django's reverse, resolve, its exception handlers; admindocs) hands it to `get_resolver`, which reads None
        as ROOT_URLCONF, the same cached resolver. A urlconf set during the request (a middleware's `request.urlconf`,
        `set_urlconf`) is unset at its end as Django unsets it."""
        if _urlconf.value() is not None:
            return super().get_response(request)
        response = self._middleware_chain(request)
        response._resource_closers.append(request.close)
        if response.status_code >= 400:
            log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        return response

    def __call__(self, environ, start_response):
        response, status, headers = self._response(environ)
        start_response(status, headers)
        if getattr(response, "file_to_stream", None) is not None and environ.get("wsgi.file_wrapper"):
            response.file_to_stream.close = response.close  # as WSGIHandler: the server closes the wrapper
            response = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        return response

    def serve(self, environ) -> tuple[str, list, bytes]:
        """The answer to `environ` whole, the response closed: what run_wsgi collects from `__call__` (the
        environ carries no wsgi.file_wrapper)."""
        response, status, headers = self._response(environ)
        try:
            body = b"".join(response)
        finally:
            close(response)
        return status, headers, body


def get_wsgi_application() -> Handler:
    """Django's `get_wsgi_application` with this module's Handler: what config/asgi.py and config/wsgi.py serve."""
    django.setup(set_prefix=False)
    return Handler()
