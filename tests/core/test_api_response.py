"""`api_response` (apps/core/api/responses.py) makes the instance `Response(data, status=status)` makes: the same
class, the same attributes and values (headers as stored, cookies, the rendered state), for many data and
statuses, and renders the same; anything unusual goes to `Response` itself (its errors included)."""

from __future__ import annotations

import datetime
import uuid

import pytest
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.core.api.responses import api_response

DATA = [None, {}, [], 0, "", "text é \u2028", [{"a": [1, 2.5, None, True]}], 10**30,
        {"id": uuid.uuid4(), "at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}]
STATUSES = [None, 100, 200, 201, 204, 299, 400, 404, 422, 599]


def _state(response) -> dict:
    state = dict(response.__dict__)
    state["headers"] = list(state["headers"]._store.items())
    state["cookies"] = (type(state["cookies"]), dict(state["cookies"]))
    return state


@pytest.mark.parametrize("data", DATA, ids=range(len(DATA)))
@pytest.mark.parametrize("status", STATUSES)
def test_the_same_instance_as_response(data, status):
    expected, got = Response(data, status=status), api_response(data, status=status)
    assert type(got) is Response
    assert _state(got) == _state(expected)
    assert list(got.__dict__) == list(expected.__dict__)  # in the same order
    assert got.status_code == expected.status_code and got._container == expected._container
    for response in (expected, got):
        response.accepted_renderer, response.accepted_media_type = JSONRenderer(), "application/json"
        response.renderer_context = {}
    assert got.render().content == expected.render().content
    assert list(got.headers.items()) == list(expected.headers.items())
    # Its own mutable parts: nothing shared between two responses.
    again = api_response(data, status=status)
    for name in ("headers", "cookies", "_post_render_callbacks", "_resource_closers", "_container"):
        assert getattr(again, name) is not getattr(got, name)
    assert again.headers._store is not got.headers._store


def test_the_default_charset_is_read_per_response(settings):
    settings.DEFAULT_CHARSET = "iso-8859-1"
    assert _state(api_response({"a": 1})) == _state(Response({"a": 1}))
    assert api_response({"a": 1})["Content-Type"] == "text/html; charset=iso-8859-1"


class _Some(serializers.Serializer):
    a = serializers.IntegerField()


@pytest.mark.parametrize("status", ["201", 99, 600, 2.5, True])
def test_anything_unusual_is_response_itself(status):
    try:
        expected = Response({"a": 1}, status=status)
    except Exception as exc:  # the same error either way
        with pytest.raises(type(exc)):
            api_response({"a": 1}, status=status)
    else:
        assert _state(api_response({"a": 1}, status=status)) == _state(expected)
    with pytest.raises(AssertionError, match="Serializer instance"):
        api_response(_Some(data={"a": 1}))
