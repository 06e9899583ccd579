"""apps/core/rows.py makes what Django makes: the instances of every PreparedQuery of the codebase are those
`Model.from_db` builds, and the write parameters of every model's fields are those of
`field.get_db_prep_save(field.pre_save(obj, add), connection)`, for values of every kind (errors and
warnings included)."""

from __future__ import annotations

import collections
import datetime
import decimal
import functools
import importlib
import json
import math
import pkgutil
import uuid
import warnings
import zoneinfo

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.db.models import JSONField, Value
from django.db.models.base import ModelState
from django.db.models.signals import pre_init
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.core import prepared, rows
from apps.engine import selectors
from apps.engine.models.runs import FlowRun, TaskRun
from apps.engine.selectors import work_pools
from apps.engine.selectors.task_runs import task_run_get
from tests.engine.runs_helpers import create_flow, create_flow_run, create_task_run, set_flow_state
from tests.engine.test_work_pools_api import add_runs, create_pool, queue_of

# --- instances -------------------------------------------------------------------------------------------


def _typed(obj) -> dict:
    return {k: (type(v), v) for k, v in obj.__dict__.items() if k != "_state"}


def _same(fast, slow) -> None:
    """Same class, attributes (with their types), state and related objects (recursively)."""
    assert (fast is None) == (slow is None)
    if fast is None:
        return
    assert type(fast) is type(slow) and fast is not slow
    assert _typed(fast) == _typed(slow)
    assert (fast._state.adding, fast._state.db) == (slow._state.adding, slow._state.db) == (False, "default")
    assert set(fast._state.__dict__) - {"fields_cache"} == set(slow._state.__dict__) - {"fields_cache"}
    assert fast._state.fields_cache.keys() == slow._state.fields_cache.keys()
    for name, related in fast._state.fields_cache.items():
        _same(related, slow._state.fields_cache[name])


def _module_queries() -> dict:
    """Every PreparedQuery held by a module of apps.engine.selectors, by "module.name"."""
    found = {}
    for info in pkgutil.iter_modules(selectors.__path__):
        module = importlib.import_module(f"{selectors.__name__}.{info.name}")
        for name, value in vars(module).items():
            if isinstance(value, prepared.PreparedQuery):
                found[f"{info.name}.{name}"] = value
    return found


@pytest.fixture
def graph(authed_client, workspace):
    """A pool with two queues and scheduled runs in them, a Running flow run with a task run."""
    create_pool(authed_client, workspace)
    authed_client.post(f"/api/accounts/{workspace.organization_id}/workspaces/{workspace.pk}/work_pools/mypool/queues",
                       {"name": "urgent", "priority": 1}, format="json")
    default, urgent = queue_of(workspace, "mypool", "default"), queue_of(workspace, "mypool", "urgent")
    ago = timezone.now() - datetime.timedelta(seconds=30)
    scheduled = add_runs(workspace, default, [ago, ago]) + add_runs(workspace, urgent, [ago])
    flow_id = create_flow(authed_client, workspace, name="g")["id"]
    run_id = create_flow_run(authed_client, workspace, flow_id)["id"]
    set_flow_state(authed_client, workspace, run_id, "RUNNING")
    task_id = create_task_run(authed_client, workspace, run_id)["id"]
    return {"ws": workspace.pk, "flow": uuid.UUID(flow_id), "run": uuid.UUID(run_id), "task": uuid.UUID(task_id),
            "scheduled": uuid.UUID(scheduled[0]), "queues": [default.pk, urgent.pk]}


def _calls(g) -> dict:
    """Each PreparedQuery of the codebase with its arguments: (method, args) lists, a match and a miss."""
    later = timezone.now() + datetime.timedelta(minutes=1)
    ws, miss = g["ws"], uuid.uuid4()
    return {
        "flows._FLOW_ID": [("one", (ws, g["flow"])), ("one", (ws, miss))],
        "task_runs._TASK_RUN_GET": [("one", (ws, g["task"])), ("one", (miss, g["task"]))],
        "task_runs._TASK_RUN_FOR_UPDATE": [("one", (ws, g["task"]))],
        "task_runs._TASK_RUN_FOR_SET_STATE": [("one", (ws, g["task"])), ("one", (miss, g["task"]))],
        "flow_runs._FLOW_RUN_GET": [("one", (ws, g["run"])), ("one", (ws, g["scheduled"]))],
        "flow_runs._FLOW_RUN_ID": [("one", (ws, g["run"]))],
        "flow_runs._FLOW_RUN_FOR_UPDATE": [("one", (ws, g["run"])), ("one", (ws, g["scheduled"]))],
        "flow_runs._FLOW_RUN_FOR_SET_STATE": [("one", (ws, g["run"])), ("one", (miss, g["run"]))],
        "work_pools._POLL_QUEUES": [("all", (ws, "mypool")), ("all", (ws, "nope"))],
        "work_pools._POOL_ID": [("one", (ws, "mypool"))],
        # the poll's read, compiled per shape: two of its shapes
        "poll 2 queues, before": [("all", (ws, 10, *g["queues"], later))],
        "poll 1 queue": [("all", (ws, 1, g["queues"][0]))],
    }


