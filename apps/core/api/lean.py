"""A lean dispatch for the hottest API endpoints (a flow run's and a task run's create, set_state and read,
the flow run filter, a log batch, a worker's poll and heartbeat): the same view class and handler, the same
authentication, tenant, rate limit, permission and read-only checks (the base view's own methods) and the
same error handler and renderer, without DRF's per-request Request/negotiation/versioning machinery (about
a tenth of such a request's CPU, docs/performance.md).

Only the plain case takes it: the method the view names (POST, or GET for a read) with
`Authorization: Bearer <key>` that authenticates, for POST a JSON body that parses, an Accept of JSON (or
none) and no query string (DRF reads `?format=`). Anything else (no or a failing key, a session, a body DRF
would answer 400 or 415, one holding the escape `\\u0000` (DRF's parser, apps/core/api/parsers.py, decides
on it), another method such as HEAD or OPTIONS, another media type) goes through DRF's own dispatch
unchanged, so every error of those is DRF's. A GET's body is never read (DRF reads none for a handler that
does not ask for it). tests/core/test_lean.py compares both dispatches response by response.
"""

from __future__ import annotations

import functools
from io import BytesIO
from json import JSONDecoder

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.signals import setting_changed
from django.http.cookie import SimpleCookie
from django.http.response import ResponseHeaders
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.utils.json import strict_constant

from apps.core.api.errors import exception_handler
from apps.core.api.parsers import NUL_ESCAPE
from apps.core.api.renderers import JSONRenderer, render_json
from apps.identity.authentication import ApiKeyAuthentication

_JSON_ACCEPT = frozenset({"", "*/*", "application/json"})
_JSON_CONTENT = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
_AUTHENTICATION = ApiKeyAuthentication()
# The project's renderer (DEFAULT_RENDERER_CLASSES, apps/core/api/renderers.py): its `render` for an Accept
# without an indent is the body DRF's dispatch writes (orjson's, or json's where orjson refuses the data);
# `render_json` itself when its settings are DRF's defaults (read once: JSONRenderer reads them at import).
_RENDERER = JSONRenderer()
_RENDER = render_json if _RENDERER.plain() else _RENDERER.render
# DRF's json.loads (its parse_constant refuses NaN and Infinity) of a str, as one decoder made once: json.loads
# with keyword arguments makes this decoder per call; a BOM is refused either way (a ValueError: DRF answers).
_DECODE = JSONDecoder(parse_constant=strict_constant).decode
# Per lean view class: whether its instances get a `head`, DRF's default_response_headers, their names in order,
# and those headers as a response stores them.
_VIEW_HEADERS: dict = {}


class LeanRequest:
    """What a handler reads of DRF's Request (data, query_params, user, auth, the HttpRequest's attributes)."""

    def __init__(self, http_request, data, user, auth):
        self._request, self.data, self.user, self.auth = http_request, data, user, auth
        http_request.user, http_request.auth = user, auth  # as DRF's Request sets them (middleware reads them)
        self.method = http_request.method  # read several times a request: no __getattr__ for it (it never changes)

    @property
    def query_params(self):
        return self._request.GET

    def __getattr__(self, name):
        return getattr(self._request, name)


def _plain(request) -> bool:
    meta = request.META
    header = meta.get("HTTP_AUTHORIZATION", "")
    method = request.method
    return ((method == "GET" or (method == "POST" and meta.get("CONTENT_TYPE", "").lower() in _JSON_CONTENT))
            and header[:7].lower() == "bearer " and len(header.split()) == 2
            and meta.get("HTTP_ACCEPT", "").strip() in _JSON_ACCEPT
            and not meta.get("QUERY_STRING"))  # DRF reads `?format=` (its renderer, or 404): DRF answers


def _body(request) -> bytes:
    """`request.body` when nothing has read it yet, for the input this project's servers give
    (config/http_threads.py's `_environ`: the whole body in a BytesIO, CONTENT_LENGTH its length): those bytes,
    taken from the BytesIO without reading it, after Django's size check (CONTENT_LENGTH against
    DATA_UPLOAD_MAX_MEMORY_SIZE, RequestDataTooBig; a CONTENT_LENGTH int() refuses raises its ValueError, as
    Django's check does). Django would read the same bytes through its LimitedStream of CONTENT_LENGTH (at most
    the limit and one byte more, which a body within the limit is). The input is left unread, so whatever reads
    `request.body` later (DRF's dispatch when the lean one steps aside) reads it as before. Any other input (a
    test client's, a spooled file, an input read or with another length) is Django's `request.body`."""
    meta = request.META
    stream = meta.get("wsgi.input")
    if type(stream) is BytesIO and not stream.tell():
        raw = stream.getvalue()  # the BytesIO's own bytes object: no copy
        length = int(meta.get("CONTENT_LENGTH") or 0)
        if length == len(raw):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            if limit is not None and length > limit:
                raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
            return raw
    return request.body


