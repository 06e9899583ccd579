"""A task run's and a flow run's set_state look this thread's default connection up once and hand it to the
compare-and-swap write (apps/core/prepared.py `write_together_if`'s `connection`): each lookup went through
asgiref's Local (~12 k instructions), and `django.db.connection.vendor` then the write's own lookup were two. The
one lookup is prepared.default_connection (branch conn2), which reads the thread's storage: no `connections[...]`.
The connection handed down is the one the vendor check read: a vendor other than PostgreSQL on it still takes
the locked way, and `write_together_if` refuses it as it refused its own lookup's."""

from __future__ import annotations

import pytest
from django.db import connection, connections
from django.utils.connection import ConnectionProxy

from apps.core import prepared
from apps.engine.models import TaskRun
from apps.engine.services import task_run_state_cache
from apps.engine.services.flow_runs import flow_run_set_state
from apps.engine.services.task_runs import task_run_create, task_run_set_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def swaps(monkeypatch):
    """The connection each `write_together_if` call was given (None: it looked its own up)."""
    given: list = []
    write = prepared.write_together_if

    def recording(*args, **kwargs):
        given.append(kwargs.get("connection"))
        return write(*args, **kwargs)

    monkeypatch.setattr(prepared, "write_together_if", recording)
    return given


def _task(ws, flow_run, key="t"):
    return task_run_create(workspace=ws, flow_run_id=flow_run.pk, task_key="t", dynamic_key=key)[0]


def test_a_cached_task_run_set_state_looks_the_connection_up_once(ws, flow_run, connection_lookups, swaps):
    task_run_state_cache.clear()
    first = _task(ws, flow_run, "1")
    task_run_set_state(workspace=ws, task_run_id=first.pk, state={"type": "RUNNING"})  # copies the flow run
    task = _task(ws, flow_run, "2")
    assert task_run_state_cache.get(ws.pk, task.pk) is not None
    connection_lookups.clear()
    swaps.clear()
    for state in ("RUNNING", "COMPLETED"):
        result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": state})
        assert result.status == "ACCEPT" and result.wrote_state
    assert connection_lookups == []  # prepared.default_connection: the thread's storage, no Local
    assert swaps == [connections["default"]] * 2
    assert TaskRun.objects.for_workspace(ws).get(pk=task.pk).state_type == "COMPLETED"


def test_an_uncached_task_run_set_state_hands_its_connection_to_the_write(ws, flow_run, swaps):
    task = _task(ws, flow_run)
    task_run_state_cache.clear()
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})
    assert result.status == "ACCEPT" and result.wrote_state
    assert swaps == [connections["default"]]


def test_a_cached_flow_run_set_state_looks_the_connection_up_once(ws, flow_run, connection_lookups, swaps):
    task_run_state_cache.clear()
    flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "RUNNING"})  # copies it
    connection_lookups.clear()
    swaps.clear()
    result = flow_run_set_state(workspace=ws, flow_run_id=flow_run.pk, state={"type": "COMPLETED"})
    assert result.status == "ACCEPT" and result.wrote_state
    assert connection_lookups == []  # (prepared.default_connection)
    assert swaps == [connections["default"]]


def test_another_vendor_on_the_connection_takes_the_locked_way(ws, flow_run, monkeypatch, swaps):
    task = _task(ws, flow_run)
    monkeypatch.setattr(connection, "vendor", "sqlite-like")  # on this thread's default connection
    result = task_run_set_state(workspace=ws, task_run_id=task.pk, state={"type": "RUNNING"})
    assert result.status == "ACCEPT" and result.wrote_state
    assert swaps == []  # no compare-and-swap attempted
    assert TaskRun.objects.for_workspace(ws).get(pk=task.pk).state_type == "RUNNING"


def test_write_together_if_checks_the_connection_it_is_given(ws, flow_run, monkeypatch):
    task = _task(ws, flow_run)
    other = ConnectionProxy(connections, "default")  # reads through to the same object
    assert other.vendor == "postgresql"
    elsewhere = type("Elsewhere", (), {"vendor": "sqlite-like"})()
    with pytest.raises(NotImplementedError):
        prepared.write_together_if([], task, [], unchanged="state_id", value=task.state_id, connection=elsewhere)
    monkeypatch.setattr(connection, "vendor", "sqlite-like")
    with pytest.raises(NotImplementedError):  # none given: its own lookup's
        prepared.write_together_if([], task, [], unchanged="state_id", value=task.state_id)
