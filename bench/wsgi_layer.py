"""CPU per request of the layers between the ASGI server and a view, in one process: the same request (`GET
/health` with the headers the prefect client sends) answered N times by each layer, the layers alternating in
rounds so that the machine's load weighs on each alike.

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/wsgi_layer.py [-n 20000] [--rounds 5]

Layers, each including the ones below it:
  view            the view alone (apps/core/health.health) on a prepared request
  get_response    Django's handler without WSGI: WSGIRequest, the middleware chain, URL resolution, close()
  wsgi            ThreadPoolHttp._run: WSGIHandler.__call__ (script prefix, request_started, WSGIRequest,
                  get_response, status line, header list) and the server's part (iterate, close:
                  request_finished), headers encoded for ASGI
  asgi            ThreadPoolHttp.__call__ on an event loop: the environ, the hand-off to a request thread and back
                  (process CPU: the loop and the thread), with `wsgi` in the thread
Prints µs of CPU per request (thread CPU; process CPU for `asgi`), the median of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HEADERS = [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*"), (b"accept-encoding", b"gzip, deflate"),
           (b"connection", b"keep-alive"), (b"user-agent", b"python-httpx/0.27.2"),
           (b"x-prefect-api-version", b"0.8.4"), (b"authorization", b"Bearer pnu_" + b"x" * 36)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20000, help="requests per layer and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import io

    from django.core.handlers.wsgi import WSGIHandler, WSGIRequest

    from apps.core import health
    from config.http_threads import ThreadPoolHttp, _environ

    handler = WSGIHandler()
    direct = ThreadPoolHttp(handler, threads=1)
    scope = {"type": "http", "method": "GET", "path": "/health", "root_path": "", "query_string": b"",
             "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555),
             "headers": HEADERS}

    def environ():
        return _environ(scope, io.BytesIO(b""), 0)

    def view(n):
        request = WSGIRequest(environ())
        for _ in range(n):
            health.health(request)

    def get_response(n):
        for _ in range(n):
            handler.get_response(WSGIRequest(environ())).close()

    def wsgi(n):
        for _ in range(n):
            direct._run(environ())

    async def one(receive, send):
        await direct(scope, receive, send)

    def asgi(n):
        message = {"type": "http.request", "body": b"", "more_body": False}

        async def receive():
            return message

        async def send(_):
            return None

        async def many():
            for _ in range(n):
                await direct(scope, receive, send)

        asyncio.run(many())

    layers = {"view": (view, time.thread_time), "get_response": (get_response, time.thread_time),
              "wsgi": (wsgi, time.thread_time),
              "asgi": (asgi, time.process_time)}
    for fn, _ in layers.values():
        fn(200)  # warm-up
    results: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(args.rounds):
        for name, (fn, clock) in layers.items():
            start = clock()
            fn(args.n)
            results[name].append((clock() - start) / args.n * 1e6)
    print(f"CPU per request, µs (median of {args.rounds} rounds of {args.n}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")
    for name, values in results.items():
        print(f"  {name:14} {statistics.median(values):8.1f}   (rounds: {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
