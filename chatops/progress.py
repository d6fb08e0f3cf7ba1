"""Progress: a diagnosis of several connections shown filling in, one throttled card update at a time.

The core drives it (Chatops.diagnosis_reply tells it each connection as it finishes); the edge gives it a
CardUpdater and the message to update, and says how many updates that message can take. The final card is
the caller's: close() returns only when no progress update is left on the wire, so the final one always
lands last and replaces the progress.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from chatops.cards import progress_card
from chatops.chat import MessageRef, Reply
from chatops.findings import Finding
from chatops.model import Connection
from chatops.ports import CardUpdater
from chatops.report import Report

log = logging.getLogger(__name__)

INTERVAL_S: Final = 1.0  # at most one progress update a second; none before the first second is out


class Progress:
    """Throttled in-place updates of one message while its diagnosis runs.

    Nothing is shown before `interval_s` has passed since the diagnosis started, nor more often than once per
    `interval_s`, nor more than `updates` times (None: no limit besides the interval), so a quick diagnosis
    shows only its final card. A failed update stops the progress; the final card still goes out.
    """

    def __init__(self, updater: CardUpdater, workspace_id: str, message: MessageRef | None = None, *,
                 updates: int | None = None, interval_s: float = INTERVAL_S) -> None:
        self._updater = updater
        self._workspace_id = workspace_id
        self._message = message
        self._updates = updates
        self._interval_s = interval_s
        self._connections: tuple[Connection, ...] = ()
        self._done: dict[str, tuple[Finding, ...]] = {}
        self._shown = 0  # connections with a result in the last update
        self._started = datetime.now(UTC)
        self._next_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._stopped = False
        self.sent = 0  # updates attempted (a response_url counts a use even for a refused post)

    def at(self, message: MessageRef) -> None:
        """The message to update is known now (Teams posts its "Checking…" line only once a reply is late)."""
        self._message = message
        self._kick()

    def watch(self, connections: Sequence[Connection]) -> None:
        """A diagnosis of `connections` starts now."""
        self._connections = tuple(connections)
        self._done.clear()
        self._shown = 0
        self._started = datetime.now(UTC)
        self._next_at = time.monotonic() + self._interval_s

    def finished(self, connection: Connection, findings: Sequence[Finding]) -> None:
        """One connection's last check is done (the runner's on_connection)."""
        self._done[connection.id] = tuple(findings)
        self._kick()

    async def close(self) -> None:
        """No update goes out after this returns; one already on the wire is waited for, not cut off."""
        self._stopped = True
        task = self._task
        if task is None:
            return
        if not self._sending:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def _spent(self) -> bool:
        return self._updates is not None and self.sent >= self._updates

    def _kick(self) -> None:
        if self._task is None and self._news():
            self._task = asyncio.ensure_future(self._run())

    def _news(self) -> bool:
        """Something to show that is not shown yet, before the end, somewhere to show it, within the budget."""
        return (not self._stopped and self._message is not None and not self._spent()
                and self._shown < len(self._done) < len(self._connections))

    async def _run(self) -> None:
        try:
            while True:
                await asyncio.sleep(max(0.0, self._next_at - time.monotonic()))
                if not self._news():
                    return  # nothing new since the last update, or the final card is on its way
                self._shown = len(self._done)
                if not await self._send(self._reply()):
                    self._stopped = True
                    return
                self._next_at = time.monotonic() + self._interval_s
        finally:
            self._task = None

    async def _send(self, reply: Reply) -> bool:
        assert self._message is not None
        self._sending = True
        self.sent += 1
        try:
            return await self._updater.update(self._workspace_id, self._message, reply)
        except Exception:  # progress is a courtesy: the final card must not depend on it
            log.exception("a progress update failed", extra={"workspace": self._workspace_id})
            return False
        finally:
            self._sending = False

    def _reply(self) -> Reply:
        checked = [c for c in self._connections if c.id in self._done]
        pending = [c for c in self._connections if c.id not in self._done]
        report = Report.build(checked, (f for c in checked for f in self._done[c.id]), self._started,
                              datetime.now(UTC))
        return Reply(f"Checked {len(checked)} of {len(self._connections)} connections…",
                     card=progress_card(report, pending), replace_original=True)
