"""Model instances from rows and field values as statement parameters, exactly as Django makes them, without
its call chains per instance and per field: the row and parameter steps of apps/core/prepared.py.

Instances: `Model.from_db` runs all of `Model.__init__` (pre_init/post_init signals, a setattr per field
through its descriptor). For a model that keeps Django's own `__init__`, `from_db` and field descriptors,
that leaves `__dict__` = {_state: ModelState(adding=False, db=alias), attname: value, …} (deferred fields
left out); `instance_builder` builds that directly. The caller falls back to `from_db` when a pre_init or
post_init receiver is connected (`init_signals_quiet`).

Parameters: `field.get_db_prep_save(field.pre_save(obj, add), connection)` is four to six calls per field.
For Django's own field classes on PostgreSQL, a value of the field's usual type comes out as itself (str,
UUID, bool, float, timedelta, aware datetime), in psycopg's integer wrapper (Int2/Int4/Int8) or in a Jsonb
with the field's encoder (without one `json_dumps`: orjson's text, the same jsonb as json.dumps'); `values`
returns that directly and asks the field for anything else (None aside, which every such field saves as NULL).
auto_now/auto_now_add fields stamp `timezone.now()` as Django's DateTimeField.pre_save does, without its call and
setattr, and once per row rather than once per field (a new row's `created` and `updated` are one instant).
tests/core/test_prepared_fast.py checks both against Django for every model and many values.
"""

from __future__ import annotations

import datetime
import functools
import json
import operator
import uuid

import orjson
from django.db.models import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DurationField,
    Field,
    FloatField,
    ForeignKey,
    IntegerField,
    JSONField,
    Model,
    TextField,
    UUIDField,
)
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from apps.core import clock, ids

# --- instances -------------------------------------------------------------------------------------------


def _class_attribute(model, name):
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _plain_model(model) -> bool:
    """Whether instances of `model` are Django's own: its `__init__`, `from_db`, `__new__`, `__setattr__` and
    field descriptors (so an instance is its `_state` and one `__dict__` entry per loaded field)."""
    mro = model.__mro__
    return not (model._meta.abstract
                or model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__
                or model.__new__ is not object.__new__ or model.__setattr__ is not object.__setattr__
                # Model.__init__ ends with super().__init__(): nothing between Model and object may have one
                or any("__init__" in klass.__dict__ for klass in mro[mro.index(Model) + 1:-1])
                or any(type(_class_attribute(model, f.attname)) not in (DeferredAttribute, ForeignKeyDeferredAttribute)
                       for f in model._meta.concrete_fields))


def instance_builder(model, init_list):
    """A function (alias, values) → instance equal to `model.from_db(alias, init_list, values)` when no
    pre_init/post_init receiver is connected, or None when the model or the column list needs `from_db`
    (its own `__init__`/`from_db`/`__setattr__`, a descriptor of its own on a field, columns out of the
    model's order). Deferred fields are left out of `__dict__`, as `from_db` leaves them."""
    fields = model._meta.concrete_fields
    loaded = set(init_list)
    if [f.attname for f in fields if f.attname in loaded] != list(init_list) or not _plain_model(model):
        return None
    attnames = tuple(init_list)
    new = object.__new__
    template = {"_state": None, **dict.fromkeys(attnames)}  # the `__dict__`'s keys in order (new_instance_builder)

    def build(alias, values):
        obj = new(model)
        state = ModelState()
        state.adding = False
        state.db = alias
        attributes = template.copy()
        attributes["_state"] = state
        attributes.update(zip(attnames, values, strict=True))
        obj.__dict__ = attributes
        return obj

    return build


