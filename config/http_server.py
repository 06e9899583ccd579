"""An HTTP server without an event loop for HTTP: request threads that share one epoll and run Django themselves.

Why: under uvicorn every request crossed the worker's event loop thread (httptools callbacks, uvicorn's request
cycle, the proxy-headers middleware, Channels' router, the hand-off to a request thread and back), 270-590 µs of
CPU per hot request plus the GIL and futex wake-ups between the two threads (docs/performance.md, "Fifth step"
and "Sixth step"). Here `threads` threads wait on ONE epoll in which every socket is registered with
EPOLLONESHOT, so a ready socket goes to exactly one thread and stays with it until that thread re-arms it:

- a ready listener: the thread accepts what is waiting (up to a batch), registers the new sockets, re-arms it;
- a ready connection: the thread reads what is there (MSG_DONTWAIT), feeds the connection's
  httptools.HttpRequestParser, and for each complete request runs Django's WSGI handler itself, writes status
  line, headers and body in one sendall, and then re-arms the socket (a pipelined request already read is
  served first). No event loop, no queue, no second thread on the HTTP path.

Each thread keeps its database connection as the request threads of config/http_threads.py do. Polls keep a
lane of their own: at most `threads - poll_threads` other requests run at once; one more is parked (its socket
not re-armed) and taken up by the next thread that finishes another request, so `poll_threads` threads are always
free for polls (config/http_threads.py `is_poll`).

What a request sees is what it saw under uvicorn + config/http_threads.py: the environ is built by the same
`_environ` from a scope built as uvicorn's httptools protocol builds it (path percent-decoded, latin-1, repeated
headers joined, CONTENT_LENGTH the body's real length); X-Forwarded-For and X-Forwarded-Proto are believed from
trusted peers only, with uvicorn's rules (`forwarded`, the memo of config/server.py); bodies are spooled to a
temporary file above FILE_UPLOAD_MAX_MEMORY_SIZE; PRAETOR_MAX_REQUEST_BYTES gives the same 413 and closes;
Expect: 100-continue, HEAD, chunked bodies, HTTP/1.0 and Connection: close are answered as uvicorn answers them;
an invalid request gets uvicorn's 400 and a failing application its 500. Websocket upgrades (the events stream)
are handed, socket and bytes already read, to one asyncio (uvloop when installed) thread that serves them with
uvicorn's own websocket protocol and the Channels application.

Idle keep-alive connections are closed after `keepalive` seconds by a housekeeping thread; a connection is only
ever closed by whoever holds its lock, and the housekeeper only takes a lock that is free and a connection that
waits in the epoll, so it never closes a socket a request thread is using (nor, the table entry being removed
before the close, one whose number the kernel has given to a newer connection).

`Server` takes listening sockets and the two applications and runs without gunicorn (tests/compat/conftest.py);
config/server.py's `ThreadsWorker` runs it under gunicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import io
import json
import logging
import os
import select
import socket
import struct
import tempfile
import threading
import time
import urllib.parse
from collections import deque

import httptools
from django.conf import settings

from config.http_threads import _POLL_PATH_ENDS, _TIMING_LOG, _environ, _TimingLog

logger = logging.getLogger("praetor.server")

_READ = select.EPOLLIN | select.EPOLLONESHOT
_RECV_SIZE = 65536
_ACCEPT_BATCH = 1  # one per readiness: with several workers on one listener, each takes its share
_WS_TYPES = (b"websocket",)

_BAD_REQUEST = "Invalid HTTP request received."
_SERVER_ERROR = b"Internal Server Error"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Date:
    """The Date header line, made once a second (uvicorn's server does the same on its tick)."""

    second = -1
    line = ""

    @classmethod
    def header(cls) -> str:
        now = int(time.time())
        if now != cls.second:
            cls.line = f"date: {email.utils.formatdate(now, usegmt=True)}\r\n"
            cls.second = now
        return cls.line


def forwarded(trusted, client, forwarded_for: bytes | None, forwarded_proto: bytes | None, scheme: str):
    """uvicorn's ProxyHeadersMiddleware for one request: (client, scheme) after X-Forwarded-For and
    X-Forwarded-Proto, believed only when the peer's address is in `trusted` (its last value of each header, as
    the middleware's dict of the headers keeps)."""
    if trusted is None or (client[0] if client else None) not in trusted:
        return client, scheme
    if forwarded_proto is not None:
        proto = forwarded_proto.decode("latin1").strip()
        if proto in ("http", "https", "ws", "wss"):
            scheme = proto.replace("http", "ws") if scheme in ("ws", "wss") else proto
    if forwarded_for is not None:
        host = trusted.get_trusted_client_host(forwarded_for.decode("latin1"))
        if host:
            client = (host, 0)
    return client, scheme


def _address(info):
    return (str(info[0]), int(info[1])) if isinstance(info, tuple) else None


class _Request:
    """One parsed request: what `_environ` needs, the body (list of chunks in memory, or a spooled file)."""

    __slots__ = (
        "arrived",
        "body",
        "declared",
        "expect",
        "forwarded_for",
        "forwarded_proto",
        "headers",
        "keep_alive",
        "length",
        "method",
        "path",
        "query",
        "url",
        "version",
    )


class Connection:
    """A client socket, its parser (this object is the parser's protocol) and the requests read but not yet
    served. Only the thread holding `lock` reads, writes or closes the socket."""

    __slots__ = (
        "_server",
        "active",
        "armed",
        "client",
        "closed",
        "fd",
        "lock",
        "parser",
        "ready",
        "rejected",
        "request",
        "server",
        "sock",
        "upgrade",
    )

    def __init__(self, server: Server, sock: socket.socket):
        self._server = server
        self.sock = sock
        self.fd = sock.fileno()
        try:
            self.client = _address(sock.getpeername())
        except OSError:
            self.client = None
        self.server = _address(sock.getsockname())
        self.parser = httptools.HttpRequestParser(self)
        with contextlib.suppress(AttributeError):  # httptools < 0.6.3 has no leniencies (uvicorn does the same)
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.lock = threading.Lock()
        self.ready: deque = deque()  # complete requests, and at the end maybe ("reject", status) / ("upgrade", data)
        self.request: _Request | None = None  # the one being read
        self.armed = False  # registered in the epoll, waiting for bytes
        self.active = time.monotonic()
        self.closed = False
        self.rejected = False  # a 413 is queued: what follows is not read
        self.upgrade = False

    # httptools callbacks -------------------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        request = self.request = _Request()
        request.url = b""
        request.headers = []
        request.body = None
        request.length = 0
        request.forwarded_for = request.forwarded_proto = None
        request.declared = b"0"
        request.expect = False
        self.upgrade = False

    def on_url(self, url: bytes) -> None:
        self.request.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        request = self.request
        if name[:2] == b"x-":
            if name == b"x-forwarded-for":
                request.forwarded_for = value
            elif name == b"x-forwarded-proto":
                request.forwarded_proto = value
        elif name == b"content-length":
            request.declared = value
        elif name == b"expect" and value.lower() == b"100-continue":
            request.expect = True
        request.headers.append((name, value))

    def on_headers_complete(self) -> None:
        request, parser = self.request, self.parser
        request.method = parser.get_method().decode("ascii")
        request.version = parser.get_http_version()
        if parser.should_upgrade() and self._server.websocket_app is not None and _upgrade(request.headers):
            self.upgrade = True
            return
        parsed = httptools.parse_url(request.url)
        path = parsed.path.decode("ascii")
        request.path = urllib.parse.unquote(path) if "%" in path else path
        request.query = parsed.query or b""
        request.keep_alive = request.version != "1.0" and (b"connection", b"close") not in request.headers
        declared = request.declared  # the first Content-Length (httptools refuses differing repeats)
        if declared.isdigit() and int(declared) > settings.PRAETOR_MAX_REQUEST_BYTES:
            self._reject(413)
            return
        if request.expect and not self.rejected:
            self.sock.sendall(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        request = self.request
        if self.rejected or self.upgrade:
            return
        request.length += len(chunk)
        if request.length > settings.PRAETOR_MAX_REQUEST_BYTES:  # a chunked body, which declares no length
            self._reject(413)
            return
        body = request.body
        if body is None:
            request.body = [chunk]
        elif isinstance(body, list):
            if request.length <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
                body.append(chunk)
            else:  # as Django's ASGI handler: concurrent large bodies must not grow the process without bound
                spooled = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed after the response
                    max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b")
                spooled.writelines(body)
                spooled.write(chunk)
                request.body = spooled
        else:
            body.write(chunk)

    def on_message_complete(self) -> None:
        if self.rejected or self.upgrade:
            return
        request = self.request
        request.arrived = time.perf_counter()
        self.ready.append(request)
        self.request = None

    def _reject(self, status: int) -> None:
        if not self.rejected:
            self.rejected = True
            self.ready.append(("reject", status))

    # reading --------------------------------------------------------------------------------------------------
    def read(self) -> bool:
        """Read what the socket holds into the parser; False when the peer closed or the socket failed."""
        while True:
            try:
                data = self.sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            self.active = time.monotonic()
            if self.rejected:  # a 413, 400 or upgrade is waiting to be acted on: nothing more is parsed
                return True
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                self._upgraded(data[exc.args[0]:] if exc.args else b"")
            except httptools.HttpParserError:
                self.rejected = True
                self.ready.append(("reject", 400))
            if self.ready or len(data) < _RECV_SIZE:
                return True

    def _upgraded(self, rest: bytes) -> None:
        request = self.request
        if self.upgrade:  # a websocket: the request head as read, and anything after it, go to the websocket
            head = [request.method.encode(), b" ", request.url, b" HTTP/1.1\r\n"]
            for name, value in request.headers:
                head += [name, b": ", value, b"\r\n"]
            head += [b"\r\n", rest]
            self.ready.append(("upgrade", b"".join(head)))
        else:  # another protocol (h2c...): the request is answered as an ordinary one, and the connection closed
            logger.warning("Unsupported upgrade request.")
            for queued in self.ready:
                if isinstance(queued, _Request):
                    queued.keep_alive = False
        self.rejected = True  # nothing more is read as HTTP


def _upgrade(headers: list) -> bool:
    """uvicorn's test: the last Connection header lists `upgrade` and the Upgrade header is `websocket`."""
    connection, upgrade = [], None
    for name, value in headers:
        if name == b"connection":
            connection = [token.lower().strip() for token in value.split(b",")]
        elif name == b"upgrade":
            upgrade = value.lower()
    return b"upgrade" in connection and upgrade in _WS_TYPES


def _simple(status: str, content_type: str, body: bytes, head: bool = False) -> bytes:
    return (f"HTTP/1.1 {status}\r\n{_Date.header()}content-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("latin1") + (b"" if head else body)


def too_large(limit: int) -> bytes:
    content = json.dumps({"detail": f"The request body is larger than {limit} bytes.",
                          "code": "request_too_large"}).encode()
    return _simple("413 Request Entity Too Large", "application/json", content)


class Server:
    """Serves HTTP on `sockets` (listening, already bound) with `wsgi_app` on `threads` threads (of which
    `poll_threads` keep room for polls), and websocket upgrades with `websocket_app` (ASGI) on one asyncio thread.

    `start()` starts the threads and returns; `stop(timeout)` stops accepting, lets the requests in flight end
    (at most `timeout` seconds), closes the websockets as uvicorn does and every connection, and ends the
    threads. `served` counts the requests answered."""

    def __init__(self, sockets, wsgi_app, websocket_app=None, *, threads: int = 4, poll_threads: int = 0,
                 keepalive: float = 5.0, max_connections: int = 1000, forwarded_allow_ips="127.0.0.1",
                 proxy_headers: bool = True, send_timeout: float = 60.0, ws: str = "auto", loop: str = "auto",
                 access_log: logging.Logger | None = None):
        self.listeners = {sock.fileno(): sock for sock in sockets}
        self.wsgi_app = wsgi_app
        self.websocket_app = websocket_app
        self.threads = max(1, threads) + max(0, poll_threads)
        self.others_limit = max(1, threads) if poll_threads > 0 else None  # requests other than polls at once
        self.keepalive = keepalive
        self.max_connections = max(1, max_connections)
        self.send_timeout = send_timeout
        self.forwarded_allow_ips = forwarded_allow_ips
        self.trusted = None
        if proxy_headers:
            from config.server import _TrustedHostsMemo

            self.trusted = _TrustedHostsMemo(forwarded_allow_ips)
        self.ws, self.loop_setting = ws, loop
        self.connections: dict[int, Connection] = {}
        self.table_lock = threading.Lock()
        self.admit_lock = threading.Lock()
        self.others = 0
        self.parked: deque = deque()
        self.listening = False
        self.stopping = False
        self.served = 0
        self.workers: list[threading.Thread] = []
        self.epoll: select.epoll | None = None
        self.wake_r = self.wake_w = -1
        self.websockets: _Websockets | None = None
        self._timing = _TimingLog(_TIMING_LOG) if _TIMING_LOG else None
        self.access_log = access_log  # a line per request, as uvicorn's access log writes it (None: off)
        self._stopped = threading.Event()

    # lifecycle --------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.epoll = select.epoll()
        self.wake_r, self.wake_w = os.pipe()
        self.epoll.register(self.wake_r, select.EPOLLIN)  # level-triggered: every thread sees it and ends
        for fd, sock in self.listeners.items():
            sock.setblocking(False)
            self.epoll.register(fd, _READ)
        self.listening = True
        if self.websocket_app is not None:
            self.websockets = _Websockets(self)
            self.websockets.start()
        for i in range(self.threads):
            thread = threading.Thread(target=self._serve, name=f"http_{i}", daemon=True)
            thread.start()
            self.workers.append(thread)
        housekeeper = threading.Thread(target=self._housekeeping, name="http-housekeeping", daemon=True)
        housekeeper.start()
        self.workers.append(housekeeper)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful: no new connection; idle ones closed; in-flight requests answered (with Connection: close)
        until `timeout`; websockets closed (1012, uvicorn's shutdown); then everything closed."""
        if self.epoll is None or self.stopping:
            return
        deadline = time.monotonic() + timeout
        self.stopping = True
        self._stopped.set()  # the housekeeper ends; stop() closes idle connections itself from here
        self._pause_listening()
        if self.websockets is not None:
            self.websockets.shutdown(deadline)
        while time.monotonic() < deadline:
            self._close_idle(time.monotonic(), 0.0)
            with self.table_lock:
                if not self.connections:
                    break
            time.sleep(0.05)
        os.write(self.wake_w, b"x")
        for thread in self.workers:
            thread.join(timeout=max(0.1, deadline - time.monotonic()))
        with self.table_lock:
            left = list(self.connections.values())
        for conn in left:  # past the timeout: a request still running has its socket shut under it
            if conn.lock.acquire(blocking=False):
                try:
                    self._close_locked(conn)
                finally:
                    conn.lock.release()
            else:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        self.epoll.close()
        for fd in (self.wake_r, self.wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _pause_listening(self) -> None:
        with self.table_lock:
            if self.listening:
                self.listening = False
                for fd in self.listeners:
                    with contextlib.suppress(OSError):
                        self.epoll.modify(fd, 0)

    def _resume_listening(self) -> None:
        with self.table_lock:
            if not self.listening and not self.stopping and len(self.connections) < self.max_connections:
                self.listening = True
                for fd in self.listeners:
                    with contextlib.suppress(OSError):
                        self.epoll.modify(fd, _READ)

    # the threads ------------------------------------------------------------------------------------------------
    def _serve(self) -> None:
        poll, listeners, connections = self.epoll.poll, self.listeners, self.connections
        while True:
            try:
                events = poll(-1, 1)
            except InterruptedError:
                continue
            except (OSError, ValueError):  # the epoll closed under us: stopping
                return
            for fd, _ in events:
                if fd == self.wake_r:
                    return
                if fd in listeners:
                    self._accept(listeners[fd])
                    continue
                conn = connections.get(fd)
                if conn is not None:
                    try:
                        self._readable(conn)
                    except Exception:  # a thread must outlive anything one connection does
                        logger.exception("HTTP connection failed")
                        self._close(conn)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # EMFILE and friends: try again at the next readiness
                logger.warning("accept failed: %s", exc)
                break
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                            struct.pack("ll", int(self.send_timeout), 0))
            conn = Connection(self, sock)
            with self.table_lock:
                self.connections[conn.fd] = conn
                full = len(self.connections) >= self.max_connections
            conn.armed = True
            self.epoll.register(conn.fd, _READ)
            if full:  # worker_connections: take no more until one closes
                self._pause_listening()
                return
        with self.table_lock:
            if self.listening:
                with contextlib.suppress(OSError):
                    self.epoll.modify(listener.fileno(), _READ)

    def _readable(self, conn: Connection) -> None:
        with conn.lock:
            if conn.closed:
                return
            conn.armed = False
            if not conn.read():
                if not conn.ready:
                    self._close_locked(conn)
                    return
                # the peer closed its side after sending: answer what it sent (uvicorn does), then close
                for queued in conn.ready:
                    if isinstance(queued, _Request):
                        queued.keep_alive = False
            handed = self._drain(conn, admitted=False)
        while handed:  # parked connections whose place a request of this thread freed: served here, in turn
            parked = handed.popleft()
            with parked.lock:
                if parked.closed:
                    self._release(handed)
                    continue
                handed.extend(self._drain(parked, admitted=True))

    def _drain(self, conn: Connection, admitted: bool) -> deque:
        """Serve the connection's complete requests in order (its lock held), then re-arm or close it. Returns
        the parked connections handed a place by the requests served here."""
        ready, handed = conn.ready, deque()
        while ready:
            request = ready[0]
            if not isinstance(request, _Request):
                ready.clear()
                if request[0] == "reject":
                    self._reject(conn, request[1])
                else:
                    self._hand_to_websockets(conn, request[1])
                return handed
            other = self.others_limit is not None and not (
                request.method == "POST" and request.path.endswith(_POLL_PATH_ENDS))
            if other and not admitted and not self._admit(conn):
                return handed  # parked: its socket not re-armed until a place frees
            admitted = False
            ready.popleft()
            try:
                keep = self._respond(conn, request)
            finally:
                if other:
                    self._release(handed)
            if not keep or conn.closed:
                self._close_locked(conn)
                return handed
        if self.stopping and conn.request is None:
            self._close_locked(conn)
            return handed
        conn.active = time.monotonic()
        conn.armed = True
        try:
            self.epoll.modify(conn.fd, _READ)
        except OSError:
            self._close_locked(conn)
        return handed

    def _admit(self, conn: Connection) -> bool:
        """A place for a request other than a poll: at most `others_limit` run at once, so that the poll threads'
        worth of threads is always free for polls; without one the connection is parked."""
        with self.admit_lock:
            if self.others < self.others_limit:
                self.others += 1
                return True
            self.parked.append(conn)
            return False

    def _release(self, handed: deque) -> None:
        """A place given back: to the first parked connection (appended to `handed`, which keeps it) or freed."""
        with self.admit_lock:
            if self.parked:
                handed.append(self.parked.popleft())
            else:
                self.others -= 1

    # answering -------------------------------------------------------------------------------------------------
    def _respond(self, conn: Connection, request: _Request) -> bool:
        """Run the WSGI application for `request` and write its answer; True to keep the connection."""
        client, scheme = forwarded(self.trusted, conn.client, request.forwarded_for, request.forwarded_proto,
                                   "http")
        body = request.body
        if body is None:
            stream = io.BytesIO(b"")
        elif isinstance(body, list):
            stream = io.BytesIO(body[0] if len(body) == 1 else b"".join(body))
        else:
            body.seek(0)
            stream = body
        scope = {"method": request.method, "path": request.path, "query_string": request.query,
                 "http_version": request.version, "scheme": scheme, "server": conn.server, "client": client,
                 "root_path": "", "headers": request.headers}
        environ = _environ(scope, stream, request.length)
        timing = self._timing
        if timing is not None:
            marks = [request.arrived, time.perf_counter()]
            cpu = time.thread_time()
        try:
            status, headers, content = self._run(environ)
        except Exception:
            logger.exception("Exception in the WSGI application")
            status, headers, content = "500 Internal Server Error", [
                ("content-type", "text/plain; charset=utf-8"), ("connection", "close")], _SERVER_ERROR
        finally:
            stream.close()
        if timing is not None:
            marks += [time.perf_counter(), time.thread_time() - cpu]
        keep = request.keep_alive and not self.stopping  # stopping: the answer says so (uvicorn's shutdown)
        lines = ["HTTP/1.1 ", status, "\r\n", _Date.header()]
        sized = False
        for name, value in headers:
            name = name.lower()
            if name == "content-length":
                sized = True
            elif name == "connection" and value.strip().lower() == "close":
                keep = False
            # Django writes Set-Cookie values with a leading space (`cookie.output(header="")`): surrounding
            # whitespace is not part of a header value (config/http_threads.py strips it too)
            lines += [name, ": ", value.strip(), "\r\n"]
        code = status[:3]
        if not sized and code not in ("204", "304") and code[0] != "1":
            lines += ["content-length: ", str(len(content)), "\r\n"]
        if not keep and not any(n.lower() == "connection" and v.strip().lower() == "close" for n, v in headers):
            lines.append("connection: close\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin1")
        try:
            conn.sock.sendall(head if request.method == "HEAD" else head + content)
        except OSError:
            keep = False
        self.served += 1
        if timing is not None:
            timing.write(scope, marks)
        if self.access_log is not None:
            target = urllib.parse.quote(request.path)  # uvicorn's get_path_with_query_string
            if request.query:
                target = f"{target}?{request.query.decode('ascii')}"
            self.access_log.info('%s - "%s %s HTTP/%s" %d', f"{client[0]}:{client[1]}" if client else "",
                                 request.method, target, request.version, int(code))
        return keep

    def _run(self, environ: dict) -> tuple[str, list, bytes]:
        started: list = []

        def start_response(status, headers, exc_info=None):
            if exc_info and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, headers]

        result = self.wsgi_app(environ, start_response)
        try:
            body = b"".join(result)  # one chunk (Django's HttpResponse): join returns that very bytes object
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # fires request_finished: Django returns the database connection here
        return started[0], started[1], body

    def _reject(self, conn: Connection, status: int) -> None:
        if status == 413:
            data = too_large(settings.PRAETOR_MAX_REQUEST_BYTES)
        else:
            logger.warning(_BAD_REQUEST)
            data = _simple("400 Bad Request", "text/plain; charset=utf-8", _BAD_REQUEST.encode())
        with contextlib.suppress(OSError):
            conn.sock.sendall(data)
        self._close_locked(conn)

    def _hand_to_websockets(self, conn: Connection, data: bytes) -> None:
        with self.table_lock:
            if self.connections.get(conn.fd) is conn:
                del self.connections[conn.fd]
        with contextlib.suppress(OSError):
            self.epoll.unregister(conn.fd)
        conn.closed = True  # for this server: the websocket thread owns the socket now
        if self.stopping:
            conn.sock.close()
        else:
            self.websockets.accept(conn.sock, data)
        self._resume_listening()

    # closing ---------------------------------------------------------------------------------------------------
    def _close(self, conn: Connection) -> None:
        with conn.lock:
            self._close_locked(conn)

    def _close_locked(self, conn: Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        with self.table_lock:
            if self.connections.get(conn.fd) is conn:  # removed before the close: the number may be reused after
                del self.connections[conn.fd]
        with contextlib.suppress(OSError, ValueError):
            self.epoll.unregister(conn.fd)
        with contextlib.suppress(OSError):
            conn.sock.close()
        body = conn.request.body if conn.request is not None else None
        if body is not None and not isinstance(body, list):
            body.close()
        if not self.listening:
            self._resume_listening()

    def _close_idle(self, now: float, idle_for: float) -> None:
        """Close connections waiting in the epoll, between requests, for more than `idle_for` seconds. A
        connection in a thread's hands (its lock taken) or half-way through a request is left alone."""
        with self.table_lock:
            candidates = [c for c in self.connections.values()
                          if c.armed and c.request is None and now - c.active >= idle_for]
        for conn in candidates:
            if conn.lock.acquire(blocking=False):
                try:
                    if conn.armed and conn.request is None and not conn.ready and now - conn.active >= idle_for:
                        self._close_locked(conn)
                finally:
                    conn.lock.release()

    def _housekeeping(self) -> None:
        while not self._stopped.wait(min(1.0, self.keepalive / 2 if self.keepalive > 0 else 1.0)):
            self._close_idle(time.monotonic(), self.keepalive)


class _Websockets:
    """One asyncio thread serving upgraded sockets with uvicorn's websocket protocol, its Config and ServerState
    built as uvicorn's server builds them (the proxy-headers middleware with config/server.py's memo)."""

    def __init__(self, server: Server):
        from uvicorn.config import Config
        from uvicorn.server import ServerState

        from config.server import remember_trusted_hosts

        self.config = Config(app=server.websocket_app, ws=server.ws, loop=server.loop_setting, lifespan="off",
                             log_config=None, proxy_headers=server.trusted is not None,
                             forwarded_allow_ips=server.forwarded_allow_ips, timeout_keep_alive=int(server.keepalive))
        self.config.load()
        self.config.loaded_app = remember_trusted_hosts(self.config.loaded_app, self.config.forwarded_allow_ips)
        self.state = ServerState()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        factory = self.config.get_loop_factory()
        self.loop = factory() if factory is not None else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="websockets", daemon=True)
        self.thread.start()

    def accept(self, sock: socket.socket, data: bytes) -> None:
        sock.setblocking(False)
        try:
            self.loop.call_soon_threadsafe(self._start, sock, data)
        except RuntimeError:  # the loop is closed: stopping
            sock.close()

    def _start(self, sock: socket.socket, data: bytes) -> None:
        self.loop.create_task(self._connect(sock, data))

    async def _connect(self, sock: socket.socket, data: bytes) -> None:
        protocol_class = self.config.ws_protocol_class
        factory = functools.partial(protocol_class, config=self.config, server_state=self.state, app_state={})
        try:
            _, protocol = await self.loop.connect_accepted_socket(factory, sock)
        except OSError:
            sock.close()
            return
        protocol.data_received(data)

    def shutdown(self, deadline: float) -> None:
        """uvicorn's shutdown for websockets: each connection told to close (1012), then waited for."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return

        async def close_all():
            for connection in list(self.state.connections):
                connection.shutdown()
            while self.state.connections and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            for connection in list(self.state.connections):  # past the timeout
                with contextlib.suppress(Exception):
                    connection.transport.close()
            tasks = [t for t in self.state.tasks if not t.done()]
            for task in tasks:
                task.cancel()
            await asyncio.sleep(0)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(max(0.1, deadline - time.monotonic()) + 1)
        loop.call_soon_threadsafe(loop.stop)
        self.thread.join(timeout=5)
        with contextlib.suppress(Exception):
            loop.close()
