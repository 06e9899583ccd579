"""apps/core/prepared.py's executor around its statement (`_run`, `_Statements.run`), without the per-statement
`with` blocks: Django's error wrapper entered only for a statement that raises (the same errors, causes, flag and
traceback as `with connection.wrap_database_errors` around the call), the connection's lock taken and given back by
its methods (released when the statement raises), Django's broken-transaction check called only when it would
raise, and the statuses compared as plain ints. docs/performance.md, "Seventeenth step: the statement executor's
Python around its statement (branch stmt3)"."""

from __future__ import annotations

import threading
import traceback

import psycopg
import pytest
from django.db import DataError, IntegrityError, ProgrammingError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.db.utils import DatabaseErrorWrapper
from psycopg import pq

from apps.core import prepared

pytestmark = pytest.mark.django_db


def _statements() -> prepared._Statements:
    raw = prepared.cursor_for(connection)
    assert isinstance(raw, prepared._RawCursor) and raw.statements is not None
    return raw.statements


class _Counted:
    def __init__(self, monkeypatch):
        self.enter = self.exit = 0
        enter, exit_ = DatabaseErrorWrapper.__enter__, DatabaseErrorWrapper.__exit__

        def counted_enter(wrapper):
            self.enter += 1
            return enter(wrapper)

        def counted_exit(wrapper, *exc):
            self.exit += 1
            return exit_(wrapper, *exc)

        monkeypatch.setattr(DatabaseErrorWrapper, "__enter__", counted_enter)
        monkeypatch.setattr(DatabaseErrorWrapper, "__exit__", counted_exit)


def test_a_statement_that_raises_nothing_enters_no_error_wrapper(preparing, monkeypatch):
    _statements()
    counted = _Counted(monkeypatch)
    for fetch in ("fetchone", "fetchall", "rowcount", None):
        for prepare in (True, False):
            prepared._run(connection, "SELECT g FROM generate_series(1, %s) g", [2], fetch, prepare)
    assert (counted.enter, counted.exit) == (0, 0)


def _with_wrapper(sql, params):
    """The executor's call as it was: inside `with connection.wrap_database_errors`."""
    statements = _statements()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        statements.run(sql, params)


def _frames(error) -> list:
    return [(frame.name, frame.lineno) for frame in traceback.extract_tb(error.__traceback__)]


@pytest.mark.parametrize("sql, params, django_error, psycopg_error, flags", [
    ("SELECT 1 / %s", [0], DataError, psycopg.errors.DivisionByZero, False),
    ("SELECT %s::int2", [40_000], DataError, psycopg.errors.NumericValueOutOfRange, False),
    ("SELECT nothing FROM engine_flowrun WHERE id = %s", [1], ProgrammingError, psycopg.errors.UndefinedColumn, True),
    ("INSERT INTO engine_flowrun (id) VALUES (%s)", [None], IntegrityError, psycopg.errors.NotNullViolation, False),
])
def test_a_statement_that_raises_gives_what_the_wrapper_around_it_gave(preparing, monkeypatch, sql, params,
                                                                     django_error, psycopg_error, flags):
    _statements()
    counted = _Counted(monkeypatch)
    connection.errors_occurred = False
    with pytest.raises(django_error) as ours, transaction.atomic():
        counted.enter = counted.exit = 0  # (the atomic block's own savepoint is wrapped too)
        try:
            prepared._run(connection, sql, params, "fetchall")
        finally:
            seen = (counted.enter, counted.exit)
    assert seen == (1, 1)
    assert type(ours.value.__cause__) is psycopg_error and ours.value.__context__ is ours.value.__cause__
    assert connection.errors_occurred is flags  # set for the errors that may leave the connection unusable
    connection.errors_occurred = False
    with pytest.raises(django_error) as theirs, transaction.atomic():
        _with_wrapper(sql, params)
    assert ours.value.args == theirs.value.args and str(ours.value) == str(theirs.value)
    assert connection.errors_occurred is flags
    # the same frames from the executor's call down (the caller's frame, the wrapper's __exit__ that raised Django's
    # error, then psycopg's error's own: the caller's again and _Statements.run's)
    mine = [name for name, _ in _frames(ours.value)][1:]
    before = [name.replace("_with_wrapper", "_run") for name, _ in _frames(theirs.value)][1:]
    assert mine == before and mine[:5] == ["_run", "counted_exit", "__exit__", "_run", "run"], (mine, before)
    # the connection's lock given back: the next statement runs
    assert not _statements().raw.lock.locked()
    assert prepared._run(connection, "SELECT 1", [], "fetchone") == (1,)


