"""MemoryHistory: the checks' History port kept in memory, for tests of checks without a database."""

from __future__ import annotations

from datetime import datetime

from chatops.model import GrantRole, SyncEvent
from chatops.ports import QuotaUsage, TokenSet


class MemoryHistory:
    def __init__(self, events: list[SyncEvent] | None = None) -> None:
        self.saved: dict[str, TokenSet] = {}
        self._events = events or []
        self.samples: list[tuple[str, QuotaUsage, datetime]] = []
        self.marked: set[str] = set()

    async def save_tokens(self, grant_id: str, tokens: TokenSet) -> None:
        self.saved[grant_id] = tokens

    async def mark_needs_reconnect(self, grant_id: str) -> None:
        self.marked.add(grant_id)

    async def events(self, connection_id: str) -> list[SyncEvent]:
        return [e for e in self._events if e.connection_id == connection_id]

    async def consents(self, connection_id: str) -> dict[GrantRole, datetime]:
        return {}

    async def record_usage(self, connection_id: str, usage: QuotaUsage, at: datetime) -> None:
        self.samples.append((connection_id, usage, at))

    async def usage_samples(self, connection_id: str, name: str, since: datetime) -> list[tuple[datetime, int, int]]:
        return [(at, u.used, u.limit) for c, u, at in self.samples
                if c == connection_id and u.name == name and at >= since]
