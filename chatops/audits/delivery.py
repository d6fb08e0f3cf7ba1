"""Exactly-once posting: a key stored before the message is sent and marked sent after it went out.

A second replica (or a second fire of the same job) finds the key and posts nothing. A process that dies
between storing the key and sending leaves it pending; once its lease has run out the next run claims it
and sends, so the message goes out once.

A crash after the platform accepted the message and before the key was marked sent would send it again, since
chat APIs take no idempotency key. So the key travels with the message (Slack's message metadata), and a run
that reclaims a key first asks the platform for a message carrying it, posted since the key was first claimed:
if there is one, the key is marked sent and nothing is posted. Where the platform can't be asked (Teams, whose
history needs Graph permissions; a Slack DM; a failed lookup) the message is posted again: at least once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final

from chatops.chat import MessageRef, Reply
from chatops.errors import ChatopsError
from chatops.ports import ChatSink, Clock
from chatops.store import Store
from chatops.store.audits import Claim

log = logging.getLogger(__name__)

CLOCK_SKEW: Final = timedelta(minutes=1)  # the platform's clock and ours may differ; the key is what matches


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
        found = await self._posted_before(sink, workspace_id, key, destination)
        if found is not None:
            await asyncio.to_thread(self._store.audits.mark_sent, workspace_id, key, self._clock.now())
            log.info("%s was posted to %s before a restart; marked sent, not posted again", key, destination,
                     extra={"workspace": workspace_id})
            return Delivered(Outcome.SENT, found)
        try:
            message = await sink.post(workspace_id, destination, reply, key=key)
        except ChatopsError as exc:
            log.warning("could not post %s to %s: %s", key, destination, exc, extra={"workspace": workspace_id})
            return Delivered(Outcome.FAILED)
        await asyncio.to_thread(self._store.audits.mark_sent, workspace_id, key, self._clock.now())
        log.info("posted %s to %s", key, destination, extra={"workspace": workspace_id})
        return Delivered(Outcome.SENT, message)

    async def _posted_before(self, sink: ChatSink, workspace_id: str, key: str,
                             destination: str) -> MessageRef | None:
        """For a key a run died holding: the message that run may have posted, found on the platform."""
        since = await asyncio.to_thread(self._store.audits.reclaimed_since, workspace_id, key)
        if since is None:
            return None
        try:
            return await sink.find_posted(workspace_id, destination, key, since - CLOCK_SKEW)
        except ChatopsError as exc:
            log.warning("cannot tell whether %s reached %s before a restart (%s); posting it", key, destination,
                        exc, extra={"workspace": workspace_id})
            return None

    async def send(self, workspace_id: str, key: str, platform: str, destination: str, reply: Reply) -> Delivered:
        """Claim the key, post, mark it sent: the whole exactly-once step for a message that is ready."""
        refused = await self.claim(workspace_id, key)
        if refused is not None:
            return Delivered(refused)
        return await self.post_claimed(workspace_id, key, platform, destination, reply)
