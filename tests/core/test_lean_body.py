"""The lean route's body read (apps/core/api/lean.py's `_body`): for the input this project's servers give (the
whole body in a BytesIO, CONTENT_LENGTH its length) the bytes are taken from the BytesIO without reading it, after
Django's size check; anything else is Django's `request.body`. Both answer alike, and requests through the handler
answer what they answer with the lean route off (the oversize, malformed, mistyped, unknown-field bodies too)."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import WSGIRequest
from django.test.client import FakePayload

from apps.core.api.lean import _body
from apps.ratelimit import middleware as ratelimit_middleware
from config.handler import Handler
from config.http_threads import _environ, run_wsgi
from tests.core.test_lean import MASKS
from tests.engine.runs_helpers import base, create_flow, create_flow_run, create_task_run, set_flow_state, state

_VARYING = {"RateLimit-Remaining", "RateLimit-Reset", "Content-Length"}


def _environ_of(method: str, path: str, body: bytes, *, length: int | None = None, content_type="application/json",
                key: str = "", stream=None) -> dict:
    """An environ as config/http_threads.py's servers build it (the body whole in a BytesIO, CONTENT_LENGTH its
    length), `length` a CONTENT_LENGTH of another value (an int, or a str as received)."""
    headers = [(b"host", b"testserver"), (b"content-type", content_type.encode())]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"method": method, "path": path, "query_string": b"", "http_version": "1.1", "scheme": "http",
             "server": ("testserver", 80), "client": ("127.0.0.1", 5555), "root_path": "", "headers": headers}
    environ = _environ(scope, io.BytesIO(body) if stream is None else stream, len(body))
    if length is not None:
        environ["CONTENT_LENGTH"] = str(length)
    return environ


def _outcome(read) -> tuple:
    try:
        return ("bytes", read())
    except (RequestDataTooBig, ValueError, AssertionError) as error:  # AssertionError: FakePayload read past its end
        return (type(error).__name__, str(error))


_CASES = [
    # (body, CONTENT_LENGTH or None for the body's own length, DATA_UPLOAD_MAX_MEMORY_SIZE)
    (b'{"a": 1}', None, 2621440),
    (b"", None, 2621440),
    (b"x" * 100, None, 100),  # at the limit
    (b"x" * 101, None, 100),  # one byte over
    (b"x" * 5000, None, 100),
    (b"x" * 5000, None, None),  # no limit
    (b'{"a": 1}', 3, 2621440),  # a CONTENT_LENGTH shorter than the input
    (b'{"a": 1}', 50, 2621440),  # longer
    (b'{"a": 1}', 500, 100),  # longer and over the limit
    (b'{"a": 1}', -1, 2621440),
    (b'{"a": 1}', "", 2621440),
    (b'{"a": 1}', "abc", 2621440),  # int() refuses it: Django's ValueError
    (b'{"a": 1}', " 8 ", 2621440),
    (b"x" * 101, "0101", 100),
]


@pytest.mark.parametrize(("body", "length", "limit"), _CASES)
def test_the_body_read_is_djangos(settings, body, length, limit):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = limit
    expected = _outcome(lambda: WSGIRequest(_environ_of("POST", "/x", body, length=length)).body)
    request = WSGIRequest(_environ_of("POST", "/x", body, length=length))
    assert _outcome(lambda: _body(request)) == expected
    # whatever reads the body later (DRF's dispatch, when the lean one steps aside) reads what Django gives
    assert _outcome(lambda: request.body) == expected


@pytest.mark.parametrize(("body", "length", "limit"), _CASES)
def test_other_inputs_are_djangos_body(settings, body, length, limit):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = limit
    for make in (lambda: FakePayload(body), lambda: _spooled(body)):
        expected = _outcome(lambda m=make: WSGIRequest(_environ_of("POST", "/x", body, length=length, stream=m())).body)
        request = WSGIRequest(_environ_of("POST", "/x", body, length=length, stream=make()))
        assert _outcome(lambda r=request: _body(r)) == expected


def _spooled(body: bytes):
    import tempfile

    spooled = tempfile.SpooledTemporaryFile()  # noqa: SIM115 - a test's input
    spooled.write(body)
    spooled.seek(0)
    return spooled


def test_the_servers_input_is_taken_unread():
    """The fast path is taken: the BytesIO's own bytes, its position untouched (Django's read moves it)."""
    body = b'{"state": {"type": "RUNNING"}}'
    environ = _environ_of("POST", "/x", body)
    got = _body(WSGIRequest(environ))
    assert got is environ["wsgi.input"].getvalue() and got == body
    assert environ["wsgi.input"].tell() == 0


def test_an_input_already_read_is_djangos_body():
    body = b'{"a": 1}'
    request = WSGIRequest(_environ_of("POST", "/x", body))
    assert request.body == body  # read by Django first: the input is at its end
    assert request.META["wsgi.input"].tell() == len(body)
    assert _body(request) == body
    requests = [WSGIRequest(_environ_of("POST", "/x", body)) for _ in range(2)]
    for request in requests:
        request.META["wsgi.input"].seek(2)  # read in part, before Django
    assert _body(requests[0]) == requests[1].body == body[2:]


def _answer(handler, environ) -> tuple:
    status, headers, content = run_wsgi(handler, environ)
    text = content.decode()
    for pattern, mask in MASKS:  # ids, times, keys and durations (tests/core/test_lean.py's)
        text = pattern.sub(mask, text)
    return status, [(k, v) for k, v in headers if k not in _VARYING], text


@pytest.mark.django_db(transaction=True)
def test_bodies_through_the_handler_answer_as_without_the_lean_route(workspace, user_key, authed_client, settings,
                                                                    dispatches, monkeypatch):
    monkeypatch.setattr(ratelimit_middleware, "_recent_failures", {})
    run = create_flow_run(authed_client, workspace, create_flow(authed_client, workspace)["id"])
    set_flow_state(authed_client, workspace, run["id"], "RUNNING")
    b = base(workspace)

    def set_state():  # a new Pending task run each time: both answers are its Pending → Running
        return f"task_runs/{create_task_run(authed_client, workspace, run['id'])['id']}/set_state"

    good = {"flow_run_id": run["id"], "task_key": "k", "dynamic_key": "d", "name": "t", "state": state("PENDING"),
            "tags": [], "task_inputs": {}}

    def fresh(body, **extra):  # a new dynamic key each time: both answers are a create's (201)
        return lambda: json.dumps({**body, "dynamic_key": uuid.uuid4().hex, **extra}).encode()

    cases = [  # (path, body, extra), each with the lean route answering or stepping aside (`lean`)
        ("task_runs/", fresh(good), {}, True),
        (set_state, json.dumps({"state": state("RUNNING"), "force": True}).encode(), {}, True),
        ("task_runs/", fresh(good), {"limit": 100}, False),  # over DATA_UPLOAD_MAX_MEMORY_SIZE
        (set_state, json.dumps({"state": state("RUNNING")}).encode(), {"limit": 20}, False),
        (set_state, b'{"state": {"type": "RUNNING", "data": 1e400}}', {}, True),  # inf: the serializer's 422 (was 500)
        ("task_runs/", b'{"flow_run_id": ', {}, False),  # malformed JSON
        ("task_runs/", b"[1, 2", {}, False),
        ("task_runs/", b"", {}, False),  # empty
        ("task_runs/", fresh(good), {"content_type": "text/plain"}, False),
        ("task_runs/", fresh(good, unknown=1), {}, True),  # the 422 of an unknown field
        ("task_runs/", fresh(good, name="a\u0000b"), {}, False),  # DRF's 422 for a NUL
        ("task_runs/", fresh(good), {"length": 10}, False),  # a CONTENT_LENGTH shorter than the body
        ("task_runs/", fresh(good), {"length": "x"}, False),  # one int() refuses
    ]
    for path, body, extra, lean in cases:
        extra = dict(extra)
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = extra.pop("limit", 2621440)
        answers = []
        for on in (False, True):
            settings.PRAETOR_LEAN_VIEWS = on
            dispatches.clear()
            where = path() if callable(path) else path
            sent = body() if callable(body) else body
            answers.append(_answer(Handler(), _environ_of("POST", b + where, sent, key=user_key, **extra)))
            assert (dispatches == []) is (on and lean), (path, body, extra, dispatches)
        assert answers[1] == answers[0], (path, body, extra)
        assert answers[0][0][:1] in ("2", "4"), answers[0]
