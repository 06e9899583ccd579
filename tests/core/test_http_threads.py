"""config/http_threads.py: HTTP under the ASGI server runs the WSGI application on the thread pool and hands
back exactly its status, headers and body."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest

from config.http_threads import ThreadPoolHttp, is_poll


def _call(app, scope, body=b""):
    sent = []
    messages = [{"type": "http.request", "body": body[:3], "more_body": True},
                {"type": "http.request", "body": body[3:], "more_body": False}]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _scope(**extra):
    return {"type": "http", "method": "POST", "path": "/api/x", "root_path": "", "query_string": b"a=1",
            "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("10.0.0.7", 5555),
            "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer k"),
                        (b"x-many", b"1"), (b"x-many", b"2")], **extra}


def test_the_wsgi_app_sees_the_request_and_its_answer_goes_back_whole():
    seen = {}

    def wsgi(environ, start_response):
        seen.update(environ, body=environ["wsgi.input"].read(), thread=threading.current_thread().name)
        # Django writes Set-Cookie values with a leading space: it must not reach h11 (which refuses it).
        start_response("201 Created", [("Content-Type", "application/json"), ("Set-Cookie", " a=b; Path=/")])
        return [b'{"ok":', b" true}"]

    sent = _call(ThreadPoolHttp(wsgi, threads=2), _scope(), body=b'{"x": 1}')
    assert seen["REQUEST_METHOD"] == "POST" and seen["PATH_INFO"] == "/api/x" and seen["QUERY_STRING"] == "a=1"
    assert seen["CONTENT_TYPE"] == "application/json" and seen["CONTENT_LENGTH"] == "8"
    assert seen["HTTP_AUTHORIZATION"] == "Bearer k" and seen["HTTP_X_MANY"] == "1,2"
    assert seen["REMOTE_ADDR"] == "10.0.0.7" and seen["body"] == b'{"x": 1}'
    assert seen["thread"].startswith("http")
    assert sent == [
        {"type": "http.response.start", "status": 201,
         "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=b; Path=/")]},
        {"type": "http.response.body", "body": b'{"ok": true}'},
    ]


def test_the_response_is_closed_so_django_ends_the_request():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def wsgi(environ, start_response):
        start_response("200 OK", [])
        return Body([b"x"])

    _call(ThreadPoolHttp(wsgi, threads=1), _scope(method="HEAD"))
    assert closed == [True]


def test_a_body_larger_than_the_upload_memory_size_waits_on_disk(settings):
    # As Django's own ASGI handler keeps it: concurrent large bodies must not grow the process without bound.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    seen = {}

    def wsgi(environ, start_response):
        seen.update(input=environ["wsgi.input"], length=environ["CONTENT_LENGTH"], body=environ["wsgi.input"].read())
        start_response("200 OK", [])
        return [b"ok"]

    body = b"x" * 1800
    sent = _call(ThreadPoolHttp(wsgi, threads=1), _scope(), body=body)
    assert (seen["body"], seen["length"]) == (body, "1800")
    assert seen["input"]._rolled  # a temporary file, not 1,800 bytes in memory
    assert sent[1]["body"] == b"ok"


def _never_called(environ, start_response):
    raise AssertionError("a body over the limit must not reach the application")


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(settings):
    settings.PRAETOR_MAX_REQUEST_BYTES = 5
    sent = _call(ThreadPoolHttp(_never_called, threads=1),
                 _scope(headers=[(b"content-type", b"application/json"), (b"content-length", b"6")]), body=b"123456")
    assert sent[0]["status"] == 413
    assert sent[1]["body"] == b'{"detail": "The request body is larger than 5 bytes.", "code": "request_too_large"}'


def test_a_chunked_body_over_the_limit_is_413_and_an_exact_fit_passes(settings):
    settings.PRAETOR_MAX_REQUEST_BYTES = 5
    assert _call(ThreadPoolHttp(_never_called, threads=1), _scope(), body=b"123456")[0]["status"] == 413

    def echo(environ, start_response):
        start_response("200 OK", [])
        return [environ["wsgi.input"].read()]

    sent = _call(ThreadPoolHttp(echo, threads=1), _scope(), body=b"12345")
    assert (sent[0]["status"], sent[1]["body"]) == (200, b"12345")


def test_a_body_in_one_message_is_handed_over_in_memory_as_it_came():
    seen = {}

    def wsgi(environ, start_response):
        seen.update(input=environ["wsgi.input"], body=environ["wsgi.input"].read(), length=environ["CONTENT_LENGTH"])
        start_response("200 OK", [])
        return [b"ok"]

    messages = [{"type": "http.request", "body": b'{"x": 1}', "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(ThreadPoolHttp(wsgi, threads=1)(_scope(), receive, send))
    assert isinstance(seen["input"], io.BytesIO)
    assert (seen["body"], seen["length"]) == (b'{"x": 1}', "8")
    assert [m.get("status") for m in sent] == [200, None] and sent[1]["body"] == b"ok"


def test_an_error_in_the_thread_reaches_the_request_task():
    def broken(environ, start_response):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        _call(ThreadPoolHttp(broken, threads=1), _scope())


_POLL = "/api/accounts/a/workspaces/w/work_pools/p/get_scheduled_flow_runs"


@pytest.mark.parametrize(("method", "path", "poll"), [
    ("POST", _POLL, True),
    ("POST", "/api/accounts/a/workspaces/w/work_pools/p/workers/heartbeat", True),
    ("POST", "/api/accounts/a/workspaces/w/deployments/get_scheduled_flow_runs", True),
    ("POST", "/api/accounts/a/workspaces/w/work_queues/q/get_runs", True),
    ("GET", _POLL, False),
    ("POST", "/api/accounts/a/workspaces/w/task_runs/", False),
    ("POST", "/api/accounts/a/workspaces/w/flow_runs/r/set_state", False),
])
def test_polls_are_told_apart_by_method_and_path(method, path, poll):
    assert is_poll({"method": method, "path": path}) is poll


def _threads_seen(app, paths):
    seen = []

    def wsgi(environ, start_response):
        seen.append((environ["PATH_INFO"], threading.current_thread().name))
        start_response("200 OK", [])
        return [b""]

    app.wsgi_application = wsgi
    for path in paths:
        _call(app, _scope(path=path))
    return seen


def test_polls_run_on_their_own_threads_and_with_no_poll_threads_on_the_others():
    own = _threads_seen(ThreadPoolHttp(None, threads=2, poll_threads=1), [_POLL, "/api/x"])
    assert own[0][1].startswith("http-poll_") and own[1][1].startswith("http_")
    shared = _threads_seen(ThreadPoolHttp(None, threads=2, poll_threads=0), [_POLL, "/api/x"])
    assert shared[0][1].startswith("http_") and shared[1][1].startswith("http_")


def test_a_poll_is_answered_while_every_other_thread_is_busy():
    release = threading.Event()

    def wsgi(environ, start_response):
        if not environ["PATH_INFO"].endswith("get_scheduled_flow_runs"):
            assert release.wait(10)  # a long write holds the only request thread
        start_response("200 OK", [])
        return [environ["PATH_INFO"].encode()]

    app = ThreadPoolHttp(wsgi, threads=1, poll_threads=1)
    done = []

    async def one(path):
        messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

        async def receive():
            return messages.pop(0)

        async def send(message):
            if message["type"] == "http.response.body":
                done.append(message["body"].decode())

        await app(_scope(path=path), receive, send)

    async def scenario():
        slow = asyncio.ensure_future(one("/api/slow"))
        await asyncio.sleep(0.05)
        await asyncio.wait_for(one(_POLL), timeout=5)  # not queued behind /api/slow
        assert done == [_POLL]
        release.set()
        await slow

    asyncio.run(scenario())
    assert done == [_POLL, "/api/slow"]


def test_no_thread_starts_before_the_first_request():
    # gunicorn builds the app in its master (preload) and forks: threads made there would not be in the workers.
    before = set(threading.enumerate())
    app = ThreadPoolHttp(None, threads=3, poll_threads=2)
    assert set(threading.enumerate()) == before
    _threads_seen(app, ["/api/x"])
    assert len([t for t in set(threading.enumerate()) - before if t.name.startswith("http")]) == 5


def _environ_headers_before(scope: dict) -> dict:
    """The headers part of `_environ` as it was before header names' keys were kept (config/http_threads.py)."""
    environ = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin1").upper().replace("-", "_")
        value = raw_value.decode("latin1")
        if name == "CONTENT_LENGTH":
            continue
        key = "CONTENT_TYPE" if name == "CONTENT_TYPE" else f"HTTP_{name}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


