"""HTTP under the ASGI server: each request runs Django's WSGI handler on a fixed pool of threads.

Used by gunicorn's uvicorn worker (PRAETOR_WEB_SERVER=uvicorn). The default threads worker (config/http_server/)
has no event loop for HTTP and no hand-off, but builds its environ with `_environ` below, writes the same timing
lines (`_TimingLog`) and tells polls apart by the same paths.

Why not Django's ASGI handler for HTTP: our views are synchronous, and Django's ASGI handler runs each
request in a thread of its own (asgiref's thread-sensitive context), so a persistent database
connection is never reused (it belongs to a thread that is gone) and CONN_MAX_AGE > 0 leaks one per
request until PostgreSQL refuses clients; with CONN_MAX_AGE = 0 every request connects anew. Measured
with bench/flows.py, that doubled the server's CPU per request. Here a few long-lived threads each keep
one connection (at most `threads` per process), and Django's request_started/request_finished signals
run in the request's thread exactly as under a WSGI server. Websockets (the events stream) stay on
Channels, in the same process, on the event loop.

Responses are collected in the worker thread and sent whole: the API answers JSON documents and the
static files WhiteNoise serves are small; nothing in the product streams a response. Request bodies are
spooled as Django's ASGI handler spools them: in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE, then in a
temporary file, so concurrent large bodies cannot grow the process without bound; a body that arrives
in one message (nearly all of them) is already in memory and is handed over as it is.

The event loop hands a request to the threads through a queue.SimpleQueue and the thread hands the answer
back with loop.call_soon_threadsafe onto one bare loop future: no executor work item, no
concurrent.futures.Future and no future chaining per request (run_in_executor has all three).

Polls (the workers' and runners' get_scheduled_flow_runs, the agents' get_runs, worker heartbeats) have a
lane of their own, `poll_threads` threads with their own queue, so a poll never waits behind a burst of
task-run writes queued for the other threads (issue 5: poll p99 under load). poll_threads=0 sends them down
the one lane with everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import queue
import sys
import tempfile
import threading
import time

from django.conf import settings

# POST paths that are polls: what a worker, runner or agent sends every few seconds while it waits for work.
_POLL_PATH_ENDS = ("/get_scheduled_flow_runs", "/workers/heartbeat", "/get_runs")


# PRAETOR_HTTP_TIMING_LOG=/path: each process appends one line per request to /path.PID (bench/polls.py reads
# them): where a request's time went on the server, to tell its own work from waiting for a thread or a CPU.
# Unset (always in production): nothing is measured.
_TIMING_LOG = os.environ.get("PRAETOR_HTTP_TIMING_LOG")


class _TimingLog:
    """Per request: arrival (ASGI call) → taken by a thread → answered by Django → sent, in ms, and the
    request thread's CPU ms, as a tab-separated line `kind method path queued django django_cpu total`."""

    def __init__(self, path: str):
        self.path = path
        self.file = None
        self.lock = threading.Lock()

    def write(self, scope: dict, marks: list) -> None:
        arrived, taken, answered, cpu = marks[:4]
        sent = time.perf_counter()
        line = (f"{'poll' if is_poll(scope) else 'other'}\t{scope['method']}\t{scope['path']}\t"
                f"{1000 * (taken - arrived):.3f}\t{1000 * (answered - taken):.3f}\t{1000 * cpu:.3f}\t"
                f"{1000 * (sent - arrived):.3f}\n")
        with self.lock:
            if self.file is None:  # opened in the worker process, after gunicorn's fork
                self.file = open(f"{self.path}.{os.getpid()}", "a", buffering=1)  # noqa: SIM115 - kept open
            self.file.write(line)


def is_poll(scope: dict) -> bool:
    return scope["method"] == "POST" and scope["path"].endswith(_POLL_PATH_ENDS)


