"""JOBS: the scheduled work as data (name, how often, how late a run may still start, what it calls).

adapters/scheduler.py turns each into an APScheduler job in the database's job store. The digest job runs
every minute and posts each subscription's digest when its own day, time and time zone come round (the
schedule belongs to the subscription, in the database, so subscribing on any replica needs no scheduler
call); the alert sweep runs every 15 minutes. Both are safe to run twice: every post has an idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from chatops.audits.service import Audits


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: Callable[[Audits], Awaitable[object]]
    every: timedelta
    misfire_grace: timedelta  # a run this late still starts (a restart); later ones are skipped and logged
    coalesce: bool = True  # several runs missed while down become one


async def digests(audits: Audits) -> object:
    return await audits.digest_tick()


async def alert_sweep(audits: Audits) -> object:
    return await audits.alert_sweep()


JOBS: Final[tuple[Job, ...]] = (
    Job("digests", digests, every=timedelta(minutes=1), misfire_grace=timedelta(hours=6)),
    Job("alerts", alert_sweep, every=timedelta(minutes=15), misfire_grace=timedelta(minutes=15)),
)