def test_every_prepared_query_builds_the_instances_from_db_builds(graph, monkeypatch):
    calls = _calls(graph)
    queries = _module_queries()
    queries["poll 2 queues, before"] = work_pools._poll_runs_prepared(2, True, False)
    queries["poll 1 queue"] = work_pools._poll_runs_prepared(1, False, False)
    assert set(queries) == set(calls), "a PreparedQuery without a case here"
    built = 0
    for name, query in queries.items():
        for method, args in calls[name]:
            with transaction.atomic():
                fast = getattr(query, method)(*args)
                with monkeypatch.context() as m:
                    m.setattr(rows, "init_signals_quiet", lambda models: False)
                    slow = getattr(query, method)(*args)
            if method == "all":
                assert len(fast) == len(slow)
                for a, b in zip(fast, slow, strict=True):
                    _same(a, b)
                built += len(fast)
            else:
                _same(fast, slow)
                built += fast is not None
        compiled = next(iter(query._compiled.values()))
        assert compiled.build is not None, name  # every one of them is built without Model.__init__
    assert built >= 14


def test_deferred_fields_stay_deferred_and_read_as_django_reads_them(graph):
    queue = work_pools._POLL_QUEUES.all(graph["ws"], "mypool")[0]
    assert "description" not in queue.__dict__ and "name" in queue.__dict__
    assert queue.get_deferred_fields() >= {"description"} and queue.description is not None  # a query, as Django
    assert set(queue._state.fields_cache) == {"work_pool"} and queue.work_pool.name == "mypool"


def test_a_connected_init_receiver_gets_from_db_and_its_signals(graph):
    seen = []

    def receiver(sender, **kwargs):
        seen.append(sender)

    pre_init.connect(receiver, sender=TaskRun, weak=False)
    try:
        got = task_run_get(workspace=graph["ws"], task_run_id=graph["task"])
    finally:
        pre_init.disconnect(receiver, sender=TaskRun)
    assert seen == [TaskRun] and got.pk == graph["task"]
    assert rows.init_signals_quiet((TaskRun, FlowRun))


def test_models_with_an_init_of_their_own_or_columns_out_of_order_use_from_db(monkeypatch):
    attnames = [f.attname for f in FlowRun._meta.concrete_fields]
    assert rows.instance_builder(FlowRun, attnames) is not None
    assert rows.instance_builder(FlowRun, ["id", "name"]) is not None  # deferred fields
    assert rows.instance_builder(FlowRun, ["name", "id"]) is None
    monkeypatch.setattr(FlowRun, "__init__", lambda self, *args: super(FlowRun, self).__init__(*args))
    assert rows.instance_builder(FlowRun, attnames) is None


def test_a_related_model_with_an_init_of_its_own_is_built_by_from_db_inside_a_fast_row(graph, monkeypatch):
    from django.db.models import Model

    from apps.engine.models.runs import TaskRunState

    calls = []

    def init(self, *args, **kwargs):
        calls.append(type(self))
        Model.__init__(self, *args, **kwargs)

    monkeypatch.setattr(TaskRunState, "__init__", init)
    query = prepared.PreparedQuery(lambda ws, pk: TaskRun.objects.for_workspace(ws).select_related("state")
                                   .filter(pk=pk))
    got = query.one(graph["ws"], graph["task"])
    compiled = next(iter(query._compiled.values()))
    assert compiled.build is not None and compiled.related[0][1] is None and calls == [TaskRunState]
    with monkeypatch.context() as m:
        m.setattr(rows, "init_signals_quiet", lambda models: False)
        _same(got, query.one(graph["ws"], graph["task"]))


# --- parameters ------------------------------------------------------------------------------------------
NOW = datetime.datetime(2026, 12, 6, 11, 0, 0, 123456, tzinfo=datetime.UTC)