def _environ(scope: dict, body, length: int) -> dict:
    script_name = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if script_name and path_info.startswith(script_name):
        path_info = path_info[len(script_name):]
    server = scope.get("server") or ("localhost", 80)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] if server[1] is not None else 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": body,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(length),
    }
    if scope.get("client"):
        environ["REMOTE_ADDR"] = scope["client"][0]
    for raw_name, raw_value in scope.get("headers", ()):
        key = _HEADER_KEYS.get(raw_name) or _header_key(raw_name)
        if key is _SKIP:
            continue  # the body is read whole: its real length is set above
        value = raw_value.decode("latin1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


# A request header's environ key by its name as received (`content-type` → CONTENT_TYPE, `x-a` → HTTP_X_A,
# Content-Length skipped): worked out once per name, for the first _HEADER_KEYS_SIZE names a process sees (the
# names are the clients' to choose; past that they are worked out each time, as they all were before).
_HEADER_KEYS: dict[bytes, str] = {}
_HEADER_KEYS_SIZE = 512
_SKIP = "CONTENT_LENGTH"


def _header_key(raw_name: bytes) -> str:
    name = raw_name.decode("latin1").upper().replace("-", "_")
    key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{name}"
    key = _SKIP if key == _SKIP else key
    if len(_HEADER_KEYS) < _HEADER_KEYS_SIZE:
        _HEADER_KEYS[raw_name] = key
    return key


def too_large_body(limit: int) -> bytes:
    """The 413's body in the API's error format (both servers answer it before Django sees the request)."""
    detail = f"The request body is larger than {limit} bytes."
    return json.dumps({"detail": detail, "code": "request_too_large"}).encode()


async def _too_large(send, limit: int) -> None:
    """413 in the API's error format, before the body is read (or any further): nothing reaches Django."""
    content = too_large_body(limit)
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": content})


def run_wsgi(wsgi_application, environ: dict) -> tuple[str, list, bytes]:
    """Call a WSGI application and collect its answer whole: (status line, header list, body). Shared by this
    hand-off and config/http_server's threads. An application with `serve` (config/handler.py's Handler) answers
    the same three itself, without a start_response callback."""
    serve = getattr(wsgi_application, "serve", None)
    if serve is not None:
        return serve(environ)
    started: list = []

    def start_response(status, headers, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]

    result = wsgi_application(environ, start_response)
    try:
        body = b"".join(result)  # one chunk (Django's HttpResponse): join returns that very bytes object
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()  # fires request_finished: Django returns the database connection here
    return started[0], started[1], body


def _deliver(future, result) -> None:
    if not future.done():  # the request's task may have been cancelled (server shutting down)
        future.set_result(result)


def _fail(future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class ThreadPoolHttp:
    """An ASGI application for `http` scopes that calls a WSGI application on `threads` threads, and polls on
    `poll_threads` threads of their own (0: on the same `threads`)."""

    def __init__(self, wsgi_application, *, threads: int, poll_threads: int = 0):
        self.wsgi_application = wsgi_application
        self.threads = max(1, threads)
        self.poll_threads = max(0, poll_threads)
        self._jobs: queue.SimpleQueue | None = None
        self._poll_jobs: queue.SimpleQueue | None = None
        self._start_lock = threading.Lock()
        self._timing = _TimingLog(_TIMING_LOG) if _TIMING_LOG else None

    def _start(self) -> None:
        # Threads start at the first request, in the worker process: gunicorn builds the app in its master
        # (preload) and forks, and threads do not survive a fork.
        with self._start_lock:
            if self._jobs is not None:
                return
            jobs = queue.SimpleQueue()
            lanes = [("http", self.threads, jobs)]
            poll_jobs = jobs
            if self.poll_threads:
                poll_jobs = queue.SimpleQueue()
                lanes.append(("http-poll", self.poll_threads, poll_jobs))
            for prefix, count, lane in lanes:
                for i in range(count):
                    threading.Thread(target=self._serve, args=(lane,), name=f"{prefix}_{i}", daemon=True).start()
            self._poll_jobs, self._jobs = poll_jobs, jobs

    def _serve(self, jobs: queue.SimpleQueue) -> None:
        while True:
            loop, future, environ = jobs.get()
            marks = environ.get("praetor.timing")
            if marks is not None:
                marks.append(time.perf_counter())
                cpu = time.thread_time()
            try:
                result = self._run(environ)
            except BaseException as exc:  # handed to the request's task, which re-raises it (uvicorn: 500)
                callback, value = _fail, exc
            else:
                callback, value = _deliver, result
            if marks is not None:
                marks += [time.perf_counter(), time.thread_time() - cpu]
            # RuntimeError: the loop is closed, the server stopped while this request ran and nobody waits
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, future, value)

    def _run(self, environ: dict) -> tuple[int, list, bytes]:
        status, headers, body = run_wsgi(self.wsgi_application, environ)
        # Django writes each Set-Cookie value with a leading space (`cookie.output(header="")`); WSGI servers
        # let it pass, h11 refuses it: surrounding whitespace is not part of a header value anyway.
        encoded = [(name.lower().encode("latin1"), value.strip().encode("latin1")) for name, value in headers]
        return int(status.split(" ", 1)[0]), encoded, body

    async def __call__(self, scope, receive, send) -> None:
        if self._timing is not None:
            scope["praetor.timing"] = [time.perf_counter()]
        limit = settings.PRAETOR_MAX_REQUEST_BYTES
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), b"0")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit)
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if not message.get("more_body"):  # the whole body in one message, already in memory: no copy
            chunk = message.get("body", b"")
            if len(chunk) > limit:
                return await _too_large(send, limit)
            return await self._respond(scope, send, io.BytesIO(chunk), len(chunk))
        with tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, mode="w+b") as body:
            length = 0
            while True:
                chunk = message.get("body", b"")
                length += len(chunk)
                if length > limit:  # a chunked body, which declares no length, read up to the limit
                    return await _too_large(send, limit)
                body.write(chunk)
                if not message.get("more_body"):
                    break
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
            body.seek(0)
            return await self._respond(scope, send, body, length)

    async def _respond(self, scope, send, body, length: int) -> None:
        if self._jobs is None:
            self._start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        environ = _environ(scope, body, length)
        marks = scope.get("praetor.timing")
        if marks is not None:
            environ["praetor.timing"] = marks
        (self._poll_jobs if is_poll(scope) else self._jobs).put((loop, future, environ))
        status, headers, content = await future
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content if scope["method"] != "HEAD" else b""})
        if marks is not None and len(marks) == 4:
            self._timing.write(scope, marks)
