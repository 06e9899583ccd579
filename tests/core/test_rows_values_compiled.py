"""apps/core/rows.py `values` for a plan of read and stamped fields (every INSERT's and most UPDATEs'): the values
taken in one C call, the parameters laid out in one more, only the positions whose value needs work for its types
(per type signature) done one by one. The parameters, the errors, the warnings and the stamps stored on the
instance are Django's `field.get_db_prep_save(field.pre_save(obj, add), connection)`, field by field, for whole
rows of random values of every kind, each plan seeing many type signatures."""

from __future__ import annotations

import random

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from apps.core import rows
from apps.engine.models.runs import TaskRun, TaskRunState
from tests.core.test_prepared_fast import NOW, _outcome, _param, _samples, _twin, _typed

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)


def _models() -> list:
    return [m for m in apps.get_models() if not m._meta.proxy and len(rows.insert_fields(m._meta)) >= 2]


def _row_outcome(compute, fields):
    result, caught = _outcome(compute)
    if result[0] == "ok":  # each parameter compared as its field's (a JSONField's text by its JSON value)
        result = ("ok", [_param(value[1], f) for value, f in zip(result[1], fields, strict=True)])
    return result, caught


def test_whole_rows_of_random_values_are_what_django_prepares(frozen_now):
    rng = random.Random(20261207)
    samples = _samples()
    compared = fast = 0
    for model in _models():
        meta = model._meta
        for add in (True, False):
            fields = rows.insert_fields(meta)
            entries = rows.plan(connection, meta, None, add)
            # the values each field takes alone (so most rows succeed), and sometimes any value (an error)
            accepted = {}
            for field in fields:
                accepted[field.attname] = [v for v in samples if _outcome(
                    lambda f=field, v=v: [f.get_db_prep_save(v, connection)], field)[0][0] == "ok"] or [None]
            for _ in range(40):
                obj = model()
                for field in fields:
                    pool = samples if rng.random() < 0.03 else accepted[field.attname]
                    obj.__dict__[field.attname] = rng.choice(pool)
                twin = _twin(obj)
                got = _row_outcome(lambda o=obj, e=entries, a=add: rows.values(connection, o, e, a), fields)
                want = _row_outcome(lambda o=twin, a=add, fs=fields: [
                    f.get_db_prep_save(f.pre_save(o, a), connection) for f in fs], fields)
                assert got == want, (model, add)
                assert _typed(obj) == _typed(twin), (model, add)  # stamps stored alike, errors included
                compared += 1
            compiled = rows._compiled.get(id(entries))
            fast += compiled is not None and compiled[1] is not None and bool(compiled[4])
    assert compared > 2_000 and fast > 40


def test_a_held_row_takes_no_field_by_field_loop_and_a_missing_field_does(frozen_now, monkeypatch):
    entries = rows.plan(connection, TaskRun._meta, None, True)
    run = TaskRun(task_key="t", dynamic_key="d", name="n")
    expected = [f.get_db_prep_save(f.pre_save(_twin(run), True), connection) for f in rows.insert_fields(TaskRun._meta)]
    loop = rows._values_loop
    called = []
    monkeypatch.setattr(rows, "_values_loop", lambda *a: called.append(a) or loop(*a))
    assert [_param(v, f) for v, f in zip(rows.values(connection, run, entries, True),
                                          rows.insert_fields(TaskRun._meta), strict=True)] == [
        _param(v, f) for v, f in zip(expected, rows.insert_fields(TaskRun._meta), strict=True)]
    assert called == [] and run.created == run.updated == NOW
    del run.__dict__["task_version"]  # not held: read through the model (a deferred field's way), by the loop
    run.__dict__["task_version"] = None
    state = TaskRunState(type="PENDING", name="Pending", timestamp=NOW)
    del state.__dict__["message"]
    with pytest.raises(TaskRunState.DoesNotExist):  # Django's refresh of the unsaved row finds none, as its pre_save
        rows.values(connection, state, rows.plan(connection, TaskRunState._meta, None, True), True)
    assert len(called) == 1


def test_the_type_signatures_a_plan_keeps_are_bounded(frozen_now):
    entries = rows.plan(connection, TaskRunState._meta, None, True)
    for n in range(3 * rows._SIGNATURES_MAX):
        state = TaskRunState(type="PENDING", name="Pending", timestamp=NOW)
        # a different signature each time: some of the nullable fields NULL
        for bit, name in enumerate(("message", "data", "state_details", "task_run_id", "timestamp", "name", "type")):
            if n >> bit & 1:
                state.__dict__[name] = None
        rows.values(connection, state, entries, True)
        assert len(rows._compiled[id(entries)][4]) <= rows._SIGNATURES_MAX
