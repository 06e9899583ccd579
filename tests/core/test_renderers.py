"""apps/core/api/renderers.py: the API's answers by orjson are DRF's JSONRenderer's bytes, floats outside
[1e-4, 1e16) aside (the same value, orjson's form), and whatever orjson refuses answers as DRF's way does."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import json
import math
import random
import uuid
import zoneinfo

import pytest
from django.conf import settings
from django.utils.translation import gettext_lazy
from rest_framework import renderers as drf_renderers
from rest_framework.utils.serializer_helpers import ReturnDict, ReturnList

from apps.core.api import lean
from apps.core.api.renderers import JSONRenderer, render_json

DRF = drf_renderers.JSONRenderer()
OURS = JSONRenderer()


def _outcome(render, data):
    try:
        return ("ok", render(data))
    except Exception as exc:  # the error is the outcome compared
        return ("error", type(exc), str(exc))


def _drf(data, accept="application/json"):
    return DRF.render(data, accept, {})


def _ours(data, accept="application/json"):
    return OURS.render(data, accept, {})


class Str(str):
    def __str__(self):
        return "not this"


class Int(int):
    def __repr__(self):
        return "not this"


class Float(float):
    def __repr__(self):
        return "not this"


class List(list):
    def __iter__(self):
        return iter(["not this"])


class Dict(dict):
    pass


class Items(dict):
    def items(self):
        return [("own", 1), *super().items()]


class Color(enum.IntEnum):
    RED = 1


class Word(str, enum.Enum):
    A = "a"


Point = collections.namedtuple("Point", "x y")


@dataclasses.dataclass
class Data:
    a: int = 1


def _moved() -> collections.OrderedDict:
    ordered = collections.OrderedDict(a=1, b=[2], c="3")
    ordered.move_to_end("a")
    return ordered


NOW = datetime.datetime(2026, 12, 7, 12, 0, 1, 123456, tzinfo=datetime.UTC)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")
CHARS = ["a", "é", "\u2028", "\u2029", "\U0001F600", "\x00", "\x1f", "\x7f", "\x85", '"', "\\", "/", "\n", "\t",
         "\ufeff", "\u00a0", "中", "\b", "\f", "\r", " "]


def _float(rng: random.Random, inside: bool) -> float:
    if inside:
        kind = rng.random()
        if kind < 0.1:
            return rng.choice([0.0, -0.0, 1e-4, 9.999999999999998e15, 0.1, 1.5])
        value = 10 ** rng.uniform(-4, 16)
        value = min(max(value, 1e-4), 9.999999999999998e15)
        return -value if rng.random() < 0.5 else value
    value = rng.choice([10 ** rng.uniform(-320, -4), 10 ** rng.uniform(16, 308), 5e-324, 1e16, 1e-05, 1.7e308])
    return -value if rng.random() < 0.5 else value


def _string(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randrange(0, 8)))


def _scalar(rng: random.Random, inside: bool):
    kind = rng.randrange(24)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, 1, -1, 2**63 - 1, -2**63, 2**64 - 1, 2**53 + 1, rng.randrange(-10**12, 10**12)])
    if kind in (3, 4):
        return _float(rng, inside or rng.random() < 0.7)
    if kind in (5, 6, 7):
        return _string(rng)
    if kind == 8:
        return NOW.replace(microsecond=rng.choice([0, 1000, 123456]))
    if kind == 9:
        return rng.choice([NOW.astimezone(PARIS), NOW.replace(tzinfo=None), NOW.date(), NOW.time(),
                           NOW.time().replace(microsecond=0)])
    if kind == 10:
        return datetime.timedelta(seconds=rng.uniform(-1e6, 1e6))
    if kind == 11:
        return decimal.Decimal(rng.choice(["1.5", "0", "-2.25", "1e-7", "12345678901234567890.5"]))
    if kind == 12:
        return uuid.UUID(int=rng.getrandbits(128))
    if kind == 13:
        return _string(rng).encode()
    if kind == 14:
        return gettext_lazy(_string(rng))
    if kind == 15:
        return Str(_string(rng))
    if kind == 16:
        return Int(rng.randrange(-1000, 1000))
    if kind == 17:
        return Float(rng.uniform(-10, 10))
    if kind == 18:
        return rng.choice([Color.RED, Word.A])
    if kind == 19:
        return Point(1, _string(rng))
    if kind == 20:
        return frozenset({1})
    return _string(rng)


def _value(rng: random.Random, depth: int, inside: bool):
    if depth > 3 or rng.random() < 0.35:
        return _scalar(rng, inside)
    kind = rng.randrange(9)
    items = [_value(rng, depth + 1, inside) for _ in range(rng.randrange(0, 5))]
    if kind == 0:
        return items
    if kind == 1:
        return tuple(items)
    if kind == 2:
        return List(items)
    if kind == 3:
        return ReturnList(items, serializer=None)
    keys = [_string(rng) for _ in items]
    if kind == 4:
        return Dict(zip(keys, items, strict=True))
    if kind == 5:
        return ReturnDict(zip(keys, items, strict=True), serializer=None)
    if kind == 6:
        ordered = collections.OrderedDict(zip(keys, items, strict=True))
        if ordered:
            ordered.move_to_end(next(iter(ordered)))
        return ordered
    return dict(zip(keys, items, strict=True))


def _canonical(value):
    """A parsed value with each float as its repr (so -0.0 and 0.0 differ) and dicts as item lists."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, dict):
        return [(key, _canonical(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    return value


def _floats_inside(value) -> bool:
    """Whether every float of a parsed value is 0 or has a magnitude in [1e-4, 1e16)."""
    if isinstance(value, float):
        return value == 0 or 1e-4 <= abs(value) < 1e16
    if isinstance(value, dict):
        return all(_floats_inside(item) for item in value.values())
    if isinstance(value, list):
        return all(_floats_inside(item) for item in value)
    return True


@pytest.mark.parametrize("seed", range(4))
def test_render_json_is_drf_render_over_random_values(seed):
    """Many random nested values of every scalar kind DRF's encoder writes, in dicts, lists and their
    subclasses: the same outcome as DRF's renderer; bytes identical when every float is inside [1e-4, 1e16),
    else the same parsed value (float by float)."""
    rng = random.Random(seed)
    exact = compared = 0
    for i in range(1500):
        data = _value(rng, 0, inside=i % 2 == 0)
        want, got = _outcome(_drf, data), _outcome(_ours, data)
        assert want[0] == got[0] == "ok", (data, want, got)
        if not want[1]:  # None: no body
            assert got == want
            continue
        parsed = json.loads(want[1])
        assert _canonical(json.loads(got[1])) == _canonical(parsed), (data, want, got)
        if _floats_inside(parsed):
            assert got == want, (data, want, got)
            exact += 1
        compared += 1
    assert exact > compared // 3


def test_floats_inside_the_range_are_written_as_json_writes_them():
    rng = random.Random(7)
    for _ in range(20000):
        value = _float(rng, inside=True)
        assert render_json([value]) == _drf([value]), value


def test_floats_outside_the_range_are_the_same_value_in_orjson_form():
    """The documented difference: the same number, orjson's text."""
    assert _drf([1e-05, 1e16, -2.5e-300]) == b"[1e-05,1e+16,-2.5e-300]"
    assert render_json([1e-05, 1e16, -2.5e-300]) == b"[0.00001,1e16,-2.5e-300]"
    assert json.loads(render_json([1e-05, 1e16, -2.5e-300])) == [1e-05, 1e16, -2.5e-300]


def test_a_non_finite_float_is_null_where_drf_refused_it():
    """The documented difference (no stored or parsed value is one): DRF's strict encoder raised (a 500)."""
    for value in (math.nan, math.inf, -math.inf, decimal.Decimal("NaN"), decimal.Decimal("-Infinity")):
        with pytest.raises(ValueError):
            _drf({"x": value})
        assert render_json({"x": value}) == b'{"x":null}'


@pytest.mark.parametrize("data", [
    2**64, -2**63 - 1, [1, {"a": 10**30}], {1: "a"}, {None: 1, "b": 2}, {1.5: 2}, {True: 1}, {Str("k"): 1},
    {Word.A: 1}, "\ud800", ["ok", {"x": "a\udfffb"}], Data(), [Data()], object(), {"a": {1, 2}},
    Items(a=1), [Items(b=2)], Float(1.5), [Float(2.5)], Str("plain"), Int(7), List([1, 2]),
    NOW.time().replace(tzinfo=datetime.UTC), b"\xff",
])
def test_what_orjson_refuses_or_passes_answers_as_drf_does(data):
    """An int beyond 64 bits, a key other than an exact str, a lone surrogate (DRF: UnicodeEncodeError), a
    dataclass, an unknown object, a type only DRF's `default` writes or refuses (an aware time: ValueError), a
    subclass with an own items()/__str__/__repr__/__iter__: the same outcome as DRF's renderer, errors included."""
    assert _outcome(render_json, data) == _outcome(_drf, data)


def test_deep_nesting_and_a_circular_reference_answer_as_drf_does():
    deep = []
    for _ in range(300):  # beyond orjson's 254 levels, within json's recursion
        deep = [deep]
    assert render_json(deep) == _drf(deep)
    circular = []
    circular.append(circular)
    assert _outcome(render_json, circular) == _outcome(_drf, circular)
    assert _outcome(render_json, circular)[1] is ValueError


def test_passthrough_types_are_drf_encoders():
    """Datetimes with `Z` and milliseconds as DRF writes them, dates, times, durations, decimals, UUIDs, bytes,
    lazy strings, sets, named tuples, dict/list/str/int subclasses (DRF's ReturnDict/ReturnList), an
    OrderedDict in its own order, int and str enums."""
    data = {
        "utc": NOW, "paris": NOW.astimezone(PARIS), "naive": NOW.replace(tzinfo=None), "date": NOW.date(),
        "time": NOW.time(), "delta": datetime.timedelta(days=1, microseconds=5), "decimal": decimal.Decimal("1.10"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"), "bytes": b"abc", "lazy": gettext_lazy("Lazy"),
        "set": {3}, "point": Point(1, 2), "return": ReturnDict({"a": ReturnList([1], serializer=None)},
                                                                serializer=None),
        "ordered": _moved(), "str": Str("s"), "int": Int(5), "list": List([1]), "dict": Dict(k="v"),
        "enums": [Color.RED, Word.A], "tuple": (1, "2"),
    }
    assert render_json(data) == _drf(data)
    assert b'"utc":"2026-12-07T12:00:01.123456Z"' in render_json(data)
    assert b'"ordered":{"b":[2],"c":"3","a":1}' in render_json(data)


def test_line_separators_are_escaped():
    data = {"s": "a\u2028b\u2029c", "\u2028": ["\u2029"]}
    assert render_json(data) == _drf(data) == b'{"s":"a\\u2028b\\u2029c","\\u2028":["\\u2029"]}'


def test_the_body_is_orjson_s():
    """Guards the change: the documented float form is orjson's (DRF's renderer writes `1e-05`)."""
    assert OURS.render({"x": 1e-05}, "application/json", {}) == b'{"x":0.00001}'
    assert lean._RENDERER.render({"x": 1e-05}) == b'{"x":0.00001}'


def test_the_project_renders_by_it():
    assert settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == ["apps.core.api.renderers.JSONRenderer"]
    assert type(lean._RENDERER) is JSONRenderer and lean._RENDER is render_json


@pytest.mark.parametrize("accept", ["application/json; indent=4", "application/json; indent=0",
                                    "application/json; indent=x", "application/json", None])
def test_an_indent_is_drf_s_rendering(accept):
    data = {"a": [1, {"b": "\u2028"}], "when": NOW, "f": 1.5}
    assert OURS.render(data, accept, {}) == DRF.render(data, accept, {})
    assert OURS.render(data, None, {"indent": 2}) == DRF.render(data, None, {"indent": 2})
    assert OURS.render(None, accept, {}) == b""


@pytest.mark.parametrize("attribute, value", [("ensure_ascii", True), ("compact", False), ("strict", False)])
def test_other_settings_are_drf_s_rendering(attribute, value):
    """UNICODE_JSON, COMPACT_JSON or STRICT_JSON changed (the renderer's attributes): DRF's own rendering."""
    drf = type("Drf", (drf_renderers.JSONRenderer,), {attribute: value})()
    ours = type("Ours", (JSONRenderer,), {attribute: value})()
    assert not ours.plain()
    data = {"é": [1e-05, "\u2028", math.nan if attribute == "strict" else 1]}
    assert ours.render(data, "application/json", {}) == drf.render(data, "application/json", {})


def test_another_encoder_class_is_drf_s_rendering():
    class Encoder(drf_renderers.JSONRenderer.encoder_class):
        def default(self, obj):
            return "own"

    ours = type("Ours", (JSONRenderer,), {"encoder_class": Encoder})()
    drf = type("Drf", (drf_renderers.JSONRenderer,), {"encoder_class": Encoder})()
    assert ours.render({"x": object()}, "application/json", {}) == drf.render({"x": object()}, "application/json",
                                                                              {}) == b'{"x":"own"}'


def test_an_enum_member_neither_int_nor_str_is_its_value_where_drf_refused_it():
    """The documented difference (no answer holds one): DRF's encoder raised TypeError (a 500)."""
    class Plain(enum.Enum):
        A = {"x": 1}

    assert _outcome(_drf, [Plain.A])[:2] == ("error", TypeError)
    assert render_json([Plain.A]) == b'[{"x":1}]'