def new_instance_builder(model, names: tuple):
    """A function (values) → instance equal to `model(**dict(zip(names, values)))` when no pre_init/post_init
    receiver is connected (`init_signals_quiet`), or None when the model needs `Model.__init__` (as for
    `instance_builder`) or a name is not the attname of one of its concrete fields. What `Model.__init__`
    leaves: `_state` = ModelState() (adding, no database), each given value under its attname, every other
    field's `get_default()`; without its signal sends and a setattr per field through the descriptors (which
    for a fresh instance only store the value). tests/core/test_prepared_fast.py compares both."""
    fields = [f for f in model._meta.fields if f.column is not None and not getattr(f, "generated", False)]
    attnames = [f.attname for f in fields]
    if not _plain_model(model) or len(set(names)) != len(names) or not set(names) <= set(attnames):
        return None
    given = frozenset(names)
    constants, made = {}, []
    for f in fields:
        if f.attname not in given:
            kind, value = _default_of(f)
            if kind is _CONSTANT:
                constants[f.attname] = value
            else:
                made.append((f.attname, value))
    made = tuple(made)
    new = object.__new__
    # The instance's `__dict__` in its final order (`_state`, the given names, the constant defaults, the made
    # ones), the constants filled in: a copy of it and the given values written over its keys build a new
    # plain dict at a fraction of the cost of inserting each key into the fresh instance's own (shared-key)
    # `__dict__` (a copied table rather than an insertion and its probes per key)
    template = {"_state": None, **dict.fromkeys(names), **constants, **dict.fromkeys(name for name, _ in made)}

    def build(values):
        obj = new(model)
        attributes = template.copy()
        attributes["_state"] = ModelState()
        attributes.update(zip(names, values, strict=True))
        for attname, default in made:
            attributes[attname] = default()
        obj.__dict__ = attributes
        return obj

    return build


_CONSTANT, _MADE = "constant", "made"


def _default_of(field) -> tuple[str, object]:
    """(_CONSTANT, value) when `field.get_default()` gives the same object on every call, else (_MADE, a function
    giving what it gives). Django's `Field.get_default` (ForeignKey's too, which only unwraps a model instance)
    returns, without a `db_default`: the `default` itself when it is not callable, NULL's None or the empty
    string when there is none (the same immutable value every time, worked out once here rather than by two
    calls per field and instance); a callable `default` is called afresh each time (dict, list, uuid4...)."""
    getter = type(field).get_default
    if field.has_db_default() or getter not in (Field.get_default, ForeignKey.get_default):
        return _MADE, field.get_default
    if not field.has_default():
        return _CONSTANT, field.get_default()  # None or "": Django's rule for a field without a default
    if callable(field.default):
        if getter is not Field.get_default:
            return _MADE, field.get_default
        # `uuid.uuid4` (the ids' default) as apps/core/ids.py makes the same UUID, at half the instructions
        return _MADE, ids.uuid4 if field.default is uuid.uuid4 else field.default
    if getter is Field.get_default:
        return _CONSTANT, field.default
    return _MADE, field.get_default


_new_builders: dict = {}


def new_instance(model, names: tuple, values: tuple):
    """`model(**dict(zip(names, values)))`, built by `new_instance_builder` (cached per model and names) when
    it can and no init signal receiver listens."""
    key = (model, names)
    build = _new_builders.get(key, _new_builders)
    if build is _new_builders:
        build = _new_builders[key] = new_instance_builder(model, names)
    if build is None or not init_signals_quiet((model,)):
        return model(**dict(zip(names, values, strict=True)))
    return build(values)


def init_signals_quiet(models) -> bool:
    """Whether no pre_init/post_init receiver listens for any of `models` (the build above sends none)."""
    if not pre_init.receivers and not post_init.receivers:
        return True
    return not any(pre_init.has_listeners(m) or post_init.has_listeners(m) for m in models)


# --- parameters ------------------------------------------------------------------------------------------
# How a field's value becomes a parameter: by the field (_GENERIC), as itself (_PASS), wrapped (_WRAP), or
# as itself if an aware datetime (_AWARE), the last three only for a value of one of the entry's types.
_GENERIC, _PASS, _WRAP, _AWARE = range(4)
# How a field's value is read before that (`_pre_save_kind`)
_READ, _STAMP, _PRE_SAVE = range(3)
_UTC = datetime.UTC  # its utcoffset() is never None