def _samples() -> list:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    return [
        None, "", "abc", "123", "2026-01-02T03:04:05+00:00", "1 day, 0:00:00", "t", gettext_lazy("lazy"),
        0, 1, 5, -3, 2**40, True, False, 1.5, 2.0, decimal.Decimal("1.5"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678",
        "12345678123456781234567812345678", NOW, NOW.astimezone(paris), NOW.replace(tzinfo=None),
        datetime.date(2026, 1, 2), datetime.timedelta(seconds=90), {"a": [1, {"b": None}], "c": "é"},
        [1, "x", None, {"d": 2.5}], {}, [], Value(None, JSONField()), Value("v"), object(),
    ]


def _param(value, field=None):
    """A parameter as comparable data: psycopg's wrappers by type, Jsonb by its object and dumps. A JSONField's
    (without an encoder: `field` one) is its JSON text, by json.dumps' value: Django's `Jsonb(obj, dumps=json.dumps)`
    and rows.json_text's str (the same jsonb stored: tests/core/test_rows_jsonb.py) alike."""
    if isinstance(field, JSONField) and field.encoder is None and value is not None:
        if type(value).__name__ == "Jsonb" and value.dumps is json.dumps:
            return ("JSON", json.dumps(value.obj))
        if type(value) is str:
            return ("JSON", json.dumps(json.loads(value)))
    if type(value).__name__ == "Jsonb":
        dumps = value.dumps
        if isinstance(dumps, functools.partial):
            dumps = (dumps.func, dumps.args, tuple(sorted(dumps.keywords.items())))
        text = None
        if dumps is rows.json_dumps:  # json.dumps' value, which jsonb stores alike (test_json_dumps_is_json_dumps)
            dumps, text = json.dumps, json.dumps(json.loads(rows.json_dumps(value.obj)))
        elif dumps is json.dumps:
            text = json.dumps(value.obj)
        return ("Jsonb", json.dumps(value.obj, default=repr, sort_keys=True), dumps, text)
    if isinstance(value, Value):
        return ("Value", id(value))
    return (type(value), value)


def _outcome(compute, field=None):
    """(result, warnings) or the error, of `compute()` (the parameters of `field`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", [_param(v, field) for v in compute()])
        except Exception as e:  # the error is the outcome compared
            result = ("error", type(e), str(e))
    return result, [(w.category, str(w.message)) for w in caught]


def _fresh(model, field, value):
    obj = model()
    setattr(obj, field.attname, value)
    return obj


def _twin(obj):
    twin = type(obj).__new__(type(obj))
    twin.__dict__.update(obj.__dict__)
    twin._state = ModelState()
    return twin


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def test_every_fields_parameters_are_what_django_prepares_for_every_kind_of_value(frozen_now):
    models = [m for m in apps.get_models() if not m._meta.proxy and rows.insert_fields(m._meta)]
    assert FlowRun in models and len(models) > 30
    samples = _samples()
    fast_fields, compared = set(), 0
    for model in models:
        meta = model._meta
        for add in (True, False):
            for field in rows.insert_fields(meta):
                entries = rows.plan(connection, meta, (field.name,), add)
                if entries[0][3]:
                    fast_fields.add(type(field).__name__)
                for value in samples:
                    fast_obj = _fresh(model, field, value)
                    slow_obj = _twin(fast_obj)
                    fast = _outcome(lambda obj=fast_obj, e=entries, a=add: rows.values(connection, obj, e, a),
                                    field)
                    slow = _outcome(lambda obj=slow_obj, f=field, a=add: [
                        f.get_db_prep_save(f.pre_save(obj, a), connection)], field)
                    assert fast == slow, (model, field.name, add, value)
                    assert _typed(fast_obj) == _typed(slow_obj)  # auto_now stamped alike
                    compared += 1
    assert compared > 10_000
    assert fast_fields >= {"UUIDField", "CharField", "TextField", "IntegerField", "SmallIntegerField",
                           "BooleanField", "DateTimeField", "JSONField", "ForeignKey", "DurationField",
                           "FloatField"}


def test_whole_rows_match_django_and_other_vendors_take_the_fields_own_path(frozen_now, monkeypatch):
    for model in apps.get_models():
        meta = model._meta
        fields = rows.insert_fields(meta)
        if meta.proxy or not fields:
            continue
        for add in (True, False):
            obj = model()
            fast = rows.values(connection, obj, rows.plan(connection, meta, None, add), add)
            slow = [f.get_db_prep_save(f.pre_save(obj, add), connection) for f in fields]
            assert [_param(v, f) for v, f in zip(fast, fields, strict=True)] == [
                _param(v, f) for v, f in zip(slow, fields, strict=True)], model
    monkeypatch.setattr(connection, "vendor", "sqlite-like")
    assert all(entry[3] == 0 for entry in rows.plan(connection, FlowRun._meta, None, True))


def test_where_and_primary_key_values_are_djangos_get_db_prep_value():
    meta = TaskRun._meta
    for value in _samples():
        for name in ("id", "workspace_id", "flow_run", "name", "run_count"):
            fast = _outcome(lambda n=name, v=value: rows.lookup_values(connection, meta, {n: v}))
            slow = _outcome(lambda n=name, v=value: [meta.get_field(n).get_db_prep_value(v, connection)])
            assert fast == slow, (name, value)
    run = TaskRun(id=uuid.uuid4())
    assert rows.pk_value(connection, run) is run.pk


# --- timestamps read -------------------------------------------------------------------------------------
_TIMESTAMPS = [
    "2026-01-02 03:04:05.123456+00", "2026-06-02 03:04:05+02", "2000-02-29 12:00:00+05:30", "1900-01-01 00:00:00+00",
    "1847-06-01 12:00:00+00", "0001-01-01 00:00:00+00", "9999-12-31 23:59:59.999999+00", "1970-01-01 00:00:00+00",
    "2026-03-29 01:30:00+00", "2026-10-25 00:30:00+00", "infinity", "-infinity", "0044-03-15 12:00:00+00 BC",
]


def _described(value):
    if isinstance(value, list):
        return [_described(v) for v in value]
    return None if value is None else (value.isoformat(), type(value.tzinfo), value.tzinfo, value.fold)


def _read(cursor, sql):
    try:
        cursor.execute(sql)
        return ("ok", [_described(value) for value in cursor.fetchone()])
    except Exception as e:  # the error is the outcome compared
        return ("error", type(e).__name__)


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kathmandu"])
def test_the_raw_cursor_reads_timestamps_as_djangos_cursor_does_in_any_session_zone(zone):
    from psycopg.pq import Format

    raw = prepared.cursor_for(connection)
    assert isinstance(raw, prepared._RawCursor)
    oid = raw.cursor.adapters.types["timestamptz"].oid
    assert raw.cursor.adapters.get_loader(oid, Format.TEXT).__name__ == "CTzLoader"
    outcomes = []
    with transaction.atomic(), connection.cursor() as plain:
        plain.execute(f"SET LOCAL TIME ZONE '{zone}'")
        for text in _TIMESTAMPS:
            sql = f"SELECT '{text}'::timestamptz, NULL::timestamptz, ARRAY['{text}'::timestamptz]"
            with transaction.atomic():
                fast = _read(raw.cursor, sql)
            with transaction.atomic():
                slow = _read(plain.cursor, sql)
            assert fast == slow, (zone, text)
            outcomes.append(fast[0])
    # infinity, -infinity and BC do not fit a datetime, nor year 9999's last second east of UTC: errors both ways
    assert outcomes.count("ok") >= len(_TIMESTAMPS) - 4



@pytest.mark.django_db
def test_in_a_utc_session_the_loader_is_the_c_loaders_own_load_and_reads_as_django_reads():
    """Django's session zone (UTC): the loader hands psycopg the C loader's `load` itself (no Python call per
    timestamp), whose datetimes are those of Django's cursor, tzinfo object included."""
    from psycopg._cmodule import _psycopg
    from psycopg.pq import Format

    raw = prepared.cursor_for(connection)
    oid = raw.cursor.adapters.types["timestamptz"].oid
    loader = raw.cursor.adapters.get_loader(oid, Format.TEXT)(oid, raw.cursor)
    assert type(getattr(loader.load, "__self__", None)) is _psycopg.TimestamptzLoader
    with transaction.atomic(), connection.cursor() as plain:
        plain.execute("SET LOCAL TIME ZONE 'UTC'")
        for text in _TIMESTAMPS:
            sql = f"SELECT '{text}'::timestamptz, ARRAY['{text}'::timestamptz]"
            with transaction.atomic():
                fast = _read(raw.cursor, sql)
            with transaction.atomic():
                slow = _read(plain.cursor, sql)
            assert fast == slow, text
            if fast[0] == "ok":
                assert fast[1][0][2] is datetime.UTC
    with transaction.atomic():
        plain_zone = connection.cursor()
        plain_zone.execute("SET LOCAL TIME ZONE 'Europe/Paris'")
        paris = raw.cursor.adapters.get_loader(oid, Format.TEXT)(oid, raw.cursor)
        assert paris.load.__func__ is type(paris).load  # another zone: the C loader's answer, then Django's replace


# --- JSON columns read back --------------------------------------------------------------------------------

JSON_TEXTS = [
    '{"a": 1, "b": [1, 2.5, null, true, false, "x"], "c": {"d": {}}}', "[]", "{}", "null", "0", "-1.5e-10", "1e400",
    '"text é \\u2028 \\ud83d\\ude00"', "12345678901234567890123", '{"a": 1, "a": 2}', "NaN", "Infinity", " {}",
    "{} ", "\ufeff{}", "", "not json", '{"a": }', "[1, 2", '"unterminated', "[1] [2]", "\n[1]\n", "tru",
    '{"k": "' + "x" * 10_000 + '"}', "[" * 50 + "]" * 50,
]


@pytest.mark.parametrize("text", JSON_TEXTS)
def test_json_columns_convert_as_from_db_value(text):
    field = JSONField()
    expression = object()
    convert = prepared._json_conversion(field.from_db_value, expression, connection)
    expected = field.from_db_value(text, expression, connection)
    got = convert(text)
    assert type(got) is type(expected)
    assert json.dumps(got) == json.dumps(expected) if text not in ("NaN",) else got != got
    for value in (None, b"{}", 5):  # not a str: from_db_value itself (an int: its TypeError)
        outcomes = []
        for read in (convert, lambda v: field.from_db_value(v, expression, connection)):
            try:
                outcomes.append(read(value))
            except TypeError as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1]