def lean_prepare(request):
    """(user, auth, data) for the plain case of POST or GET, or None: let DRF answer (see the module's
    docstring). A GET's data is DRF's for a request without a body media type, `{}`."""
    if not settings.PRAETOR_LEAN_VIEWS:
        return None
    return lean_prepare_on(request)


def lean_prepare_on(request):
    """`lean_prepare` once PRAETOR_LEAN_VIEWS is known to be on (apps/core/lean_middleware.py has read it)."""
    if not _plain(request):
        return None
    try:
        authenticated = _AUTHENTICATION.authenticate(request)
        if request.method == "GET":
            return None if authenticated is None else (*authenticated, {})
        body = _body(request)
        # DRF's strict JSON (no NaN/Infinity), UTF-8 only; an empty body is DRF's {}.
        data = _DECODE(body.decode("utf-8")) if body else None
    except (exceptions.AuthenticationFailed, ValueError, RequestDataTooBig):
        return None
    if authenticated is None or not body or NUL_ESCAPE in body:
        return None  # DRF answers: 401, 400 for a body it cannot parse, 422 for a NUL (apps/core/api/parsers.py)
    return (*authenticated, data)


def _lean_dispatch(view_class, initkwargs, request, kwargs, user, auth, data):
    lean = LeanRequest(request, data, user, auth)
    self = view_class(**initkwargs)
    self.request, self.args, self.kwargs, self.format_kwarg = lean, (), kwargs, None
    known = _VIEW_HEADERS.get(view_class)
    if known is None:  # Allow (and Vary): from the class's handlers and renderers, the same for every request
        # Whether Django's View.setup gives the view a `head` (a GET handler and no HEAD handler: the class's)
        head = hasattr(self, "get") and not hasattr(self, "head")
        if head:
            self.head = self.get
        headers = self.default_response_headers  # (the Allow header lists HEAD then)
        # ... and as `response[name] = value` stores them (ResponseHeaders checks and keeps a str value as it is)
        probe = ResponseHeaders(None)
        for name, value in headers.items():
            probe[name] = value
        known = _VIEW_HEADERS[view_class] = (head, headers, tuple(headers), tuple(probe._store.items()))
    head, headers, names, stored = known
    if head:
        self.head = self.get  # as Django's View.setup does
    self.headers = dict(headers)
    try:
        # The base view's `initial` after DRF's part (authenticated above; IsAuthenticated holds).
        self.resolve_tenant(lean, kwargs)
        self.rate_limit_draw(lean)
        self.check_declared_permission(lean)
        response = (self.get if request.method == "GET" else self.post)(lean, **kwargs)
    except Exception as exc:
        response = exception_handler(exc, {"view": self, "args": (), "kwargs": kwargs, "request": lean})
        if response is None:
            raise
        response.exception = True
    response.accepted_renderer, response.accepted_media_type = _RENDERER, _RENDERER.media_type
    response.renderer_context = {"view": self, "args": (), "kwargs": kwargs, "request": lean}
    # The usual case, the handler left them alone (the same headers in the same order): stored as the loop stores them.
    if self.headers == headers and tuple(self.headers) == names:
        response.headers._store.update(stored)
    else:
        for name, value in self.headers.items():
            response[name] = value
    # Once the server has sent the response and closed it, nothing reads the view or the context again: break
    # the reference cycles they make (the context holds the response once rendered, a GET view its own `head`)
    # so that reference counting frees the request's objects at once, not the garbage collector later (about
    # forty containers a request, a collection every ~16 requests). Django runs a response's closers at close().
    response._resource_closers.append(functools.partial(_release, response.renderer_context))
    return response


def _content_type_entry() -> tuple:
    """The store entry `ResponseHeaders.__setitem__("Content-Type", _RENDERER.media_type)` makes (its checks and
    conversions done once: the value is a constant)."""
    probe = ResponseHeaders(None)
    probe["Content-Type"] = _RENDERER.media_type
    return probe._store["content-type"]


_CONTENT_TYPE = _content_type_entry()


def _release(context: dict) -> None:
    context.pop("response", None)
    context["view"].__dict__.pop("head", None)


