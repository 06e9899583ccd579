"""config/http_server/ over real sockets: request threads sharing one epoll answer HTTP/1.1 as uvicorn + the
thread pool did (keep-alive, pipelining, chunked bodies, 100-continue, HEAD, 413, 400, HTTP/1.0, proxy headers),
close idle connections, hand websocket upgrades to a Channels consumer, and stop gracefully."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import threading
import time

import pytest
from channels.generic.websocket import WebsocketConsumer
from channels.routing import URLRouter
from django.urls import path

from config.http_server import Server


def _echo(environ, start_response):
    body = environ["wsgi.input"].read()
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    seen["body"] = body.decode("latin1")
    seen["input"] = type(environ["wsgi.input"]).__name__
    seen["thread"] = threading.current_thread().name
    start_response("200 OK", [("Content-Type", "application/json"), ("Set-Cookie", " a=b; Path=/")])
    return [json.dumps(seen).encode()]


class Echo(WebsocketConsumer):
    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data=f"echo:{text_data}:{self.scope['client'][0]}")


_WS_APP = URLRouter([path("ws/echo", Echo.as_asgi())])


@pytest.fixture
def serve():
    servers = []

    def start(app=_echo, **options):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        options.setdefault("threads", 2)
        server = Server([listener], app, options.pop("websocket_app", None), **options)
        server.start()
        server.port = listener.getsockname()[1]
        servers.append((server, listener))
        return server

    yield start
    for server, listener in servers:
        server.stop(2)
        listener.close()


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reader:
    """Responses read off a socket, one at a time."""

    def __init__(self, sock):
        self.sock, self.buffer = sock, b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def response(self, head_only: bool = False):
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed; read {self.buffer!r}"
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [tuple(line.split(": ", 1)) for line in lines[1:]]
        length = 0 if head_only else int(dict(headers).get("content-length", 0))
        while len(self.buffer) < length:
            assert self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def _get(path="/api/x", extra="", method="GET", version="1.1"):
    return f"{method} {path} HTTP/{version}\r\nHost: h\r\n{extra}\r\n".encode()


def test_keep_alive_requests_see_uvicorns_environ_and_get_one_write_answers(serve):
    server = serve()
    sock = _connect(server)
    reader = Reader(sock)
    body = b'{"x": 1}'
    sock.sendall(b"POST /api/a%20b/caf%C3%A9?q=1&r=%20 HTTP/1.1\r\nHost: praetor:8000\r\n"
                 b"Content-Type: application/json\r\nX-Many: 1\r\nX-Many: 2\r\nContent-Length: 8\r\n\r\n" + body)
    status, headers, content = reader.response()
    seen = json.loads(content)
    assert status == 200
    assert seen["REQUEST_METHOD"] == "POST" and seen["PATH_INFO"] == "/api/a b/café".encode().decode("latin1")
    assert seen["QUERY_STRING"] == "q=1&r=%20" and seen["SCRIPT_NAME"] == ""
    assert seen["CONTENT_TYPE"] == "application/json" and seen["CONTENT_LENGTH"] == "8" and seen["HTTP_X_MANY"] == "1,2"
    assert seen["HTTP_HOST"] == "praetor:8000" and seen["REMOTE_ADDR"] == "127.0.0.1"
    assert (seen["SERVER_NAME"], seen["SERVER_PORT"]) == ("127.0.0.1", str(server.port))
    assert seen["wsgi.url_scheme"] == "http" and seen["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert seen["body"] == '{"x": 1}' and seen["thread"].startswith("http_")
    names = [name for name, _ in headers]
    assert names[0] == "date" and ("set-cookie", "a=b; Path=/") in headers
    assert ("content-length", str(len(content))) in headers and "connection" not in names
    sock.sendall(_get("/api/again"))  # the same connection, kept alive
    assert json.loads(reader.response()[2])["PATH_INFO"] == "/api/again"


def test_pipelined_requests_are_answered_in_order(serve):
    sock = _connect(serve())
    sock.sendall(_get("/one") + b"POST /two HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + _get("/three"))
    reader = Reader(sock)
    seen = [json.loads(reader.response()[2]) for _ in range(3)]
    assert [(s["PATH_INFO"], s["body"]) for s in seen] == [("/one", ""), ("/two", "abc"), ("/three", "")]


def test_a_chunked_body_arrives_whole_with_its_real_length(serve):
    sock = _connect(serve())
    sock.sendall(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    time.sleep(0.05)
    sock.sendall(b"4\r\ndefg\r\n0\r\n\r\n")
    seen = json.loads(Reader(sock).response()[2])
    assert (seen["body"], seen["CONTENT_LENGTH"]) == ("abcdefg", "7")


def test_a_body_above_the_upload_memory_size_waits_in_a_temporary_file(serve, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    sock = _connect(serve())
    sock.sendall(b"POST /big HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"x" * 600)
    time.sleep(0.05)
    sock.sendall(b"y" * 4400)
    seen = json.loads(Reader(sock).response()[2])
    assert seen["body"] == "x" * 600 + "y" * 4400 and seen["input"] == "SpooledTemporaryFile"


def test_expect_100_continue_is_answered_before_the_body_is_sent(serve):
    sock = _connect(serve())
    sock.sendall(b"POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(b"ok")
    assert json.loads(Reader(sock).response()[2])["body"] == "ok"


def test_head_gets_the_headers_without_the_body_and_the_connection_goes_on(serve):
    sock = _connect(serve())
    reader = Reader(sock)
    sock.sendall(_get("/h", method="HEAD"))
    status, headers, _ = reader.response(head_only=True)
    assert status == 200 and int(dict(headers)["content-length"]) > 0
    sock.sendall(_get("/after"))
    assert json.loads(reader.response()[2])["PATH_INFO"] == "/after"  # no body bytes were left in between


def _never(environ, start_response):
    raise AssertionError("a body over the limit must not reach the application")


@pytest.mark.parametrize("request_bytes", [
    b"POST /big HTTP/1.1\r\nContent-Length: 6\r\n\r\n123456",
    b"POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n123\r\n3\r\n456\r\n0\r\n\r\n",
], ids=["declared", "chunked"])
def test_a_body_over_the_limit_is_413_in_the_apis_format_and_closes(serve, settings, request_bytes):
    settings.PRAETOR_MAX_REQUEST_BYTES = 5
    sock = _connect(serve(app=_never))
    sock.sendall(request_bytes)
    reader = Reader(sock)
    status, headers, body = reader.response()
    assert status == 413 and ("connection", "close") in headers
    assert body == b'{"detail": "The request body is larger than 5 bytes.", "code": "request_too_large"}'
    assert reader.closed()


def test_an_exact_fit_passes_the_limit(serve, settings):
    settings.PRAETOR_MAX_REQUEST_BYTES = 5
    sock = _connect(serve())
    sock.sendall(b"POST /fit HTTP/1.1\r\nContent-Length: 5\r\n\r\n12345")
    assert json.loads(Reader(sock).response()[2])["body"] == "12345"


def test_a_malformed_request_is_400_and_closes(serve):
    sock = _connect(serve(app=_never))
    sock.sendall(b"GET /x HTTP/1.1\r\nBad Header Line\r\n\r\n")
    reader = Reader(sock)
    status, headers, body = reader.response()
    assert (status, body) == (400, b"Invalid HTTP request received.") and ("connection", "close") in headers
    assert reader.closed()


@pytest.mark.parametrize("request_bytes", [_get(version="1.0"), _get(extra="Connection: close\r\n")],
                         ids=["http-1.0", "connection-close"])
def test_http_1_0_and_connection_close_end_the_connection_after_the_answer(serve, request_bytes):
    sock = _connect(serve())
    sock.sendall(request_bytes)
    reader = Reader(sock)
    status, headers, _ = reader.response()
    assert status == 200 and ("connection", "close") in headers
    assert reader.closed()


def test_an_application_error_is_500_and_the_thread_goes_on(serve):
    def app(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise ValueError("boom")
        return _echo(environ, start_response)

    server = serve(app=app, threads=1)
    sock = _connect(server)
    sock.sendall(_get("/boom"))
    reader = Reader(sock)
    status, headers, body = reader.response()
    assert (status, body) == (500, b"Internal Server Error") and ("connection", "close") in headers
    again = _connect(server)
    again.sendall(_get("/fine"))
    assert Reader(again).response()[0] == 200  # the only thread survived


def test_idle_connections_are_closed_after_keepalive_and_busy_ones_are_not(serve):
    def slow(environ, start_response):
        time.sleep(1.2)
        return _echo(environ, start_response)

    server = serve(app=slow, keepalive=0.4)
    idle, busy = _connect(server), _connect(server)
    busy.sendall(_get("/slow"))
    started = time.monotonic()
    assert Reader(idle).closed()
    assert time.monotonic() - started < 1.5
    assert Reader(busy).response()[0] == 200  # served past the keep-alive timeout: never closed under it


@pytest.mark.parametrize(("allowed", "remote", "scheme"), [
    ("127.0.0.1", "198.51.100.7", "https"),
    ("10.0.0.1", "127.0.0.1", "http"),
], ids=["trusted-peer", "untrusted-peer"])
def test_proxy_headers_are_believed_from_trusted_peers_only(serve, allowed, remote, scheme):
    sock = _connect(serve(forwarded_allow_ips=allowed))
    sock.sendall(_get(extra="X-Forwarded-For: 198.51.100.7, 127.0.0.1\r\nX-Forwarded-Proto: https\r\n"))
    seen = json.loads(Reader(sock).response()[2])
    assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == (remote, scheme)


def test_more_connections_than_threads_are_all_served(serve):
    server = serve(threads=2)
    idle = [_connect(server) for _ in range(20)]  # open and silent: they hold no thread
    results = []

    def client(i):
        sock = _connect(server)
        reader = Reader(sock)
        for j in range(5):
            sock.sendall(_get(f"/c{i}/{j}"))
            results.append(json.loads(reader.response()[2])["PATH_INFO"])

    workers = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(10)
    assert sorted(results) == sorted(f"/c{i}/{j}" for i in range(10) for j in range(5))
    for sock in idle:
        sock.close()


def test_worker_connections_cap_waits_for_a_close(serve):
    server = serve(max_connections=2)
    first, second = _connect(server), _connect(server)
    for sock in (first, second):
        sock.sendall(_get())
        assert Reader(sock).response()[0] == 200
    third = _connect(server)  # the kernel's backlog takes it; the server does not accept it yet
    third.sendall(_get("/third"))
    third.settimeout(0.5)
    with pytest.raises(TimeoutError):
        third.recv(1)
    first.close()
    third.settimeout(5)
    assert json.loads(Reader(third).response()[2])["PATH_INFO"] == "/third"


_POLL = "/api/accounts/a/workspaces/w/work_pools/p/get_scheduled_flow_runs"


def test_a_poll_is_answered_while_the_other_requests_hold_every_other_thread(serve):
    release = threading.Event()

    def app(environ, start_response):
        if not environ["PATH_INFO"].endswith("get_scheduled_flow_runs"):
            assert release.wait(10)
        return _echo(environ, start_response)

    server = serve(app=app, threads=1, poll_threads=1)
    slow, queued, poll = _connect(server), _connect(server), _connect(server)
    slow.sendall(_get("/slow"))
    time.sleep(0.1)
    queued.sendall(_get("/queued"))  # parked: one request other than a poll at a time
    time.sleep(0.1)
    poll.sendall(_get(_POLL, method="POST", extra="Content-Length: 0\r\n"))
    assert json.loads(Reader(poll).response()[2])["PATH_INFO"] == _POLL
    release.set()
    assert json.loads(Reader(slow).response()[2])["PATH_INFO"] == "/slow"
    assert json.loads(Reader(queued).response()[2])["PATH_INFO"] == "/queued"


def test_stop_answers_the_request_in_flight_with_connection_close_and_accepts_no_more(serve):
    entered = threading.Event()

    def slow(environ, start_response):
        entered.set()
        time.sleep(0.5)
        return _echo(environ, start_response)

    server = serve(app=slow)
    idle, busy = _connect(server), _connect(server)
    busy.sendall(_get("/inflight"))
    assert entered.wait(5)
    stopper = threading.Thread(target=server.stop, args=(5,))
    stopper.start()
    reader = Reader(busy)
    status, headers, body = reader.response()
    assert status == 200 and ("connection", "close") in headers and reader.closed()
    assert Reader(idle).closed()
    stopper.join(5)
    assert not stopper.is_alive() and not server.connections
    assert not [t for t in server.workers if t.is_alive()]


def test_stop_serves_a_request_that_arrived_on_an_idle_connection_before_a_thread_took_it(serve):
    """A keep-alive connection whose next request is in the socket, not yet taken by a thread (all busy), when
    the server stops (a worker's max_requests): the request is answered (Connection: close), not reset away."""
    entered, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        if environ["PATH_INFO"] == "/busy":
            entered.set()
            release.wait(5)
        return _echo(environ, start_response)

    server = serve(app=slow, threads=1)
    waiting, busy = _connect(server), _connect(server)
    waiting.sendall(_get("/first"))
    assert Reader(waiting).response()[0] == 200  # served: now idle, armed in the epoll
    busy.sendall(_get("/busy"))
    assert entered.wait(5)  # the only thread is held
    waiting.sendall(_get("/second"))  # delivered, but no thread is free to take it
    time.sleep(0.1)
    stopper = threading.Thread(target=server.stop, args=(5,))
    stopper.start()
    time.sleep(0.2)  # stop() has gone over the idle connections at least once
    release.set()
    reader = Reader(waiting)
    status, headers, body = reader.response()
    assert status == 200 and json.loads(body)["PATH_INFO"] == "/second"
    assert ("connection", "close") in headers and reader.closed()
    assert Reader(busy).response()[0] == 200
    stopper.join(5)
    assert not stopper.is_alive() and not server.connections


def _ws_frame(text: str) -> bytes:
    payload, mask = text.encode(), os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def _ws_read(sock) -> tuple[int, bytes]:
    head = sock.recv(2)
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", sock.recv(2))[0]
    data = b""
    while len(data) < length:
        data += sock.recv(length - len(data))
    return head[0] & 0x0F, data


def _upgrade(sock, path="/ws/echo", extra=""):
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return head.split(b"\r\n", 1)[0]


@pytest.mark.django_db(transaction=True)
def test_a_websocket_upgrade_reaches_the_channels_consumer_and_stop_closes_it(serve):
    server = serve(websocket_app=_WS_APP, forwarded_allow_ips="127.0.0.1")
    sock = _connect(server)
    assert _upgrade(sock, extra="X-Forwarded-For: 198.51.100.7\r\n") == b"HTTP/1.1 101 Switching Protocols"
    sock.sendall(_ws_frame("hi"))
    assert _ws_read(sock) == (1, b"echo:hi:198.51.100.7")  # uvicorn's proxy-headers rules on websockets too
    plain = _connect(server)  # HTTP goes on beside it
    plain.sendall(_get("/beside"))
    assert Reader(plain).response()[0] == 200
    server.stop(2)
    opcode, data = _ws_read(sock)
    assert opcode == 8 and struct.unpack("!H", data[:2])[0] == 1012  # uvicorn's shutdown: "service restart"


def test_the_access_log_has_uvicorns_line_when_asked_for(serve, caplog):
    import logging

    access = logging.getLogger("tests.access")
    sock = _connect(serve(access_log=access))
    with caplog.at_level(logging.INFO, logger="tests.access"):
        sock.sendall(_get("/a%20b?x=1"))
        Reader(sock).response()
        deadline = time.monotonic() + 5
        while not [r for r in caplog.records if r.name == "tests.access"] and time.monotonic() < deadline:
            time.sleep(0.01)  # the line is written just after the answer is sent
    port = sock.getsockname()[1]
    assert [r.getMessage() for r in caplog.records if r.name == "tests.access"] == [
        f'127.0.0.1:{port} - "GET /a%20b?x=1 HTTP/1.1" 200']


def test_clients_that_come_and_go_while_idle_connections_are_reaped_leave_nothing_behind(serve, caplog):
    """Many clients at once, some closing half-way through a request, some idle past the keep-alive timeout,
    while the housekeeper closes idle connections and new ones take the freed socket numbers: every complete
    request is answered, no thread fails, and in the end no connection is left."""
    import logging
    import random

    server = serve(threads=3, keepalive=0.2)
    failures = []

    def client(seed):
        rng = random.Random(seed)
        try:
            for i in range(15):
                sock = _connect(server)
                reader = Reader(sock)
                for j in range(rng.randint(1, 4)):
                    action = rng.random()
                    if action < 0.15:  # gone half-way through a request
                        sock.sendall(b"POST /half HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
                        break
                    if action < 0.25:  # idle past the timeout: the server closes it
                        time.sleep(0.45)
                        assert reader.closed()
                        break
                    sock.sendall(_get(f"/c{seed}/{i}/{j}"))
                    assert json.loads(reader.response()[2])["PATH_INFO"] == f"/c{seed}/{i}/{j}"
                sock.close()
        except Exception as exc:  # reported below
            failures.append(repr(exc))

    with caplog.at_level(logging.WARNING, logger="praetor.server"):
        clients = [threading.Thread(target=client, args=(seed,)) for seed in range(12)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(60)
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.05)
    assert failures == []
    assert not server.connections
    assert [r.getMessage() for r in caplog.records if r.name == "praetor.server"] == []


# --- a body written right after its head (httpx's two sends) -----------------------------------------------------
class _Stub:
    websocket_app = None


def _head_then_body():
    body = b'{"state": {"type": "RUNNING"}}'
    head = (f"POST /api/x HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
            "\r\n\r\n").encode()
    return head, body


def test_a_body_sent_after_its_head_is_read_by_the_same_read_without_rearming(monkeypatch):
    """The thread that read the head waits on the socket for the body (not in the epoll, where another thread
    could be woken for it): one read() returns the whole request."""
    from config.http_server import connection

    monkeypatch.setattr(connection, "_BODY_WAIT_TIMEVAL", struct.pack("ll", 5, 0), raising=False)  # no race
    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = connection.Connection(_Stub(), ours)
        head, body = _head_then_body()
        theirs.sendall(head)
        later = threading.Timer(0.05, theirs.sendall, (body,))
        later.start()
        assert conn.read() is True
        later.join()
        assert len(conn.ready) == 1
        assert conn.ready[0].body == [body] and conn.ready[0].method == "POST"
        assert not conn.body_due


def test_a_head_whose_body_does_not_come_holds_the_thread_only_briefly():
    from config.http_server import connection

    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = connection.Connection(_Stub(), ours)
        head, body = _head_then_body()
        theirs.sendall(head)
        started = time.monotonic()
        assert conn.read() is True  # waited at most _BODY_WAIT (the kernel rounds up to its tick), then gave up
        assert time.monotonic() - started < 0.5
        assert not conn.ready and conn.request is not None
        theirs.sendall(body)
        assert conn.read() is True
        assert len(conn.ready) == 1 and conn.ready[0].body == [body]
        # a GET has no body to wait for: read() returns at once with it
        theirs.sendall(b"GET /api/y HTTP/1.1\r\nhost: t\r\n\r\n")
        assert conn.read() is True and len(conn.ready) == 2 and not conn.body_due


def test_a_body_sent_late_is_still_answered(serve):
    server = serve()
    head, body = _head_then_body()
    with _connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(head)
        time.sleep(0.1)  # past the wait on the socket: the connection went back to the epoll
        sock.sendall(body)
        status, _, answer = reader.response()
        assert status == 200 and json.loads(answer)["body"] == body.decode()
        sock.sendall(head + body)
        status, _, answer = reader.response()
        assert status == 200 and json.loads(answer)["body"] == body.decode()


def _first_held(answer):
    """An app that holds `/first` until `go` is set (`started` set once it runs), answering `answer(environ)`."""
    started, go = threading.Event(), threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/first":
            started.set()
            assert go.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [answer(environ)]

    return app, started, go


# --- a next request that came while the answer was being sent ----------------------------------------------------
@pytest.mark.parametrize("preempted", [True, False])
def test_a_request_that_came_during_a_long_send_is_served_without_a_wake_up(serve, monkeypatch, preempted):
    """A send that took long (the thread was preempted, the client ran and sent its next request): the thread reads
    the connection again before re-arming it, so the request is served by it, not handed through the epoll to
    another thread. A short send re-arms the socket as before: the request takes a wake-up of its own."""
    from config.http_server import server as server_module

    monkeypatch.setattr(server_module, "_PREEMPTED", -1.0 if preempted else 60.0)
    wake_ups = []
    readable = Server._readable
    monkeypatch.setattr(Server, "_readable", lambda self, conn: (wake_ups.append(1), readable(self, conn))[1])
    app, started, go = _first_held(lambda environ: threading.current_thread().name.encode())
    server = serve(app, threads=2)
    with _connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(_get("/first"))
        assert started.wait(5)
        sock.sendall(_get("/second"))
        time.sleep(0.05)  # the second request is in the socket before the first's answer is sent
        go.set()
        first, second = reader.response(), reader.response()
        assert first[0] == second[0] == 200
        assert len(wake_ups) == (1 if preempted else 2)
        if preempted:
            assert first[2] == second[2]  # the same thread
        sock.sendall(_get("/third"))  # the connection goes on
        assert reader.response()[0] == 200
        if not preempted:
            assert len(wake_ups) == 3


def test_a_peer_that_closes_after_its_next_request_gets_the_answer(serve, monkeypatch):
    from config.http_server import server as server_module

    monkeypatch.setattr(server_module, "_PREEMPTED", -1.0)
    app, started, go = _first_held(lambda environ: environ["PATH_INFO"].encode())
    server = serve(app, threads=2)
    with _connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(_get("/first"))
        assert started.wait(5)
        sock.sendall(_get("/second"))
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.05)
        go.set()
        assert reader.response()[2] == b"/first"
        assert reader.response()[:3:2] == (200, b"/second")  # then the end of its stream: closed, as from the epoll
        assert reader.closed()