def test_deep_json_fails_alike():
    field = JSONField()
    convert = prepared._json_conversion(field.from_db_value, object(), connection)
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(RecursionError):
        field.from_db_value(deep, object(), connection)
    with pytest.raises(RecursionError):
        convert(deep)


def test_only_djangos_own_json_field_without_a_decoder_takes_the_scanner():
    class Decoded(json.JSONDecoder):
        pass

    class Own(JSONField):
        def from_db_value(self, value, expression, connection):
            return ("own", value)

    plain, decoded, own = JSONField(), JSONField(decoder=Decoded), Own()
    conversions = prepared._conversions(type("C", (), {"connection": connection})(), {
        0: ([plain.from_db_value], object()), 1: ([decoded.from_db_value], object()),
        2: ([own.from_db_value], object()), 3: ([plain.from_db_value, lambda v, e, c: ("then", v)], object())})
    by_position = dict(conversions)
    assert by_position[0].__qualname__.startswith("_json_conversion")
    for position in (1, 2, 3):
        assert by_position[position].__qualname__.startswith("_chain_conversion")
    assert by_position[2]("{}") == ("own", "{}") and by_position[3]('{"a": 1}') == ("then", {"a": 1})


@pytest.mark.parametrize("value", [{}, [], {"a": []}, [{}], [[]], 0, 0.0, "", False, True, 1, "x", None,
                                   collections.OrderedDict(), {"é": "\u2028"}, [1, 2.5, None]])
