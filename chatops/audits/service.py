"""Audits: the digest and alert jobs over the store, exactly once (what chatops.audits.jobs.JOBS run)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from chatops.audits import alerts, fleet
from chatops.audits.delivery import Delivered, Delivery, Outcome
from chatops.audits.digest import EXPIRY_WINDOW, Digest, DigestInput, build_digest
from chatops.audits.schedule import Cadence, Schedule
from chatops.chat import Reply
from chatops.errors import NotFound
from chatops.model import SyncEvent
from chatops.ports import Clock
from chatops.store.audits import AlertState, SubscriptionRow

if TYPE_CHECKING:
    from chatops.core import Chatops

log = logging.getLogger(__name__)

DM_PREFIX = "@"  # a destination "@<chat user id>" is a direct message to that member


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """How audits behave; defaults match the README, adapters/wiring.py may override them from settings."""

    grace: timedelta = timedelta(hours=6)  # a digest due longer ago than this is skipped (and logged), not sent
    lease: timedelta = timedelta(minutes=10)  # a delivery key pending longer than this was left by a crash
    limits: fleet.Limits = field(default_factory=fleet.Limits)
    digest_expiry: timedelta = EXPIRY_WINDOW
    alert_expiry: timedelta = alerts.EXPIRY_WINDOW
    failure_streak: int = alerts.FAILURE_STREAK
    lookback: timedelta = timedelta(days=7)  # the digest's "this week", and what makes an error pattern new
    history: timedelta = timedelta(days=30)  # how far back "failing since" looks


def schedule_of(row: SubscriptionRow) -> Schedule:
    return Schedule(Cadence(row.cadence), row.weekday, time(row.hour, row.minute), row.timezone)


def digest_key(row: SubscriptionRow, period: str) -> str:
    return f"digest:{row.id}:{period}"


class Audits:
    """The scheduled work of one process: digests when due, the alert sweep, snoozes; every post exactly once."""

    def __init__(self, core: Chatops, config: AuditConfig | None = None) -> None:
        self.core = core
        self.config = config or AuditConfig()
        self._missed: set[str] = set()

    @property
    def clock(self) -> Clock:
        return self.core.runner.clock

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.core.store, self.core.sinks, self.clock, self.config.lease)

    # ------------------------------------------------------------ the digest

    async def digest(self, workspace_id: str, *, previous: Sequence[dict[str, object]] = (),
                     title: str | None = None) -> Digest:
        """A fresh audit of every connection of the workspace, said as a digest card."""
        store, now = self.core.store, self.clock.now()
        workspace = await asyncio.to_thread(store.get_workspace, workspace_id)
        connections = await asyncio.to_thread(store.list_connections, workspace_id)
        report = await fleet.audit(self.core, workspace_id, connections, self.config.limits)
        history = await asyncio.to_thread(store.audits.status_history, workspace_id, now - self.config.history)
        events = await self._events(workspace_id, [c.id for c in connections], now - self.config.lookback)
        data = DigestInput(workspace.name, report, self.clock.now(), history, events, list(previous),
                           expiry_window=self.config.digest_expiry)
        return build_digest(replace(data, title=title) if title else data)

    async def _events(self, workspace_id: str, connection_ids: Sequence[str], since: datetime) -> list[SyncEvent]:
        events: list[SyncEvent] = []
        for connection_id in connection_ids:
            try:
                events.extend(await asyncio.to_thread(self.core.store.events, workspace_id, connection_id,
                                                      since=since))
            except NotFound:  # removed meanwhile
                continue
        return events

    async def preview(self, workspace_id: str) -> Reply:
        """The digest as it would be posted now (`/syncstatus audit`, `chatops audit`); nothing is stored."""
        subscriptions = await asyncio.to_thread(self.core.store.audits.subscriptions, workspace_id)
        previous = []
        if subscriptions:
            previous = [s for _, _, s in await asyncio.to_thread(self.core.store.audits.digests, subscriptions[0].id)]
        return (await self.digest(workspace_id, previous=previous, title="Sync audit (preview)")).reply

    async def digest_tick(self) -> dict[str, Outcome]:
        """Every subscription whose digest is due and not yet posted for this period gets it (exactly once).

        Due: the latest scheduled time has passed, no longer ago than `grace`, and after the subscription was
        made. Several periods missed while no scheduler ran give one digest, for the latest period.
        """
        now = self.clock.now()
        rows = await asyncio.to_thread(self.core.store.audits.subscriptions)
        outcomes: dict[str, Outcome] = {}
        for row in rows:
            schedule = schedule_of(row)
            fire = schedule.latest_fire(now)
            if fire < row.created_at:
                continue
            key = digest_key(row, schedule.period(fire))
            state = await asyncio.to_thread(self.core.store.audits.key_state, row.workspace_id, key)
            if state == "sent":
                continue
            if now - fire > self.config.grace:
                if key not in self._missed:
                    self._missed.add(key)
                    log.warning("the digest due %s was missed by more than %s; it is skipped", fire.isoformat(),
                                self.config.grace, extra={"workspace": row.workspace_id, "subscription": row.id})
                continue
            outcomes[row.id] = await self.send_digest(row, key, schedule.period(fire))
        return outcomes

    async def send_digest(self, row: SubscriptionRow, key: str, period: str) -> Outcome:
        refused = await self.delivery.claim(row.workspace_id, key)
        if refused is not None:
            return refused
        previous = [s for _, _, s in await asyncio.to_thread(self.core.store.audits.digests, row.id)]
        digest = await self.digest(row.workspace_id, previous=previous,
                                   title="Daily sync audit" if row.cadence == Cadence.DAILY.value else None)
        delivered = await self.delivery.post_claimed(row.workspace_id, key, row.platform, row.destination,
                                                     digest.reply)
        if delivered.outcome is Outcome.SENT:
            await asyncio.to_thread(self.core.store.audits.record_digest, row.workspace_id, row.id, period,
                                    self.clock.now(), digest.snapshot)
        elif delivered.outcome is Outcome.NO_SINK:
            await asyncio.to_thread(self.core.store.audits.release, row.workspace_id, key)
        return delivered.outcome

    async def post_now(self, workspace_id: str) -> dict[str, Outcome]:
        """`chatops audit --post`: the digest to every subscription of the workspace, now (one key per run)."""
        rows = await asyncio.to_thread(self.core.store.audits.subscriptions, workspace_id)
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%S")
        return {row.id: await self.send_digest(row, f"digest:{row.id}:manual-{stamp}", f"manual-{stamp}")
                for row in rows}

    # ------------------------------------------------------------ alerts

    async def alert_sweep(self) -> dict[str, int]:
        """Audit every workspace with a subscription; post new alerts and resolved notes (exactly once)."""
        rows = await asyncio.to_thread(self.core.store.audits.subscriptions)
        counts = {"alerts": 0, "resolved": 0}
        for workspace_id in dict.fromkeys(r.workspace_id for r in rows):
            destinations = [(r.platform, r.destination) for r in rows if r.workspace_id == workspace_id]
            posted, resolved = await self._sweep(workspace_id, destinations)
            counts["alerts"] += posted
            counts["resolved"] += resolved
        return counts

    async def _sweep(self, workspace_id: str, destinations: list[tuple[str, str]]) -> tuple[int, int]:
        store, audits_store, config = self.core.store, self.core.store.audits, self.config
        connections = await asyncio.to_thread(store.list_connections, workspace_id)
        report = await fleet.audit(self.core, workspace_id, connections, config.limits)
        now = self.clock.now()
        history = await asyncio.to_thread(audits_store.status_history, workspace_id, now - config.history)
        events = await self._events(workspace_id, [c.id for c in connections],
                                    now - config.lookback - alerts.NEW_PATTERN_WINDOW)
        found = alerts.conditions(report, history, events, now, new_after=now - config.lookback,
                                  streak=config.failure_streak, expiry_window=config.alert_expiry)
        states = {(s.connection_id, s.kind): s for s in await asyncio.to_thread(audits_store.alerts, workspace_id)}
        snoozed = await asyncio.to_thread(audits_store.snoozed_until, workspace_id, now)
        workspace = await asyncio.to_thread(store.get_workspace, workspace_id)
        posted = resolved = 0
        for condition in found:
            c = condition.connection
            state = states.pop((c.id, condition.kind), None)
            if state is None or not state.open or state.fingerprint != condition.fingerprint:
                state = await asyncio.to_thread(audits_store.open_alert, workspace_id, c.id, condition.kind,
                                                condition.fingerprint, condition.summary, now,
                                                expected_version=state.version if state else 0)
                if state is None:  # another replica moved this alert on first
                    continue
            if state.notified_version >= state.version or c.id in snoozed:
                continue
            targets = destinations + [(workspace.platform, DM_PREFIX + m) for m in
                                      await asyncio.to_thread(audits_store.member_ids, workspace_id, c.owner_email)]
            if await self._post_everywhere(workspace_id, f"alert:{c.id}:{condition.kind}:v{state.version}",
                                           targets, len(destinations), alerts.alert_reply(condition)):
                await asyncio.to_thread(audits_store.mark_alert_notified, state, self.clock.now())
                posted += 1
        by_id = {c.id: c for c in connections}
        for state in states.values():  # conditions that no longer hold, and resolutions not yet said
            if state.open and not await asyncio.to_thread(audits_store.resolve_alert, state, now):
                continue
            if state.resolved_notified:
                continue
            connection = by_id.get(state.connection_id)
            if state.notified_version != state.version or connection is None or state.connection_id in snoozed:
                await asyncio.to_thread(audits_store.mark_resolution_notified, state, now)  # nothing was said
                continue
            targets = destinations + [(workspace.platform, DM_PREFIX + m) for m in
                                      await asyncio.to_thread(audits_store.member_ids, workspace_id,
                                                              connection.owner_email)]
            key = f"resolved:{state.connection_id}:{state.kind}:v{state.version}"
            if await self._post_everywhere(workspace_id, key, targets, len(destinations),
                                           alerts.resolved_reply(connection, state.summary)):
                await asyncio.to_thread(audits_store.mark_resolution_notified, state, self.clock.now())
                resolved += 1
        return posted, resolved

    async def _post_everywhere(self, workspace_id: str, key: str, targets: list[tuple[str, str]], channels: int,
                               reply: Reply) -> bool:
        """Post to every target (one key each); True when every channel has it. DMs are best effort."""
        ok = True
        for i, (platform, destination) in enumerate(targets):
            delivered: Delivered = await self.delivery.send(workspace_id, f"{key}@{destination}", platform,
                                                            destination, reply)
            if i < channels and delivered.outcome not in (Outcome.SENT, Outcome.ALREADY):
                ok = False
        return ok

    # ------------------------------------------------------------ snooze

    async def snooze(self, workspace_id: str, connection_id: str, length: timedelta, by: str) -> datetime:
        now = self.clock.now()
        until = now + length
        await asyncio.to_thread(self.core.store.audits.snooze, workspace_id, connection_id, until, by, now)
        return until

    async def open_alerts(self, workspace_id: str) -> list[AlertState]:
        return [s for s in await asyncio.to_thread(self.core.store.audits.alerts, workspace_id) if s.open]
