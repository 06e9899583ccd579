"""The answer's rendering without per-request work that gives nothing (docs/performance.md, "Sixteenth step:
the answer's line-separator scan and Content-Type entry ... (branch cache2)"): `render_json` looks for U+2028/U+2029
only in a body that is not all ASCII, and `lean_render` sets the Content-Type entry in the response's header store
rather than rebuilding the store from a copy of its items. Both leave what DRF leaves (tests/core/test_lean_render.py,
tests/core/test_renderers.py compare the whole state); these check the work is not done."""

from __future__ import annotations

import pytest
from django.http.response import ResponseHeaders
from rest_framework.renderers import JSONRenderer as DRFRenderer
from rest_framework.response import Response

from apps.core.api import renderers
from apps.core.api.lean import _CONTENT_TYPE, _RENDERER, lean_render


class _Body(bytes):
    """orjson's bytes, counting substring searches (`in`)."""

    searched = 0

    def __contains__(self, needle):
        type(self).searched += 1
        return bytes.__contains__(self, needle)

    def replace(self, old, new, count=-1):
        return _Body(bytes.replace(self, old, new, count))


@pytest.mark.parametrize("data, searched", [
    ({"id": "0a8b8f8e", "name": "t", "n": 1, "tags": []}, 0),
    ({"text": "plain ascii only, ~!@#$%^&*()"}, 0),
    ({"text": "é, no separators"}, 1),
    ({"text": "a \u2028 line and a \u2029 paragraph separator"}, 1),
    ({"text": "\u2026 \u2013 \u201cquotes\u201d (E2 80 lead bytes that are not separators)"}, 1),
])
def test_the_separators_are_looked_for_only_in_a_body_that_is_not_ascii(monkeypatch, data, searched):
    dumps = renderers._dumps
    monkeypatch.setattr(renderers, "_dumps", lambda *a, **k: _Body(dumps(*a, **k)))
    _Body.searched = 0
    body = renderers.render_json(data)
    assert _Body.searched == searched
    assert bytes(body) == DRFRenderer().render(data)


def test_a_non_ascii_body_is_escaped_as_drf_escapes_it():
    for text in ["\u2028", "\u2029", "x\u2028y\u2029z" * 50, "é\u2028", "\u20ac\u2027\u202a", "漢字 \U0001f600"]:
        assert renderers.render_json({"t": text}) == DRFRenderer().render({"t": text})


class _Store(dict):
    """A header store that refuses being copied, emptied or refilled (the old way's `items`, `clear`, `update`)."""

    def items(self):
        raise AssertionError("the store was copied")

    def clear(self):
        raise AssertionError("the store was emptied")

    def update(self, *args, **kwargs):
        raise AssertionError("the store was refilled")


@pytest.mark.parametrize("data", [{"a": 1}, None, [], "s"])
@pytest.mark.parametrize("view_headers", [{}, {"Allow": "POST, OPTIONS"}, {"Allow": "GET", "Vary": "Accept"}])
def test_lean_render_sets_the_content_type_entry_in_place(data, view_headers):
    def response():
        made = Response(data, status=201)
        made.accepted_renderer, made.accepted_media_type = _RENDERER, _RENDERER.media_type
        made.renderer_context = {"view": object(), "args": (), "kwargs": {}, "request": None}
        for name, value in view_headers.items():
            made[name] = value
        return made

    expected = response().render()
    plain = response()
    store = _Store()
    for name, entry in dict.items(plain.headers._store):
        dict.__setitem__(store, name, entry)
    plain.headers._store = store
    assert lean_render(plain) is True
    assert list(dict.items(store)) == list(expected.headers._store.items())
    assert plain.content == expected.content


def test_the_content_type_entry_is_what_response_headers_stores():
    probe = ResponseHeaders(None)
    probe["Content-Type"] = _RENDERER.media_type
    assert _CONTENT_TYPE == probe._store["content-type"] == ("Content-Type", "application/json")
