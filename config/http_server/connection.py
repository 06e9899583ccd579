"""A client connection of config/http_server: its httptools parser (the connection is the parser's protocol),
the requests read and not yet answered, and the fixed answers (400, 413) and rules (proxy headers, upgrades) it
follows as uvicorn's httptools protocol does."""

from __future__ import annotations

import contextlib
import email.utils
import logging
import socket
import struct
import tempfile
import threading
import time
import urllib.parse
from collections import deque
from typing import TYPE_CHECKING

import httptools
from django.conf import settings

from config.http_threads import too_large_body

if TYPE_CHECKING:
    from config.http_server.server import Server

logger = logging.getLogger("praetor.server")

_RECV_SIZE = 65536
# How long a thread that has just read a request's head waits, on the socket itself, for the body the client
# writes right after it (httpx writes head and body in two sends; the body mostly arrives within microseconds):
# SO_RCVTIMEO, set once a connection; past it the socket is re-armed in the epoll as before.
_BODY_WAIT = 0.002
_BODY_WAIT_TIMEVAL = struct.pack("ll", 0, int(_BODY_WAIT * 1e6))
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
        "body_due",
        "client",
        "closed",
        "fd",
        "lock",
        "parser",
        "ready",
        "recheck",
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
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _BODY_WAIT_TIMEVAL)  # read()'s one wait for a body
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
        self.body_due = False  # a head was parsed whose body has not been read yet (reset once waited for)
        self.recheck = False  # an answer's send took long (the thread was preempted): look for the next request

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
        self.body_due = not self.rejected

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
        self.body_due = False

    def _reject(self, status: int) -> None:
        self.body_due = False
        if not self.rejected:
            self.rejected = True
            self.ready.append(("reject", status))

    # reading --------------------------------------------------------------------------------------------------
    def read(self) -> bool:
        """Read what the socket holds into the parser; False when the peer closed or the socket failed.

        A request whose head has just been read and whose body has not: one read that waits (at most
        `_BODY_WAIT`, the connection's SO_RCVTIMEO) for the body on this thread, instead of re-arming the socket
        and waiting in the epoll, where the body's readiness could wake another thread (which would then wait for
        this connection's lock and the GIL). Once per request head, so a client that stops after its head holds
        a thread at most that long per request it sends."""
        flags = socket.MSG_DONTWAIT
        while True:
            try:
                data = self.sock.recv(_RECV_SIZE, flags)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            flags = socket.MSG_DONTWAIT
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
            if self.ready:
                return True
            if self.body_due:
                self.body_due = False
                flags = 0  # blocking: the socket's SO_RCVTIMEO bounds the wait
                continue
            if len(data) < _RECV_SIZE:
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
    return _simple("413 Request Entity Too Large", "application/json", too_large_body(limit))
