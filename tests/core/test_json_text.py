"""apps/core/rows.py's `json_text` (the JSON text parameter of a JSONField without an encoder): `json_dumps`' text
as a str for every value (orjson's, json.dumps' for what orjson refuses or writes a NaN or an infinity in as
`null`, the fixed texts of an empty dict and list), made without `json_dumps`' call and with the `null` search on
the decoded str (docs/performance.md, "Seventeenth step: ... (branch stmt3)")."""

from __future__ import annotations

import collections
import math
import random

import pytest

from apps.core import rows
from tests.core.test_rows_jsonb import EDGES, REFUSED, _random

NON_FINITE = [
    math.nan, math.inf, -math.inf, {"a": math.nan}, [1, None, math.inf], {"a": None, "b": [{"c": -math.inf}]},
    {"a": None, "b": (1.5, None, (math.nan,))}, {"null": "null", "x": [None, 1e308 * 10]},
]
PLAIN = [
    {}, [], (), "", 0, None, {"a": None}, [None], "null", {"null": 1}, {"k": "a null here"}, {"a": {}}, [[]],
    collections.OrderedDict(), {"flow_run_id": None, "scheduled_time": None, "untrackable_result": False,
                                "retriable": None, "task_run_id": "0f3c6f5e-2b1a-4f7e-9a55-0c0c0c0c0c0c"},
]


def _expected(value) -> str:
    text = rows.json_dumps(value)
    return text if type(text) is str else text.decode()


def test_json_text_is_json_dumps_text_as_a_str():
    rng = random.Random(17)
    values = EDGES + REFUSED + NON_FINITE + PLAIN + [_random(rng) for _ in range(3000)]
    for value in values:
        got = rows.json_text(value)
        assert type(got) is str and got == _expected(value), value


def test_json_text_does_not_go_through_json_dumps(monkeypatch):
    values = [{}, [], {"a": None, "b": 1}, {"a": math.nan}, {1: 2}, [1, 2]]
    expected = [_expected(value) for value in values]

    def refused(obj):
        raise AssertionError("json_text called json_dumps")

    monkeypatch.setattr(rows, "json_dumps", refused)
    assert [rows.json_text(value) for value in values] == expected == [
        "{}", "[]", '{"a":null,"b":1}', '{"a": NaN}', '{"1": 2}', "[1,2]"]


@pytest.mark.parametrize("value", [{1: "x"}, {"k": 2**64}])
def test_what_orjson_refuses_is_json_dumps_text(value):
    import json

    assert rows.json_text(value) == json.dumps(value)
