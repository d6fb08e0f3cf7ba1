"""A TCP proxy in front of PostgreSQL that can be cut and restored on the same port: the database going away
for a while, as a network partition or a failover looks to the application.

It runs its own event loop in a thread, so the code under test may block on the database (the store is
synchronous) from the test's own loop without waiting on itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

HOST = "127.0.0.1"


class Proxy:
    """Forwards 127.0.0.1:port to the target; `down()` closes the port and cuts every open connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        with socket.socket() as probe:  # a fixed port, so the URL stays the same across down() and up()
            probe.bind((HOST, 0))
            self.port = int(probe.getsockname()[1])
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="db-proxy", daemon=True)
        self._thread.start()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _up(self) -> None:
        self._server = await asyncio.start_server(self._connection, HOST, self.port, reuse_address=True)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0.05)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                sink.transport.abort()

        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        finally:
            self._writers -= {writer, upstream_writer}


@contextlib.contextmanager
def proxy(target_host: str, target_port: int) -> Iterator[Proxy]:
    running = Proxy(target_host, target_port)
    running.up()
    try:
        yield running
    finally:
        running.close()
