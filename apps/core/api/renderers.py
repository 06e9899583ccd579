"""The API's JSON renderer: DRF's JSONRenderer, its body written by orjson (about ten times faster than json's C
encoder on a task run's answer) where that gives DRF's bytes, else by DRF's own way (docs/performance.md,
"Fourteenth step").

`render_json(data)` is the body for DRF's default settings (UNICODE_JSON, COMPACT_JSON and STRICT_JSON on) and an
Accept without `indent=`: the bytes of `json.dumps(data, cls=DRF's JSONEncoder, ensure_ascii=False,
allow_nan=False, separators=(",", ":"))` with U+2028/U+2029 escaped, UTF-8, as JSONRenderer.render writes them,
with one documented difference: a float outside [1e-4, 1e16) is written in orjson's form (`0.00001`, `1e16`)
where json writes `1e-05`, `1e+16`: the same number (Prefect's own server answers its flow run filter with
FastAPI's ORJSONResponse, the same form). A non-finite float (which no answer can hold: docs/performance.md) is
written `null` where json's strict encoder raised, and an Enum member that is not an int or str is written as its value
where DRF's encoder raised (TypeError): both were a 500 before.

Whatever orjson refuses (an int beyond 64 bits, a key that is not an exact str, a lone surrogate, a nesting
beyond 254 levels, a circular reference, a type DRF's encoder cannot write either) takes today's json path, so
it answers as before, errors included. Types orjson would write in a form of its own go to DRF's encoder's
`default` (`_default`): datetimes, dates and times (OPT_PASSTHROUGH_DATETIME: DRF writes `Z` for UTC),
dataclasses (DRF refuses them), and subclasses of dict, list, str and int, str/int enums included
(OPT_PASSTHROUGH_SUBCLASS: json writes a dict subclass in the order of its `items()`, an OrderedDict moved by
`move_to_end` included, which orjson would not, a list subclass by its `__iter__`, a str or int subclass by its
stored value). apps/core/api/lean.py renders by the same `render_json`, so both dispatches answer the same bytes.
tests/core/test_renderers.py compares the two ways.
"""

from __future__ import annotations

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_dumps = orjson.dumps
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
_drf_default = JSONEncoder().default  # (keeps no state)
# DRF's own renderer, for what orjson refuses: its `render` with DRF's default settings and no indent is the body
# `render_json` stands for (json's encoder, the line separators escaped, UTF-8), errors included.
_DRF = renderers.JSONRenderer()


def _default(obj):
    """What json's C encoder writes for a subclass of a type it knows (a str's, int's or float's value as stored,
    a list's or tuple's items as it iterates, a dict's `items()`), else DRF's encoder's `default`."""
    if isinstance(obj, str):  # (in json's order of checks)
        return str.__str__(obj)
    if isinstance(obj, int):
        return int.__int__(obj)
    if isinstance(obj, float):
        return float.__float__(obj)
    if isinstance(obj, (list, tuple)):
        return list(obj)  # (json iterates a subclass of either by its __iter__)
    if isinstance(obj, dict):
        return dict(obj.items())
    return _drf_default(obj)


def render_json(data) -> bytes:
    """JSONRenderer.render(data)'s body for DRF's default settings and no indent (see the module's docstring):
    orjson's bytes, or json's when orjson refuses the data."""
    try:
        body = _dumps(data, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _DRF.render(data)
    # U+2028, U+2029 in UTF-8 (E2 80 A8, E2 80 A9): escaped, as DRF does. Looked for only in a body that is not
    # all ASCII (`isascii`, a word-at-a-time C scan without argument parsing), where `b"\xe2\x80" in body` was
    # ~7.7 k instructions a task run's answer: its substring search, and the TypeError `in` raises and clears while
    # trying the needle as an int (docs/performance.md, "Sixteenth step: the answer's line-separator scan ...")
    if not body.isascii() and b"\xe2\x80" in body:
        body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
    return body


class JSONRenderer(renderers.JSONRenderer):
    """DRF's JSONRenderer; its body by `render_json` when its settings are DRF's defaults (`plain`) and the
    Accept asks no indent, else DRF's own `render`."""

    def plain(self) -> bool:
        """Whether this renderer writes what `render_json` writes (DRF's encoder, UNICODE_JSON, COMPACT_JSON and
        STRICT_JSON on: the settings as JSONRenderer read them)."""
        return (self.encoder_class is JSONEncoder and self.ensure_ascii is False and self.compact is True
                and self.strict is True)

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.plain() and self.get_indent(accepted_media_type, renderer_context or {}) is None:
            return render_json(data)
        return super().render(data, accepted_media_type, renderer_context)
