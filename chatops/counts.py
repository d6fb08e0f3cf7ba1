"""How many connections each asker has, as last read: the /syncstatus ack shows it without a query."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

TTL_S: Final = 60.0
ALL: Final = ""  # the key of a whole workspace's count (`/syncstatus all`)


class ConnectionCounts:
    """(workspace, email or ALL) -> count, kept TTL_S and refreshed by every status command's own read.

    In a burst of commands the store's threads are busy with the diagnoses already running, and a count
    read there kept the acks waiting (bench/ack.py). A count changed elsewhere shows in the next ack at the
    latest; the card always comes from a fresh read.
    """

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._counts: dict[tuple[str, str], tuple[float, int]] = {}

    def get(self, workspace_id: str, email: str = ALL) -> int | None:
        kept = self._counts.get((workspace_id, email.strip().lower()))
        if kept is None or self._clock() - kept[0] >= self._ttl_s:
            return None
        return kept[1]

    def note(self, workspace_id: str, count: int, email: str = ALL) -> None:
        self._counts[(workspace_id, email.strip().lower())] = (self._clock(), count)

    def forget(self, workspace_id: str) -> None:
        for key in [k for k in self._counts if k[0] == workspace_id]:
            del self._counts[key]