@pytest.mark.parametrize("fill", [False, True], ids=["keys-kept", "past-the-limit"])
def test_header_environ_keys_are_the_same_kept_or_not(monkeypatch, fill):
    from config import http_threads

    monkeypatch.setattr(http_threads, "_HEADER_KEYS", {})
    if fill:  # a process that has seen _HEADER_KEYS_SIZE names already works the others out each time
        for i in range(http_threads._HEADER_KEYS_SIZE + 3):
            http_threads._header_key(b"x-filler-%d" % i)
        assert len(http_threads._HEADER_KEYS) == http_threads._HEADER_KEYS_SIZE
    headers = [(b"content-type", b"application/json"), (b"content-length", b"12"), (b"content_length", b"3"),
               (b"content_type", b"text/plain"), (b"x-many", b"1"), (b"x-many", b"2"), (b"x_many", b"3"),
               (b"authorization", b"Bearer k"), (b"x-\xe9t\xe9", b"caf\xe9"), (b"", b"empty"), (b"host", b"h:1"),
               (b"Mixed-Case", b"v"), (b"cookie", b"a=1"), (b"cookie", b"b=2")]
    for _ in range(2):  # the names' keys worked out, then (unless past the limit) kept
        environ = http_threads._environ(_scope(headers=headers), io.BytesIO(b""), 0)
        expected = _environ_headers_before({"headers": headers})
        assert {k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_TYPE"} == expected
        assert environ["CONTENT_LENGTH"] == "0"  # the body's real length, never a header's
    if not fill:
        assert http_threads._HEADER_KEYS[b"content-length"] is http_threads._SKIP
        assert http_threads._HEADER_KEYS[b"x-many"] == "HTTP_X_MANY"
