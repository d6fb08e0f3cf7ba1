"""The provider simulator running in a background thread, for tests that drive the CLI as a subprocess."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.sandbox.simulator import RunningSimulator, start_simulator


@contextmanager
def simulator_in_thread(scenario: str = "demo") -> Iterator[RunningSimulator]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_simulator(scenario), loop).result(timeout=30)
    try:
        yield running
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
