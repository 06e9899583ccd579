"""apps/core/rows.py's `json_dumps` (the Jsonb parameters' dumps) by orjson: PostgreSQL stores the same jsonb as
for json.dumps' text (read back as text), and what orjson refuses is json.dumps' text as before."""

from __future__ import annotations

import collections
import json
import math
import random

import orjson
import pytest
from django.db import DataError, connection, transaction
from psycopg.types.json import Jsonb

from apps.core import rows

EDGES = [
    {"a": 1.5, "b": -0.0, "c": 0.0, "d": 1e-05, "e": 1e16, "f": 1e-4, "g": 9.999999999999998e15, "h": 5e-324,
     "i": 1.7976931348623157e308, "j": -2.5e-300, "k": 0.1, "l": 1e22, "m": 123456789.123456789},
    {"s": "é中😀\u2028\u2029\ufeff\x7f\x85", "esc": "\n\t\r\b\f\x01\x1f\"\\/", "": ""},
    {"nested": {"deep": [[{"x": [None, True, False, {}]}], []], "list": [1, -1, 2**63 - 1, -2**63, 2**64 - 1]}},
    ["x", 1, 2.5, None, True, [], {}], "a plain string", 7, -0.0, 1e-07, True,
    {"b": 1, "a": 2, "b2": {"z": 1, "y": 2}}, {"k": (1, 2)},
]
REFUSED = [
    {"big": 2**64}, {"small": -2**63 - 1}, [10**30], {1: "int key"}, {"k": {None: 1, True: 2, 1.5: 3}},
    collections.OrderedDict(b=1, a=2),
]


def _stored(dumps, value) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::jsonb::text", [Jsonb(value, dumps=dumps)])
        return cursor.fetchone()[0]


