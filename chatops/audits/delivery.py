"""Exactly-once posting: a key stored before the message is sent and marked sent after it went out.

A second replica (or a second fire of the same job) finds the key and posts nothing. A process that dies
between storing the key and sending leaves it pending; once its lease has run out the next run claims it
and sends, so the message goes out once. The one window left is a crash after the platform accepted the
message and before the key was marked sent: chat APIs take no idempotency key, so that message would be
sent again. Marking sent is one small write right after the post, which keeps that window narrow.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from chatops.chat import MessageRef, Reply
from chatops.errors import ChatopsError
from chatops.ports import ChatSink, Clock
from chatops.store import Store
from chatops.store.audits import Claim

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    SENT = "sent"  # posted now
    ALREADY = "already"  # posted before (this key is marked sent)
    BUSY = "busy"  # another run holds the key; it will post (or its lease runs out and a later run does)
    FAILED = "failed"  # the platform refused; the key stays pending and a later run retries after the lease
    NO_SINK = "no_sink"  # this process cannot post to that platform (not configured)


@dataclass(frozen=True, slots=True)
class Delivered:
    outcome: Outcome
    message: MessageRef | None = None


class Delivery:
    """Posts replies through the chat sinks, at most once per (workspace, key)."""

    def __init__(self, store: Store, sinks: Mapping[str, ChatSink], clock: Clock,
                 lease: timedelta = timedelta(minutes=10)) -> None:
        self._store = store
        self._sinks = sinks
        self._clock = clock
        self.lease = lease

    async def claim(self, workspace_id: str, key: str) -> Outcome | None:
        """None when the key is now ours; otherwise why there is nothing to do."""
        claim = await asyncio.to_thread(self._store.audits.claim, workspace_id, key, self._clock.now(), self.lease)
        if claim == Claim.CLAIMED:
            return None
        return Outcome.ALREADY if claim == Claim.SENT else Outcome.BUSY

    async def post_claimed(self, workspace_id: str, key: str, platform: str, destination: str,
                           reply: Reply) -> Delivered:
        """Post for a key this run holds; marks it sent when the platform took the message."""
        sink = self._sinks.get(platform)
        if sink is None:
            log.warning("no %s sink in this process: %s not posted", platform, key,
                        extra={"workspace": workspace_id})
            return Delivered(Outcome.NO_SINK)
        try:
            message = await sink.post(workspace_id, destination, reply)
        except ChatopsError as exc:
            log.warning("could not post %s to %s: %s", key, destination, exc, extra={"workspace": workspace_id})
            return Delivered(Outcome.FAILED)
        await asyncio.to_thread(self._store.audits.mark_sent, workspace_id, key, self._clock.now())
        log.info("posted %s to %s", key, destination, extra={"workspace": workspace_id})
        return Delivered(Outcome.SENT, message)

    async def send(self, workspace_id: str, key: str, platform: str, destination: str, reply: Reply) -> Delivered:
        """Claim the key, post, mark it sent: the whole exactly-once step for a message that is ready."""
        refused = await self.claim(workspace_id, key)
        if refused is not None:
            return Delivered(refused)
        return await self.post_claimed(workspace_id, key, platform, destination, reply)