def lean_render(response) -> bool:
    """Render a response of the lean dispatch: `response.render()`, or, for the plain case (a DRF Response of
    data or of none, as a handler returns it, with no headers of its own), the same state by a shorter way (the
    body JSONRenderer writes, then Content-Type, unless the body is empty, and the view's headers stored as
    ResponseHeaders stores them); returns whether it was the plain case. tests/core/test_lean_render.py
    compares both ways."""
    if (type(response) is not Response or response.content_type is not None or response.template_name is not None
            or response._post_render_callbacks or response.cookies or response._is_rendered):
        response.render()
        return False
    data = response.data
    body = b"" if data is None else _RENDER(data)  # JSONRenderer.render's, as DRF's dispatch (no indent asked)
    # What the Response stores once DRF's rendered_content has set (or, the body empty, removed) its type:
    # `headers["Content-Type"] = media_type` (its entry replaced in place, or added last), then `del` if empty;
    # the other entries untouched. The entry as ResponseHeaders.__setitem__ makes it is made once (_CONTENT_TYPE).
    store = response.headers._store
    if body:
        store["content-type"] = _CONTENT_TYPE
    else:
        store.pop("content-type", None)
    response.renderer_context["response"] = response
    response._container = [body]
    response._is_rendered = True
    return True


# Per status: the attributes DRF's Response(None, status=status) gave a response (`_response_model`).
_RESPONSE_MODELS: dict = {}
_new = object.__new__


def _fresh_headers(store: dict) -> ResponseHeaders:
    headers = _new(ResponseHeaders)
    headers._store = store.copy()
    return headers


def _response_model(status):
    """(attributes, fresh) of `Response(None, status=status)`: its attributes in order, and for each mutable one
    (a list, the headers, the empty cookie jar) how to make an equal one for a new response; None (`respond`
    then calls Response) for a status Response refuses or for an attribute of another kind."""
    try:
        model = Response(None, status=status)
    except (TypeError, ValueError):
        return None
    fresh = []
    for name, value in model.__dict__.items():
        kind = type(value)
        if value is None or kind in (bool, int, str, bytes):
            continue
        if kind is list and all(type(item) is bytes for item in value):
            fresh.append((name, list, value))
        elif kind is ResponseHeaders and type(value._store) is dict:
            fresh.append((name, _fresh_headers, value._store))
        elif kind is SimpleCookie and not value:
            fresh.append((name, SimpleCookie, value))  # SimpleCookie(an empty jar): a new empty jar
        else:
            return None
    return dict(model.__dict__), tuple(fresh)


def respond(data=None, status=None) -> Response:
    """`Response(data, status=status)`, the response the hot handlers return: the same object (class, attributes in
    their order, headers, a cookie jar and lists of its own), made from the attributes DRF's constructor gave the
    first response of that status (its work, through Django's HttpResponse, is the same for every one: the status
    checked, the Content-Type worked out from DEFAULT_CHARSET, an empty body encoded, the cookie jar made; about 65 k
    instructions a response, docs/performance.md). Any setting changed, the models are made again.
    tests/core/test_lean_render.py compares both."""
    model = _RESPONSE_MODELS.get(status)
    if model is None:
        if status is not None and type(status) is not int:
            return Response(data, status=status)  # another type (a str, an IntEnum): as DRF converts it
        model = _RESPONSE_MODELS[status] = _response_model(status) or False
    if model is False or isinstance(data, Serializer):
        return Response(data, status=status)  # (DRF refuses a serializer: its error)
    attributes, fresh = model
    response = _new(Response)
    state = response.__dict__
    state.update(attributes)
    for name, make, value in fresh:
        state[name] = make(value)
    state["data"] = data
    return response


def _settings_changed(**kwargs) -> None:
    _RESPONSE_MODELS.clear()  # DEFAULT_CHARSET (the Content-Type) or anything else Response's constructor reads


setting_changed.connect(_settings_changed, dispatch_uid="praetor_lean_response_models")


def lean_view(view_class, method: str = "POST"):
    """`view_class.as_view()`, dispatching the plain case of `method` (POST or GET) itself (see the module's
    docstring); other methods go through DRF. `view.lean_dispatch(request, kwargs, user, auth, data)` runs
    that dispatch for a request of `view.lean_method` that `lean_prepare` accepted
    (apps/core/lean_middleware.py calls it without URL resolution)."""
    if method not in ("POST", "GET") or not callable(getattr(view_class, method.lower(), None)):
        raise TypeError(f"{view_class.__name__} has no {method} handler for a lean dispatch.")
    drf_view = view_class.as_view()

    def view(request, *args, **kwargs):
        prepared = None if args or request.method != method else lean_prepare(request)
        if prepared is None:
            return drf_view(request, *args, **kwargs)
        return _lean_dispatch(view_class, drf_view.initkwargs, request, kwargs, *prepared)

    view.__dict__.update(drf_view.__dict__)  # cls, initkwargs, csrf_exempt: what URL walkers read
    view.__name__, view.__doc__ = drf_view.__name__, drf_view.__doc__
    view.lean_dispatch = functools.partial(_lean_dispatch, view_class, drf_view.initkwargs)
    view.lean_method = method
    return view
