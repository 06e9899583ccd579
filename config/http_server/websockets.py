"""config/http_server's websockets: upgraded sockets served on one asyncio thread by uvicorn's own websocket
protocol and the Channels application."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.http_server.server import Server


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
