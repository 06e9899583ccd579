"""apps/core/prepared.py's connection lookup and cursor_for checks (docs/performance.md, "Sixteenth step: the
connection lookup and cursor_for (branch conn2)"): `default_connection()` is `connections["default"]` read from
the thread's storage without asgiref's Local in between; cursor_for reads DEBUG from LazySettings' own store and
leaves out `ensure_connection()` while it would do nothing, and both still honour what Django's checks honour
(DEBUG however it is set, force_debug_cursor, execute wrappers, a running event loop, pytest-django's blocker, a
closed connection, a patched method)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import threading

import django.utils.asyncio as django_asyncio
import pytest
from asgiref import local as asgiref_local
from django.conf import LazySettings, settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.test import override_settings
from django.test.testcases import SimpleTestCase
from django.test.utils import CaptureQueriesContext
from django.utils.connection import BaseConnectionHandler
from django.utils.functional import LazyObject

from apps.core import prepared

# ---- the libraries' code this relies on (fails when one changes: check prepared.py's reasoning against it) ----

# sha256 of each source text (Django 5.2.19, asgiref 3.13.0)
_SOURCES = {
    # default_connection: what `connections["default"]` does, and where asgiref keeps a sync thread's values
    "asgiref _ThreadCriticalLocal": (lambda: asgiref_local._ThreadCriticalLocal,
                                     "620d0c88bdbf289a431a21b7aadefc2dad974fe9b981ba00083a27890a24ac6c"),
    "BaseConnectionHandler.__getitem__": (lambda: BaseConnectionHandler.__getitem__,
                                          "e2f3bd9b8a64cc0dd79a6ada8f716a6815bfc8eefc3e35824da07270fe2f150a"),
    # cursor_for: queries_logged restated, DEBUG from LazySettings' store
    "BaseDatabaseWrapper.queries_logged": (lambda: BaseDatabaseWrapper.queries_logged.fget,
                                           "d26da937d4e8595c6791cdc1e466bd75b431da510b55dba74ea895a874261908"),
    "LazySettings.__getattr__": (lambda: LazySettings.__getattr__,
                                 "371d4a5ad82f9736344106b966901d50b2bbde269f441de8d4882f5bff7c2224"),
    "LazySettings.__setattr__": (lambda: LazySettings.__setattr__,
                                 "f42afaa8727f7ccd7656d2d51d239246d7fbee33d552be8f8b76ef099d67af31"),
    "LazySettings.__delattr__": (lambda: LazySettings.__delattr__,
                                 "f216586e312ec9a9084ce0b2d40faf04fa3760e13fd40d128f6e38391964ce29"),
    "LazyObject.__getattribute__": (lambda: LazyObject.__getattribute__,
                                    "598a9e559fcc32304cac4ba7962123f8875f78ca0671c7ee2c20c38fa0cc2e90"),
    # _ensure_connection: what Django's ensure_connection and its test-case patch do on an open connection
    "BaseDatabaseWrapper.ensure_connection": (None,  # Django's, as pytest-django keeps it (not its blocker)
                                              "d7ea674f3e5e3bcbf81660669d4e940d4d526a98aa624405ad1874e1392ba3e3"),
    "async_unsafe": (lambda: django_asyncio.async_unsafe,
                     "1536319765bc947bf047072ad5ea3b15a60d536c4db2c38832e1771d1c6922b8"),
    "SimpleTestCase.ensure_connection_patch_method": (
        lambda: SimpleTestCase.ensure_connection_patch_method,
        "875eedd7ca0fbb7fb2a0cbbe087ba7af57fece724a782dd981be221f4f5648d1"),
}


@pytest.mark.parametrize("name", list(_SOURCES))
def test_the_library_code_relied_on_is_unchanged(name, django_db_blocker):
    get, sha = _SOURCES[name]
    code = get() if get is not None else inspect.unwrap(django_db_blocker._real_ensure_connection)
    assert hashlib.sha256(inspect.getsource(code).encode()).hexdigest() == sha, (
        f"{name} changed: check apps/core/prepared.py's default_connection / cursor_for against it")


def test_asgirefs_storage_is_read_directly():
    """The import-time check passed: the fast lookup is in use (fails when asgiref keeps its values elsewhere)."""
    assert prepared._connections_local is connections._connections
    assert prepared._connections_storage is vars(connections._connections)["_storage"]
    assert prepared._thread_storage_of(asgiref_local.Local()) is None  # not a thread-critical Local


# ---- default_connection ----


def test_default_connection_is_the_threads_without_a_lookup(connection_lookups):
    connection = connections["default"]
    connection_lookups.clear()
    assert prepared.default_connection() is connection
    assert prepared.default_connection() is connection
    assert connection_lookups == []


def test_another_threads_default_connection_is_its_own(connection_lookups):
    mine = connections["default"]
    found = []

    def run():
        try:
            first = prepared.default_connection()  # the thread's first: made by Django's lookup
            found.extend([first, connections["default"], prepared.default_connection(), list(connection_lookups)])
        finally:
            connections.close_all()

    connection_lookups.clear()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert found[0] is found[1] is found[2]
    assert found[0] is not mine
    assert found[3] == ["default", "default"]  # the thread's first lookup, then the test's own


def test_in_an_event_loop_it_is_djangos_lookup(connection_lookups):
    mine = connections["default"]

    async def inside():
        return prepared.default_connection(), connections["default"]

    connection_lookups.clear()
    ours, djangos = asyncio.run(inside())
    assert ours is djangos  # the context's connection, as asgiref keeps it there
    assert ours is not mine
    assert connection_lookups == ["default", "default"]


def test_a_connection_set_or_deleted_is_seen():
    original = connections["default"]
    other = connections.create_connection("default")
    try:
        connections["default"] = other
        assert prepared.default_connection() is other
        del connections["default"]
        made = prepared.default_connection()
        assert made is connections["default"]
        assert made is not original and made is not other
    finally:
        connections["default"] = original
    assert prepared.default_connection() is original


def test_a_replaced_local_is_not_read(monkeypatch, connection_lookups):
    other = asgiref_local.Local(thread_critical=True)
    made = connections.create_connection("default")
    other.default = made
    monkeypatch.setattr(connections, "_connections", other)
    assert prepared.default_connection() is made
    assert connection_lookups == ["default"]


# ---- cursor_for ----


@pytest.fixture
def connection(db):
    connection = connections["default"]
    connection.ensure_connection()
    return connection


@pytest.fixture
def loop_checks(monkeypatch):
    """How often Django's async_unsafe asked asyncio for a running loop (ensure_connection's check)."""
    calls = []
    original = django_asyncio.get_running_loop

    def counted():
        calls.append(1)
        return original()

    monkeypatch.setattr(django_asyncio, "get_running_loop", counted)
    return calls


def test_an_open_connection_is_not_ensured_again(connection, loop_checks):
    """Django's ensure_connection (here its test-case patch, under pytest-django's django_db) does nothing on an
    open connection in a synchronous thread: left out."""
    assert prepared._idle_when_connected(connection.ensure_connection.__func__)
    raw = prepared.cursor_for(connection)
    assert isinstance(raw, prepared._RawCursor)
    assert prepared.cursor_for(connection) is raw
    assert loop_checks == []
    with raw as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_debug_is_read_from_lazysettings_store(connection, monkeypatch):
    reads = []
    original = LazySettings.__getattribute__

    def counted(self, name):
        if name == "DEBUG":
            reads.append(name)
        return original(self, name)

    assert settings.DEBUG is False  # read once: LazySettings keeps it
    monkeypatch.setattr(LazySettings, "__getattribute__", counted)
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)
    assert reads == []


@pytest.mark.parametrize("way", ["override_settings", "assigned", "fixture"])
def test_debug_however_set_logs_the_statements(connection, settings, way):
    from django.conf import settings as django_settings

    def logged():
        cursor = prepared.cursor_for(connection)
        assert isinstance(cursor, CursorWrapper) and connection.queries_logged
        with cursor as c:
            c.execute("SELECT 1")
        assert connection.queries[-1]["sql"] == "SELECT 1"

    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)
    if way == "override_settings":
        with override_settings(DEBUG=True):
            logged()
    elif way == "assigned":  # as Django's setup_test_environment sets it: no setting_changed signal
        django_settings.DEBUG = True
        try:
            logged()
        finally:
            django_settings.DEBUG = False
    else:
        settings.DEBUG = True  # pytest-django's settings fixture
        logged()
        settings.DEBUG = False
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)


def test_debug_not_yet_read_is_read_through_settings(connection):
    vars(settings).pop("DEBUG", None)
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)
    assert vars(settings)["DEBUG"] is False  # read (and kept) by LazySettings
    with override_settings(DEBUG=True):
        assert isinstance(prepared.cursor_for(connection), CursorWrapper)


def test_captured_queries_and_execute_wrappers_see_the_statement(connection):
    with CaptureQueriesContext(connection) as captured, prepared.cursor_for(connection) as cursor:
        cursor.execute("SELECT 2")
    assert [q["sql"] for q in captured] == ["SELECT 2"]
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        assert prepared._run(connection, "SELECT 3", [], "fetchone") == (3,)
    assert seen == ["SELECT 3"]
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)


def test_a_running_event_loop_is_refused_as_django_refuses_it(connection, monkeypatch, async_unsafe_refused):
    async def inside():
        return prepared.cursor_for(connection)

    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(inside())
    with pytest.raises(SynchronousOnlyOperation):
        asyncio.run(_rows_in_a_loop(connection))
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    assert isinstance(asyncio.run(inside()), prepared._RawCursor)


async def _rows_in_a_loop(connection):
    return prepared._run(connection, "SELECT 1", [], "fetchone")


def test_pytest_djangos_blocker_still_blocks_an_open_connection(connection, django_db_blocker):
    with django_db_blocker.block():
        assert not prepared._idle_when_connected(connection.ensure_connection.__func__)
        with pytest.raises(RuntimeError, match="Database access not allowed"):
            prepared.cursor_for(connection)
    assert isinstance(prepared.cursor_for(connection), prepared._RawCursor)


def test_a_patched_ensure_connection_is_called(connection, monkeypatch):
    calls = []

    def on_instance():
        calls.append("instance")

    monkeypatch.setitem(vars(connection), "ensure_connection", on_instance)
    prepared.cursor_for(connection)
    monkeypatch.delitem(vars(connection), "ensure_connection")
    original = BaseDatabaseWrapper.ensure_connection

    def on_class(self):
        calls.append("class")
        return original(self)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", on_class)
    prepared.cursor_for(connection)
    assert calls == ["instance", "class"]


@pytest.mark.django_db(transaction=True)
def test_a_closed_connection_is_opened_again():
    connection = connections["default"]
    connection.ensure_connection()
    first = prepared.cursor_for(connection)
    connection.close()
    assert connection.connection is None
    again = prepared.cursor_for(connection)
    assert connection.connection is not None
    assert again is not first and again.raw is connection.connection
    assert prepared._run(connection, "SELECT 4", [], "fetchone") == (4,)


def test_which_ensure_connection_is_left_out(django_db_blocker, monkeypatch):
    real = django_db_blocker._real_ensure_connection  # Django's own, as pytest-django keeps it
    assert prepared._djangos_ensure_connection(real)
    assert prepared._idle_when_connected(real)
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", real)
    assert prepared._idle_when_connected(SimpleTestCase.ensure_connection_patch_method())  # around Django's
    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", lambda self: None)
    assert not prepared._idle_when_connected(SimpleTestCase.ensure_connection_patch_method())  # around another
    assert not prepared._idle_when_connected(django_db_blocker._blocking_wrapper)
    assert not prepared._idle_when_connected(django_asyncio.async_unsafe(lambda self: None))
    assert not prepared._idle_when_connected(lambda self: None)
    assert not prepared._idle_when_connected(None)