def test_an_exception_that_is_not_the_databases_passes_through_unchanged(preparing, monkeypatch):
    statements = _statements()

    class Boom(Exception):
        pass

    def boom(*args, **kwargs):
        raise Boom("not the database's")

    monkeypatch.setattr(statements, "run", boom)
    with pytest.raises(Boom, match="not the database's"):
        prepared._run(connection, "SELECT 1", [], "fetchone")


class _MethodsOnly:
    """A lock with acquire and release and no `with`: what `_Statements.run` uses of the connection's lock."""

    def __init__(self):
        self.lock, self.held, self.taken = threading.Lock(), [], 0

    def acquire(self, *args):
        self.taken += 1
        return self.lock.acquire(*args)

    def release(self):
        self.held.append(self.lock.locked())
        self.lock.release()

    def locked(self):
        return self.lock.locked()


def test_the_connections_lock_is_taken_and_given_back_by_its_methods(preparing, monkeypatch):
    statements = _statements()
    lock, kept = _MethodsOnly(), statements.raw.lock
    statements.raw.lock = lock  # (psycopg's own code, the atomic blocks' included, uses `with`: given back below)
    try:
        assert prepared._run(connection, "SELECT %s::int", [3], "fetchone") == (3,)
        with pytest.raises(psycopg.ProgrammingError):  # raised inside the lock (a parameter psycopg cannot dump)
            statements.run("SELECT %s", [object()])
        with pytest.raises(DataError):  # the server's error (the test's transaction is rolled back at its end)
            prepared._run(connection, "SELECT 1 / %s", [0], "fetchone")
    finally:
        statements.raw.lock = kept
    assert lock.taken == 3 and lock.held == [True, True, True] and not lock.locked()


def test_a_broken_transaction_is_checked_by_djangos_method_only_when_it_would_raise(preparing, monkeypatch):
    _statements()
    calls = []
    wrapper = type(connections["default"])  # (`connection` is Django's proxy of it)
    validate = wrapper.validate_no_broken_transaction

    def counted(self):
        calls.append(self.needs_rollback)
        return validate(self)

    monkeypatch.setattr(wrapper, "validate_no_broken_transaction", counted)
    assert prepared._run(connection, "SELECT 1", [], "fetchone") == (1,)
    assert calls == []
    with transaction.atomic():
        transaction.set_rollback(True)
        del calls[:]  # (Django's atomic block checks too)
        with pytest.raises(TransactionManagementError):
            prepared._run(connection, "SELECT 1", [], "fetchone")
        assert calls == [True]


def test_the_statuses_compared_are_plain_ints_equal_to_psycopgs():
    assert type(prepared._OK) is int and prepared._OK == pq.ConnStatus.OK
    assert type(prepared._IDLE) is int and prepared._IDLE == pq.TransactionStatus.IDLE
    assert type(prepared._TUPLES_OK) is int and prepared._TUPLES_OK == pq.ExecStatus.TUPLES_OK
    assert type(prepared._COMMAND_OK) is int and prepared._COMMAND_OK == pq.ExecStatus.COMMAND_OK
    assert type(prepared._FATAL_ERROR) is int and prepared._FATAL_ERROR == pq.ExecStatus.FATAL_ERROR


def test_the_psycopg_lock_is_a_plain_lock(preparing):
    """`_Statements.run` takes it by acquire() and gives it back by release() where psycopg's own code says `with`."""
    lock = _statements().raw.lock
    assert type(lock) is type(threading.Lock())