_plans: dict = {}


def _fast_kind(field, connection) -> tuple[int, tuple, object]:
    """(kind, types, wrap) for `field.get_db_prep_save(value, connection)` of a value of one of `types`."""
    generic = (_GENERIC, (), None)
    if connection.vendor != "postgresql":
        return generic
    from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

    cls, ops, features = type(field), connection.ops, connection.features
    own_ops = type(ops)
    if cls.get_db_prep_save is ForeignKey.get_db_prep_save:
        # None or "" (NULL), else the target field's saving of the value: the same for any non-str type
        kind, types, wrap = _fast_kind(field.target_field, connection)
        return generic if str in types else (kind, types, wrap)
    if (cls.get_db_prep_save is JSONField.get_db_prep_save and cls.get_db_prep_value is JSONField.get_db_prep_value
            and cls.get_prep_value is Field.get_prep_value
            and own_ops.adapt_json_value is PostgresOperations.adapt_json_value):
        from django.db.backends.postgresql.operations import get_json_dumps
        from django.db.backends.postgresql.psycopg_any import Jsonb

        dumps = get_json_dumps(field.encoder)
        # Without an encoder of its own: the value's JSON text, a str (`json_text`); else Django's Jsonb
        return _WRAP, (dict, list, str, int, float, bool), (
            json_text if dumps is json.dumps else functools.partial(Jsonb, dumps=dumps))
    if cls.get_db_prep_save is not Field.get_db_prep_save:
        return generic
    prep_value, db_prep_value, to_python = cls.get_prep_value, cls.get_db_prep_value, cls.to_python
    if db_prep_value is UUIDField.get_db_prep_value and features.has_native_uuid_field:
        return _PASS, (uuid.UUID,), None
    if db_prep_value is DurationField.get_db_prep_value and features.has_native_duration_field:
        return _PASS, (datetime.timedelta,), None
    if db_prep_value is Field.get_db_prep_value:
        if prep_value in (CharField.get_prep_value, TextField.get_prep_value) and to_python in (
                CharField.to_python, TextField.to_python):
            return _PASS, (str,), None
        if prep_value is BooleanField.get_prep_value and to_python is BooleanField.to_python:
            return _PASS, (bool,), None
        if prep_value is FloatField.get_prep_value:
            return _PASS, (float,), None
    if (db_prep_value is IntegerField.get_db_prep_value and prep_value is IntegerField.get_prep_value
            and own_ops.adapt_integerfield_value is getattr(PostgresOperations, "adapt_integerfield_value", None)
            and hasattr(ops, "integerfield_type_map")):
        return _WRAP, (int,), ops.integerfield_type_map[field.get_internal_type()]
    if (db_prep_value is DateTimeField.get_db_prep_value and prep_value is DateTimeField.get_prep_value
            and to_python is DateTimeField.to_python
            and own_ops.adapt_datetimefield_value is PostgresOperations.adapt_datetimefield_value):
        return _AWARE, (datetime.datetime,), None
    return generic


# What json.dumps writes for an empty object and an empty list with its default encoder (fixed: no separator
# or indent reaches them), as bytes, which psycopg's JSON dumpers send as they are.
_EMPTY_JSON = {dict: b"{}", list: b"[]"}
_EMPTY_TEXT = {dict: "{}", list: "[]"}  # the same as str (`json_text`)