def _random(rng: random.Random, depth: int = 0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice([None, True, False, 0, -1, 2**63 - 1, rng.randrange(-10**9, 10**9)])
    if kind in (1, 2):
        value = 10 ** rng.uniform(-30, 30)
        return rng.choice([value, -value, 0.0, -0.0, float(rng.randrange(10**6))])
    if kind in (3, 4):
        return "".join(rng.choice("aé\u2028😀\n\x00\x1f\"\\/ 中") for _ in range(rng.randrange(6))).replace("\x00", "")
    items = [_random(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 5:
        return items
    return {str(rng.randrange(20)) + "k": item for item in items}


@pytest.mark.django_db
def test_postgresql_stores_the_same_jsonb_as_for_json_dumps():
    rng = random.Random(3)
    values = EDGES + REFUSED + [_random(rng) for _ in range(400)]
    for value in values:
        assert _stored(rows.json_dumps, value) == _stored(json.dumps, value), value


@pytest.mark.django_db
def test_it_is_orjson_and_json_dumps_for_what_orjson_refuses():
    """Guards the change (json.dumps writes `", "` and `\\u00e9`), and the fallback's text."""
    assert rows.json_dumps({"a": "é", "b": 1e-05}) == '{"a":"é","b":0.00001}'.encode()
    for value in REFUSED:
        assert rows.json_dumps(value) == json.dumps(value)
    for value in ("\ud800", {"x": "a\udfffb"}):  # a lone surrogate: json.dumps' escape, which PostgreSQL refuses
        assert rows.json_dumps(value) == json.dumps(value)
        with pytest.raises(DataError), transaction.atomic():
            _stored(rows.json_dumps, value)


@pytest.mark.django_db
def test_what_json_dumps_refused_is_refused():
    """A datetime, an object or a str subclass key: json.dumps' TypeError, as before."""
    import datetime

    class Key(str):
        pass

    for value in ({"t": datetime.datetime(2026, 1, 1)}, [object()], {"d": datetime.date(2026, 1, 1)}):
        with pytest.raises(TypeError):
            rows.json_dumps(value)
    assert rows.json_dumps({Key("k"): 1}) == json.dumps({Key("k"): 1})


@pytest.mark.django_db
def test_a_non_finite_float_is_refused_as_before():
    """orjson writes NaN and infinities as null: the text is json.dumps' then (`NaN`, `Infinity`), which PostgreSQL
    refuses as before, wherever the float is (a flow run's parameters may hold 1e400, parsed as inf)."""
    for bad in (math.nan, math.inf, -math.inf):
        for value in ({"x": bad}, [1, None, {"a": [None, (2.5, bad)]}], {"n": None, "d": {"e": [bad]}}, bad,
                      (None, bad)):
            assert rows.json_dumps(value) == json.dumps(value)
            for dumps in (rows.json_dumps, json.dumps):
                with pytest.raises(DataError), transaction.atomic():
                    _stored(dumps, value)
    for value in ({"x": None, "y": 1.5, "z": [None, -0.0, 1e300]}, "null", {"null": "null"}, [None]):
        assert rows.json_dumps(value) == orjson.dumps(value)  # finite: orjson's text, walked or not


def test_finite_is_json_dumps_strict_check_over_random_values():
    """rows._finite(value) is whether json.dumps(value, allow_nan=False) accepts it, over random nested values
    with NaN and infinities at any depth."""
    rng = random.Random(5)

    def value(depth=0):
        kind = rng.randrange(9 if depth < 4 else 5)
        if kind == 0:
            return rng.choice([math.nan, math.inf, -math.inf]) if rng.random() < 0.08 else rng.uniform(-9, 9)
        if kind in (1, 2, 3, 4):
            return rng.choice([None, "x", 1, True, 2.5, "null"])
        items = [value(depth + 1) for _ in range(rng.randrange(5))]
        return items if kind == 5 else tuple(items) if kind == 6 else {str(i): item for i, item in enumerate(items)}

    seen = set()
    for _ in range(3000):
        data = value()
        try:
            json.dumps(data, allow_nan=False)
            strict = True
        except ValueError:
            strict = False
        assert rows._finite(data) is strict, data
        seen.add(strict)
    assert seen == {True, False}



def _column_text(model, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "tags"::text FROM "{model._meta.db_table}" WHERE "id" = %s', [pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_a_json_fields_text_parameter_stores_and_refuses_as_the_jsonb_parameter(settings):
    """rows.json_text's str (sent as text of no declared type) against Django's Jsonb: apps/core/prepared.py's
    statements (its executor, prepared on the server) store the same jsonb into a column assigned (INSERT VALUES,
    UPDATE SET) as Django's ORM does, and a `::jsonb` cast (INSERT … SELECT's typed marks) reads the same; what
    jsonb refuses is refused alike."""
    from apps.core import prepared
    from apps.engine.models.variables import Variable
    from tests.factories.workspaces import WorkspaceFactory

    settings.PRAETOR_DB_PREPARE = True
    connection._praetor_raw_cursor = None
    ws = WorkspaceFactory()
    rng = random.Random(5)
    values = [*EDGES, *REFUSED[:-1], {}, [], "", "\\u0000 as text", *(_random(rng) for _ in range(40))]
    for n, value in enumerate(values):
        assert type(rows.json_text(value)) is str
        fast = Variable(workspace=ws, name=f"fast{n}", value="x", tags=value)
        prepared.insert(fast)
        django_made = Variable.all_workspaces.create(workspace=ws, name=f"orm{n}", value="x", tags=value)
        assert _column_text(Variable, fast.pk) == _column_text(Variable, django_made.pk), value
        cast = [prepared._run(connection, "SELECT %s::jsonb::text", [param], "fetchone")[0]
                for param in (rows.json_text(value), Jsonb(value, dumps=json.dumps))]
        assert cast[0] == cast[1] == _column_text(Variable, fast.pk), value
        fast.tags = values[-1 - n]
        prepared.update(fast, ["tags"])
        django_made.tags = values[-1 - n]
        django_made.save(update_fields=["tags"])
        assert _column_text(Variable, fast.pk) == _column_text(Variable, django_made.pk), value
    # refused alike: a NaN (json.dumps' `NaN`) and a NUL in a string (jsonb refuses \u0000)
    for value in ({"x": math.nan}, {"x": "a\x00b"}, ["\x00"]):
        errors = []
        for param in (rows.json_text(value), Jsonb(value, dumps=json.dumps)):
            with pytest.raises(DataError) as refused, transaction.atomic():
                prepared._run(connection, "SELECT %s::jsonb::text", [param], "fetchone")
            errors.append((type(refused.value.__cause__), str(refused.value).split("\n")[0]))
        assert errors[0] == errors[1], value
        with pytest.raises(DataError), transaction.atomic():
            prepared.insert(Variable(workspace=ws, name="refused", value="x", tags=value))
    connection._praetor_raw_cursor = None
