"""StoreHistory: the checks' view of the store, scoped to one workspace, off the event loop."""

from __future__ import annotations

import asyncio
from datetime import datetime

from chatops.model import GrantRole, SyncEvent
from chatops.ports import QuotaUsage, TokenSet
from chatops.store import Store


class StoreHistory:
    """Implements checks.base.History over the synchronous Store (each call in a worker thread)."""

    def __init__(self, store: Store, workspace_id: str) -> None:
        self._store = store
        self._workspace_id = workspace_id

    async def save_tokens(self, grant_id: str, tokens: TokenSet) -> None:
        await asyncio.to_thread(self._store.save_tokens, self._workspace_id, grant_id, tokens)

    async def mark_needs_reconnect(self, grant_id: str) -> None:
        await asyncio.to_thread(self._store.mark_needs_reconnect, self._workspace_id, grant_id)

    async def events(self, connection_id: str) -> list[SyncEvent]:
        return await asyncio.to_thread(self._store.events, self._workspace_id, connection_id)

    async def consents(self, connection_id: str) -> dict[GrantRole, datetime]:
        return await asyncio.to_thread(self._store.reconnect.consents, self._workspace_id, connection_id)

    async def record_usage(self, connection_id: str, usage: QuotaUsage, at: datetime) -> None:
        await asyncio.to_thread(self._store.add_quota_sample, self._workspace_id, connection_id, usage, at)

    async def usage_samples(self, connection_id: str, name: str, since: datetime) -> list[tuple[datetime, int, int]]:
        return await asyncio.to_thread(self._store.quota_samples, self._workspace_id, connection_id, name, since)