def test_json_dumps_is_json_dumps(value):
    """rows.json_dumps, the dumps of the Jsonb parameters `values` makes, gives json.dumps' value (orjson's text,
    bytes, which psycopg's JSON dumpers send as they are; PostgreSQL stores the same jsonb for both:
    tests/core/test_rows_jsonb.py; json.dumps' own text for what orjson refuses)."""
    got = rows.json_dumps(value)
    assert json.dumps(json.loads(got)) == json.dumps(value)
    assert isinstance(got, bytes) == (type(value) is not collections.OrderedDict)  # (a subclass: json.dumps')


def test_only_a_json_field_without_an_encoder_dumps_by_json_dumps():
    class Encoder(json.JSONEncoder):
        pass

    plain, encoded = JSONField(), JSONField(encoder=Encoder)
    plain.set_attributes_from_name("plain")
    encoded.set_attributes_from_name("encoded")
    assert rows._fast_kind(plain, connection)[2] is rows.json_text  # json_dumps' text, a str
    assert rows._fast_kind(encoded, connection)[2].keywords["dumps"].keywords == {"cls": Encoder}
    assert rows.json_text({"a": [1, None]}) == '{"a":[1,null]}' and rows.json_text({}) == "{}"
    assert rows.json_text([]) == "[]" and rows.json_text(collections.OrderedDict(b=1)) == '{"b": 1}'
    assert rows.json_text({"x": math.nan}) == '{"x": NaN}'  # json.dumps' text, refused by PostgreSQL as before