# orjson for the Jsonb parameters: datetimes, dataclasses and subclasses of str, int, dict and list are refused
# (no `default`), so they take json.dumps as before (which writes the subclasses and refuses the others).
_JSONB_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def json_dumps(obj) -> str | bytes:
    """The JSON of a JSONField without an encoder, as `values` sends it (by `json_text`; Django's dumps there is
    `json.dumps`): an empty dict or list is its fixed text without going through an encoder (~12 k instructions a
    value fewer; a created task run's tags and task inputs are often empty); anything else orjson's bytes (about
    a tenth of json.dumps' cost), or `json.dumps(obj)` for what orjson refuses (an int beyond 64 bits, a key that
    is not an exact str, a lone surrogate, the types above, a nesting beyond 254 levels), so those are stored or
    refused as before. orjson's text differs from json.dumps' (UTF-8 rather than `\\u` escapes, no spaces, floats
    outside [1e-4, 1e16) without an exponent's sign or with none): PostgreSQL stores the same jsonb for both
    (tests/core/test_rows_jsonb.py reads it back). orjson writes a NaN or an infinity as `null`: a text with a
    `null` whose value holds one (`_finite`, walked only then) is json.dumps' (`NaN`, `Infinity`), which
    PostgreSQL refuses as before (a flow run's parameters may hold `1e400`, parsed as inf). A UUID or an Enum
    member that is neither an int nor a str (which json.dumps refused) is written by orjson (the UUID's text, the
    member's value): no value this project stores can be one (docs/performance.md, "Fourteenth step")."""
    if not obj:
        empty = _EMPTY_JSON.get(type(obj))
        if empty is not None:
            return empty
    try:
        text = orjson.dumps(obj, option=_JSONB_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(obj)
    if b"null" in text and not _finite(obj):  # orjson wrote a NaN or an infinity as null: json.dumps' refused text
        return json.dumps(obj)
    return text


def json_text(obj) -> str:
    """The parameter `values` makes for a JSONField without an encoder: `json_dumps(obj)`'s text as a str, where
    Django makes `Jsonb(obj, dumps=…)`. Sent by psycopg's C str dumper (text, of no declared type) rather than
    its Python JSON dumper (a `get_key` and a `dump` call back into Python, and the wrapper's construction: ~4 k
    instructions a value), PostgreSQL takes the text as the jsonb of the column it is assigned to or the
    `::jsonb` it is cast to (every statement of apps/core/prepared.py that sends these: an INSERT's or UPDATE's
    column, an INSERT … SELECT's typed marks), which parses the same text as the jsonb parameter did: the same
    stored value, the same error for what it refuses (a NaN's `NaN`, a `\\u0000`). The text has no NUL (JSON
    escapes it), which psycopg's str dumper would refuse.

    `json_dumps` restated for its text: orjson's bytes decoded first, so the `null` search is a str's (`in` on
    bytes tries the needle as an int first: a TypeError formatted and cleared, ~2 k instructions a value), and
    without `json_dumps`' call. The same text for every value (tests/core/test_json_text.py compares them)."""
    if not obj:
        empty = _EMPTY_TEXT.get(type(obj))
        if empty is not None:
            return empty
    try:
        text = orjson.dumps(obj, option=_JSONB_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(obj)
    if "null" in text and not _finite(obj):  # orjson wrote a NaN or an infinity as null: json.dumps' refused text
        return json.dumps(obj)
    return text


_CONTAINERS = frozenset({dict, list, tuple})


def _finite(obj) -> bool:
    """Whether no float in `obj` (a value orjson wrote: exact dicts, lists, tuples and scalars) is NaN or infinite.
    The kinds of a container's items first (C calls): its floats and containers are looked at only if it has any."""
    kind = type(obj)
    if kind is float:
        return obj - obj == 0.0  # (NaN and ±inf give NaN)
    if kind is dict:
        items = obj.values()
    elif kind is list or kind is tuple:
        items = obj
    else:
        return True
    kinds = set(map(type, items))
    if float in kinds:
        for item in items:
            if type(item) is float and item - item != 0.0:
                return False
    if not _CONTAINERS.isdisjoint(kinds):
        for item in items:
            if type(item) in _CONTAINERS and not _finite(item):
                return False
    return True


def _pre_save_kind(field, add: bool) -> int:
    """How `values` gets the value `field.pre_save(obj, add)` gives: _READ (the attribute, `_reads_attribute`),
    _STAMP (Django's DateTimeField.pre_save stamping auto_now/auto_now_add: `timezone.now()`, stored on the
    instance, here into its `__dict__` as its plain descriptor stores it), or _PRE_SAVE (the field's own)."""
    if _reads_attribute(field, add):
        return _READ
    if (type(field).pre_save is DateTimeField.pre_save and (field.auto_now or (field.auto_now_add and add))
            and _plain_model(field.model)):
        return _STAMP
    return _PRE_SAVE


def _reads_attribute(field, add: bool) -> bool:
    """Whether `field.pre_save(obj, add)` is only `obj.__dict__[attname]` when set there (Django's own
    pre_save and descriptor, no auto_now stamp)."""
    pre_save = type(field).pre_save
    if pre_save in (DateField.pre_save, DateTimeField.pre_save):
        if field.auto_now or (field.auto_now_add and add):
            return False
    elif pre_save is not Field.pre_save:
        return False
    return type(_class_attribute(field.model, field.attname)) in (DeferredAttribute, ForeignKeyDeferredAttribute)


def insert_fields(meta) -> list:
    """The fields an INSERT writes: the model's own concrete fields but generated ones."""
    return [f for f in meta.local_concrete_fields if not getattr(f, "generated", False)]


def plan(connection, meta, names: tuple | None, add: bool) -> list:
    """The entries `values` works from for the fields `names` of the model of `meta` (all `insert_fields`
    when None), cached per connection and vendor."""
    key = (meta, names, add, connection.alias, connection.vendor)
    entries = _plans.get(key)
    if entries is None:
        fields = insert_fields(meta) if names is None else [meta.get_field(name) for name in names]
        entries = _plans[key] = [(f.attname, f, _pre_save_kind(f, add), *_fast_kind(f, connection))
                                 for f in fields]
    return entries


def values(connection, obj, entries: list, add: bool) -> list:
    """[field.get_db_prep_save(field.pre_save(obj, add), connection) for each field of `entries`].

    Compiled once per plan (`_compile_values`) where every entry is read from the instance or stamped (`_READ`,
    `_STAMP`): the read fields' values taken from the instance's `__dict__` in one C call (an `itemgetter`; a field
    not held there, KeyError, takes the loop below), the parameters laid out from them and the stamp in one more,
    and only the positions whose value needs work for its types (`_signature_actions`: a wrap, an aware check, the
    field's own saving) done one by one; the rest (a value of a passed type, a NULL of a typed entry) are the values
    themselves, as the loop below leaves them."""
    compiled = _compiled.get(id(entries))
    if compiled is None or compiled[0] is not entries:
        compiled = _compile_values(entries)
    if compiled[1] is not None:
        _, read, order, stamps, signatures = compiled
        attributes = obj.__dict__
        try:
            source = read(attributes)
        except KeyError:  # a field not held (deferred): the loop reads it through the model
            return _values_loop(connection, obj, entries, add)
        if stamps:
            source = (*source, clock.now())  # one stamp per row, as the loop's
        signature = tuple(map(type, source))
        actions = signatures.get(signature)
        if actions is None:
            actions = _signature_actions(entries, compiled, signature)
        params = list(order(source))
        for action, n, i, extra in actions:  # in the entries' order, as the loop (its errors, its stamps)
            value = source[i]
            if action == _WRAP:
                params[n] = extra(value)
            elif action == _AWARE:
                if value.tzinfo is not _UTC and value.utcoffset() is None:
                    params[n] = extra.get_db_prep_save(value, connection)
            elif action == _STAMP_ACTION:
                attributes[extra] = value  # the stamp into the instance, as Django's pre_save stores it
            else:
                params[n] = extra.get_db_prep_save(value, connection)
        return params
    return _values_loop(connection, obj, entries, add)


# id(entries) -> (entries, the read fields' itemgetter, the parameters' order over (read values…, stamp),
# the stamped attnames, {signature: actions}); (entries, None, …) where the loop does it all (a _PRE_SAVE entry,
# fewer than two fields read). `plan` keeps its entries for the process, so their ids stay theirs.
_compiled: dict = {}
_COMPILED_MAX = 1024  # (callers pass `plan`'s cached lists: a few dozen)
_SIGNATURES_MAX = 64  # type signatures kept a plan (a plan sees a few: which fields are NULL)
_STAMP_ACTION = -1


def _compile_values(entries: list) -> tuple:
    reads = [n for n, entry in enumerate(entries) if entry[2] == _READ]
    stamps = [n for n, entry in enumerate(entries) if entry[2] == _STAMP]
    if len(reads) < 2 or len(reads) + len(stamps) != len(entries):
        compiled = (entries, None, None, (), None)
    else:
        position = {n: i for i, n in enumerate(reads)}
        position.update({n: len(reads) for n in stamps})
        compiled = (entries, operator.itemgetter(*(entries[n][0] for n in reads)),
                    operator.itemgetter(*(position[n] for n in range(len(entries)))),
                    tuple(entries[n][0] for n in stamps), {})
    if len(_compiled) >= _COMPILED_MAX:
        _compiled.clear()
    _compiled[id(entries)] = compiled
    return compiled


def _signature_actions(entries: list, compiled: tuple, signature: tuple) -> tuple:
    """The positions of `values`' parameters that are not their value itself for values of these types (what
    the loop does to each): (_WRAP, n, i, wrap), (_AWARE, n, i, field) (the value itself if aware), or
    (_GENERIC, n, i, field) (the field's own saving); a stamped field's (_STAMP_ACTION, n, i, attname) before
    its own (the stamp stored on the instance); n the parameter's position, i the value's in the source. In the
    entries' order: a field's error stops at the same field, with the same stamps stored, as the loop."""
    _, _, order, _, signatures = compiled
    actions = []
    for n, ((attname, field, pre_save, kind, types, wrap), i) in enumerate(zip(entries, order(range(len(signature))),
                                                                            strict=True)):
        if pre_save == _STAMP:
            actions.append((_STAMP_ACTION, n, i, attname))
        value_type = signature[i]
        if kind and value_type is _NONE:
            continue  # NULL, the value itself
        if kind and value_type in types:
            if kind == _PASS:
                continue
            if kind == _WRAP:
                actions.append((_WRAP, n, i, wrap))
            elif kind == _AWARE:
                actions.append((_AWARE, n, i, field))
            else:
                actions.append((_GENERIC, n, i, field))
        else:
            actions.append((_GENERIC, n, i, field))
    if len(signatures) >= _SIGNATURES_MAX:
        signatures.clear()
    actions = signatures[signature] = tuple(actions)
    return actions


def _values_loop(connection, obj, entries: list, add: bool) -> list:
    """`values`, field by field."""
    attributes = obj.__dict__
    # Filled by index rather than appended: a method call less per field (a run's row has 25)
    params = [None] * len(entries)
    stamp = None
    for n, (attname, field, pre_save, kind, types, wrap) in enumerate(entries):
        if pre_save == _READ:
            value = attributes[attname] if attname in attributes else getattr(obj, attname)
        elif pre_save == _STAMP:
            # One `timezone.now()` per row: a new row's `created` and `updated` are the same instant (as
            # PostgreSQL's now() would make them), where Django's pre_save reads the clock once per field
            if stamp is None:
                stamp = clock.now()  # timezone.now(), without LazySettings' USE_TZ read (apps/core/clock.py)
            value = attributes[attname] = stamp
        else:
            value = field.pre_save(obj, add)
        if kind and value is None:
            continue  # NULL, as the list holds
        if kind and type(value) in types:
            # An aware datetime: UTC's own tzinfo (what timezone.now() stamps) is aware without asking
            if kind == _PASS or (kind == _AWARE and (value.tzinfo is _UTC or value.utcoffset() is not None)):
                params[n] = value
            elif kind == _WRAP:
                params[n] = wrap(value)
            else:
                params[n] = field.get_db_prep_save(value, connection)
        else:
            params[n] = field.get_db_prep_save(value, connection)
    return params


_NONE = type(None)


def column_values(connection, entry, column) -> list:
    """[field.get_db_prep_save(value, connection) for value in column], for the field of a `plan` entry, as
    `values` makes each one; a column of values of the field's usual type (or None) is checked by type as a
    whole, then handed back as it is (wrapped, for a wrapping field)."""
    _, field, _, kind, types, wrap = entry
    if kind:
        kinds = set(map(type, column))
        if kinds <= {*types, _NONE}:
            if kind == _PASS:
                return list(column)
            present = [value for value in column if value is not None] if _NONE in kinds else column
            if kind == _WRAP and len(present) == len(column):
                return list(map(wrap, column))
            if kind == _AWARE and None not in map(datetime.datetime.utcoffset, present):
                return list(column)
    # Anything else (a value of another type, a naive datetime, NULL among wrapped values): the field decides.
    return [field.get_db_prep_save(value, connection) for value in column]


def lookup_values(connection, meta, where: dict) -> list:
    """[meta.get_field(name).get_db_prep_value(value, connection) for name, value in where] (WHERE parameters)."""
    entries = plan(connection, meta, tuple(where), False)
    return [lookup_value(connection, entry, value) for entry, value in zip(entries, where.values(), strict=True)]


def lookup_value(connection, entry, value):
    """`field.get_db_prep_value(value, connection)` for the field of a `plan` entry (one of `lookup_values`)."""
    _, field, _, kind, types, _ = entry
    return value if kind == _PASS and type(value) in types else field.get_db_prep_value(value, connection)


def pk_value(connection, obj):
    """obj._meta.pk.get_db_prep_value(obj.pk, connection)."""
    meta = obj._meta
    return lookup_values(connection, meta, {meta.pk.name: obj.pk})[0]


# --- timestamps read ---------------------------------------------------------------------------------------
# Django reads every timestamptz through its BaseTzLoader: psycopg's pure-Python TimestamptzLoader (a regular
# expression and a dozen Python steps per value), then `replace(tzinfo=<Django's zone>)`. psycopg's C loader
# parses the same text to the same datetime in the connection's zone; the loader below calls it and makes the
# same replace, so a row reads as Django reads it at a quarter of the CPU per timestamp. When the C loader's
# zone already is Django's UTC (the session zone Django sets), the replace changes nothing (`replace(tzinfo=
# utc)` of a UTC datetime is an equal datetime with the same tzinfo object): the loader then hands psycopg the
# C loader's own `load`, and a timestamp costs no Python call at all.
_PROBE = b"2000-01-01 00:00:00+00"


def use_c_timestamptz_loader(adapters) -> None:
    """On a cursor's psycopg adapters map whose timestamptz loader is Django's (unchanged), load through
    psycopg's C loader with Django's replace; leave any other map as it is."""
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader
    from psycopg._cmodule import _psycopg
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    info = adapters.types.get("timestamptz")
    current = info and adapters.get_loader(info.oid, Format.TEXT)
    if _psycopg is None or not (isinstance(current, type) and issubclass(current, BaseTzLoader)
                                and current.load is BaseTzLoader.load):
        return
    zone = current.timezone
    c_loader = _psycopg.TimestamptzLoader

    class CTzLoader(Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self.parse = c_loader(oid, context).load
            # The zone the C loader resolved (the session's, read once here as it reads it once), by its answer
            if zone is _UTC and self.parse(_PROBE).tzinfo is _UTC:
                self.load = self.parse  # psycopg calls the instance's `load`: the C method itself

        def load(self, data):
            return self.parse(data).replace(tzinfo=zone)

    adapters.register_loader(info.oid, CTzLoader)
