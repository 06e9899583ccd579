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

from config.http_server.connection import forwarded
from config.http_server.server import Server

__all__ = ["Server", "forwarded"]
