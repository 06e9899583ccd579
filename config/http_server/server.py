"""config/http_server's Server: the request threads on one epoll, accepting, reading, answering, parking
requests for the poll lane, reaping idle connections, and stopping gracefully."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import select
import socket
import struct
import threading
import time
import urllib.parse
from collections import deque

from django.conf import settings

from config.http_server.connection import (
    _BAD_REQUEST,
    _SERVER_ERROR,
    Connection,
    _Date,
    _Request,
    _simple,
    forwarded,
    too_large,
)
from config.http_server.websockets import _Websockets
from config.http_threads import _POLL_PATH_ENDS, _TIMING_LOG, _environ, _TimingLog, run_wsgi

logger = logging.getLogger("praetor.server")

_READ = select.EPOLLIN | select.EPOLLONESHOT
# A send of an answer taking longer than this (s) was preempted, not slow: the client woken by it ran meanwhile.
# A send to loopback takes 10-30 µs here; the client needs hundreds of µs before it sends the next request.
_PREEMPTED = 0.0001
_ACCEPT_BATCH = 1  # one per readiness: with several workers on one listener, each takes its share


def _pending(sock: socket.socket) -> bool:
    """Whether the peer has sent bytes this side has not read yet (not an end of stream, not an error)."""
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing there (EAGAIN), or the socket failed: nothing to serve
        return False


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
        while True:
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
            if not conn.recheck or self.stopping:
                break
            # The answer's send took long: this thread was preempted (mostly by the client it woke, which may have
            # sent its next request meanwhile). Re-armed now, a request already there would wake another thread,
            # which would wait for this connection's lock and the GIL; read here, it is served as a pipelined one.
            conn.recheck = False
            if not conn.read():
                if not ready:
                    self._close_locked(conn)
                    return handed
                for queued in ready:  # the peer closed its side after sending: answer what it sent, then close
                    if isinstance(queued, _Request):
                        queued.keep_alive = False
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
        sending = time.perf_counter()
        try:
            conn.sock.sendall(head if request.method == "HEAD" else head + content)
        except OSError:
            keep = False
        conn.recheck = time.perf_counter() - sending > _PREEMPTED
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
        return run_wsgi(self.wsgi_app, environ)

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
        connection in a thread's hands (its lock taken) or half-way through a request is left alone, and so is one
        whose next request has arrived but no thread has taken yet (`_pending`): closed, its unread bytes would
        make the kernel reset the connection, and the client would lose a request it had delivered (seen when a
        worker stops at `max_requests` under load); left armed, a thread serves it (while stopping, with
        Connection: close)."""
        with self.table_lock:
            candidates = [c for c in self.connections.values()
                          if c.armed and c.request is None and now - c.active >= idle_for]
        for conn in candidates:
            if conn.lock.acquire(blocking=False):
                try:
                    if (conn.armed and conn.request is None and not conn.ready and now - conn.active >= idle_for
                            and not _pending(conn.sock)):
                        self._close_locked(conn)
                finally:
                    conn.lock.release()

    def _housekeeping(self) -> None:
        while not self._stopped.wait(min(1.0, self.keepalive / 2 if self.keepalive > 0 else 1.0)):
            self._close_idle(time.monotonic(), self.keepalive)
