"""The lean dispatch's JSON decoding (apps/core/api/lean.py's decode_json: orjson, json when orjson refuses or a
long number could read otherwise) gives exactly json's value, or json's ValueError, for every body."""

from __future__ import annotations

import json
import math
import random
import struct
import sys

import orjson
import pytest
from rest_framework.utils.json import strict_constant

from apps.core.api import lean
from apps.core.api.lean import decode_json

_JSON = json.JSONDecoder(parse_constant=strict_constant).decode


def _reference(body: bytes):
    """What the lean dispatch decoded before: DRF's strict json of the UTF-8 text."""
    try:
        return "ok", _JSON(body.decode("utf-8"))
    except ValueError:
        return "error", None
    except RecursionError:
        return "recursion", None


def _decoded(body: bytes):
    try:
        return "ok", decode_json(body)
    except ValueError:
        return "error", None
    except RecursionError:
        return "recursion", None


def _same(left, right) -> bool:
    """Equal, with equal types all the way down, the keys' order too, and floats by their bits (-0.0, NaN)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return struct.pack("<d", left) == struct.pack("<d", right)
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[key], right[key]) for key in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return left == right


EDGE_CASES = [
    b"{}", b"[]", b"null", b"true", b"false", b"0", b"-0", b"-0.0", b"0.0", b"-0e0", b"1E+2", b"1e-2", b"1.5e+3",
    b'{"a":1,"b":2,"a":3}', b'{"a":{"a":1},"a":[]}', b'{"x":1,"x":{"y":2,"y":[1,2]}}',
    b"1e400", b"-1e400", b"1e-400", b"[1e5000]", b"1.7976931348623157e308", b"1.7976931348623157e309",
    b"5e-324", b"2.2250738585072011e-308", b"0.1000000000000000055511151231257827",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"-9223372036854775809",
    b"18446744073709551615", b"18446744073709551616", b"123456789012345678901234567890",
    b'{"n": 99999999999999999999}', b'{"n": -1234567890123456789}', b'{"s": "1234567890123456789012"}',
    b"999999999999999999", b"-999999999999999999", b"1" + b"0" * 5000, b"1" * 4301,
    b"NaN", b"Infinity", b"-Infinity", b"[-NaN]", b'{"a": NaN}',
    b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\ud83d\\ude00"', b'"\xf0\x9f\x98\x80"', b'"\\u0000"', b'"a\\\\u0000"',
    b'"\\u00e9\\/\\b\\f\\n\\r\\t\\"\\\\"', b'"\\x41"', b'"\\U0041"', b'"\\u004G"', b'"\t"', b'"\n"', b'"\x1f"',
    b'"\x7f"', b'"\xe2\x80\xa8"', b'"\xed\xa0\x80"', b'"\xc0\xaf"', b'"\xf4\x90\x80\x80"', b'"\xff"',
    b"\xef\xbb\xbf{}", b"\xa0{}", b"\x0c{}", b"{}\x0c", b"\x0b1", b" {} ", b"{}\r\n\t ", b"{}\x00", b"{} {}",
    b"1.", b".5", b"01", b"+1", b"1.e5", b"-", b"1e", b"[1,]", b"{,}", b"tru", b"[1 2]", b'{"a" 1}', b"{1:2}",
    b"'a'", b"1_000", b"0x10", b"/*c*/1", b"[1,2,3]//", b"[]]", b" ", b"[" * 100 + b"]" * 100,
    b"[" * 2000 + b"]" * 2000, b'{"a":' * 1100 + b"1" + b"}" * 1100,
]


@pytest.mark.parametrize("body", EDGE_CASES)
def test_edge_cases_decode_as_json_does(body):
    expected, got = _reference(body), _decoded(body)
    assert got[0] == expected[0]
    assert _same(got[1], expected[1])


def test_long_numbers_never_reach_orjson(monkeypatch):
    """A body with 19 or more digits in a row goes to json: orjson reads an int beyond 64 bits as a float."""
    assert isinstance(orjson.loads(b"18446744073709551616"), float)  # why the check exists
    calls = []
    monkeypatch.setattr(lean, "orjson", type("Spy", (), {
        "JSONDecodeError": orjson.JSONDecodeError,
        "loads": staticmethod(lambda body: calls.append(body) or orjson.loads(body))}))
    assert decode_json(b'{"n": 18446744073709551616}') == {"n": 18446744073709551616}
    assert decode_json(b'{"s": "0123456789012345678"}') == {"s": "0123456789012345678"}
    assert calls == []
    assert decode_json(b'{"n": 999999999999999999}') == {"n": 999999999999999999}
    assert calls == [b'{"n": 999999999999999999}']


def _random_number(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return str(rng.randint(-10**18 + 1, 10**18 - 1))
    if kind == 1:
        return repr(rng.uniform(-1e6, 1e6))
    if kind == 2:  # any double, printed shortest or with fewer/more digits
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isfinite(value):
            return "0"
        return rng.choice([repr(value), f"{value:.{rng.randrange(1, 18)}e}", f"{value:.{rng.randrange(17, 25)}g}"])
    if kind == 3:
        mantissa = "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 22)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 22)))
        text = mantissa.lstrip("0") or "0"
        if fraction:
            text += "." + fraction
        if rng.random() < 0.5:
            text += rng.choice("eE") + rng.choice(["", "+", "-"]) + str(rng.randrange(0, 400))
        return rng.choice(["", "-"]) + text
    return rng.choice(["1e308", "1e309", "-1e-324", "4.9406564584124654e-324", "2.4703282292062328e-324",
                       "9007199254740993", "-9007199254740993", "0.30000000000000004", "1e22", "1e23"])


def _random_string(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", " ", "\\", '"', "/", "\n", "\t", "\x7f", "é", "€", "😀", "\u2028", "\ufeff", "\x00",
                "\ud800", "\udfff"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def _random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return _Raw(_random_number(rng))
    if kind in (3, 4):
        return _random_string(rng)
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    keys = [_random_string(rng) for _ in range(rng.randrange(0, 4))]
    return [(key, _random_value(rng, depth + 1)) for key in keys + keys[: rng.randrange(0, 2)]]  # duplicates too


class _Raw(str):
    pass


def _text(value, rng: random.Random) -> str:
    space = rng.choice(["", " ", "\n  ", "\t"])
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=rng.random() < 0.5)
    if isinstance(value, list) and (not value or not isinstance(value[0], tuple)):
        return "[" + ("," + space).join(_text(item, rng) for item in value) + "]"
    if isinstance(value, list):
        return "{" + ("," + space).join(f"{_text(key, rng)}:{space}{_text(item, rng)}" for key, item in value) + "}"
    return json.dumps(value)


def test_random_bodies_decode_as_json_does():
    rng = random.Random(20261207)
    for _ in range(5000):
        value = _random_value(rng)
        body = _text(value, rng).encode("utf-8", "surrogatepass")
        expected, got = _reference(body), _decoded(body)
        assert got[0] == expected[0], body
        assert _same(got[1], expected[1]), body


def test_every_double_in_a_sample_decodes_to_its_bits():
    rng = random.Random(7)
    for _ in range(20000):
        value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if not math.isfinite(value):
            continue
        for text in (repr(value), f"{value:.17e}", f"{value:.15g}"):
            body = text.encode()
            assert _same(_decoded(body), _reference(body)), body


def test_recursion_limit_is_json_s():
    body = b"[" * (sys.getrecursionlimit() + 10) + b"]" * (sys.getrecursionlimit() + 10)
    assert _decoded(body)[0] == _reference(body)[0]


def test_many_brackets_go_to_json(monkeypatch):
    calls = []
    monkeypatch.setattr(lean, "orjson", type("Spy", (), {
        "JSONDecodeError": orjson.JSONDecodeError,
        "loads": staticmethod(lambda body: calls.append(body) or orjson.loads(body))}))
    body = b"[" * 600 + b"]" * 600
    assert _decoded(body) == _reference(body)
    assert decode_json(b"[" + b"{}," * 600 + b"{}]") == [{}] * 601
    assert calls == []
    assert decode_json(b"[" + b"{}," * 400 + b"{}]") == [{}] * 401
    assert len(calls) == 1
