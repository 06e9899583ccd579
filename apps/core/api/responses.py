"""`api_response(data, status)`: DRF's `Response(data, status=status)` for the hottest handlers (a flow run's and
a task run's create, set_state and read, the flow run filter, a log batch), made without the four `__init__`
it passes through (DRF's, SimpleTemplateResponse's, HttpResponse's, HttpResponseBase's: about 40 Python calls
of a request that makes 1,000-1,500). The instance is the same: a `Response` with the same attributes and
values (tests/core/test_api_response.py compares `__dict__` for many data and statuses and the installed
Django and DRF); anything unusual (a Serializer as data, a status that is not an int in range, a charset that
needs converting) is `Response(...)` itself.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from django.conf import settings
from django.http.response import ResponseHeaders
from rest_framework.response import Response
from rest_framework.serializers import Serializer

_CONTENT_TYPE: dict = {}  # DEFAULT_CHARSET -> the Content-Type item HttpResponseBase stores for it


def _content_type(charset: str) -> tuple:
    item = _CONTENT_TYPE.get(charset)
    if item is None:
        item = _CONTENT_TYPE[charset] = next(iter(Response().headers._store.items()))
    return item


def api_response(data=None, status: int | None = None) -> Response:
    """`Response(data, status=status)`, the same instance made directly (see the module's docstring)."""
    charset = settings.DEFAULT_CHARSET
    if ((status is not None and (type(status) is not int or not 100 <= status <= 599))
            or isinstance(data, Serializer) or type(charset) is not str or not charset.isascii()):
        return Response(data, status=status)
    response = Response.__new__(Response)
    headers = ResponseHeaders(None)
    lower, item = _content_type(charset)
    headers._store[lower] = item
    state = response.__dict__
    state.update(template_name=None, context_data=None, using=None, _post_render_callbacks=[], _request=None,
                 headers=headers, _charset=None, _resource_closers=[], _handler_class=None, cookies=SimpleCookie(),
                 closed=False)
    if status is not None:
        state["status_code"] = status
    state.update(_reason_phrase=None, _container=[b""], _is_rendered=False, data=data, exception=False,
                 content_type=None)
    return response
