"""The scheduler edge: APScheduler's AsyncIOScheduler over the product database, built from JOBS, one leader at a time.

Every replica runs a `Scheduler`, but only the one holding the PostgreSQL advisory lock starts APScheduler;
the others ask again every `poll_s` seconds, so when the leader dies (and PostgreSQL drops its session and
the lock with it) another takes over within that time. Jobs live in APScheduler's SQLAlchemy job store in
the same database, so a new leader or a restarted process finds them with their next run times: a run
missed while nobody led starts late within its `misfire_grace`, and several missed runs coalesce into one.
The jobs themselves post exactly once (chatops.audits.delivery), which also covers a leader that lost its
database connection without noticing at once. On SQLite a single process is assumed and it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent  # type: ignore[import-untyped]
from apscheduler.executors.asyncio import AsyncIOExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from chatops.audits.jobs import JOBS, Job
from chatops.audits.service import Audits
from chatops.store.locks import LeaderLock

if TYPE_CHECKING:
    from adapters.wiring import Services

log = logging.getLogger(__name__)

LOCK_KEY: Final = 0x63686174_6F707305  # "chatops" + 5: the scheduler's leader (MIGRATION_LOCK_KEY is + 1)
POLL_S: Final = 15.0  # followers ask for the lock this often: takeover well within a minute
JOB_TABLE: Final = "apscheduler_jobs"  # APScheduler creates it in the product database on first start
_AUDITS: contextvars.ContextVar[Audits] = contextvars.ContextVar("audits")


def job_id(job: Job) -> str:
    return f"chatops.{job.name}"


async def run_job(name: str) -> None:
    """What the job store keeps a reference to ("adapters.scheduler:run_job", args=[name]); never pickled state."""
    job = next(j for j in JOBS if j.name == name)
    await job.run(_AUDITS.get())


class _Executor(AsyncIOExecutor):  # type: ignore[misc]
    """Runs jobs as tasks on the loop, each seeing this scheduler's Audits (two schedulers may share a process)."""

    def __init__(self, audits: Audits) -> None:
        super().__init__()
        self._audits = audits

    def _do_submit_job(self, job: Any, run_times: Any) -> None:
        token = _AUDITS.set(self._audits)
        try:
            super()._do_submit_job(job, run_times)  # the task copies this context
        finally:
            _AUDITS.reset(token)


@dataclass
class Scheduler:
    """One process's part in scheduling: wait for leadership, run JOBS while leading, stop when told."""

    audits: Audits
    poll_s: float = POLL_S
    lock_key: int = LOCK_KEY
    jobs: tuple[Job, ...] = JOBS

    def __post_init__(self) -> None:
        self._lock = LeaderLock(self.audits.core.store, self.lock_key)
        self._apscheduler: AsyncIOScheduler | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self._apscheduler is not None

    @property
    def apscheduler(self) -> AsyncIOScheduler | None:
        return self._apscheduler

    def start(self) -> asyncio.Task[None]:
        """Run the leader loop in the background (returns its task)."""
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="chatops-scheduler")
        return self._task

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self.leading:
                    if await asyncio.to_thread(self._lock.try_acquire):
                        log.info("this process now runs the scheduled jobs (leader)")
                        try:
                            await self._lead()
                        except SQLAlchemyError as exc:  # e.g. SQLite locked past its busy timeout
                            problem = str(getattr(exc, "orig", None) or exc).splitlines()[0]
                            log.warning("could not start the scheduled jobs (%s); trying again", problem)
                            self._follow()
                            await asyncio.to_thread(self._lock.release)  # another replica may lead meanwhile
                elif not await asyncio.to_thread(self._lock.held):
                    log.error("lost the scheduler's leader lock; stopping jobs until it is won again")
                    self._follow()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_s)
        finally:
            self._follow()
            await asyncio.to_thread(self._lock.release)

    def crash(self) -> None:
        """Stop as a killed process would: jobs stop, the lock's connection drops without unlocking (tests)."""
        if self._task is not None:
            self._task.cancel()
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
        self._lock.abandon()

    async def _lead(self) -> None:
        store = self.audits.core.store
        scheduler = AsyncIOScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
            executors={"default": _Executor(self.audits)},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=UTC,
        )
        scheduler.add_listener(_on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        scheduler.start(paused=True)  # makes the job table if needed: may raise, with nothing started
        try:
            for job in self.jobs:
                existing = scheduler.get_job(job_id(job))
                trigger = IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC)
                if existing is not None and getattr(existing.trigger, "interval", None) == trigger.interval:
                    # kept with its stored next run time: a run missed while nobody led still happens (grace)
                    existing.modify(misfire_grace_time=int(job.misfire_grace.total_seconds()), coalesce=job.coalesce)
                    continue
                scheduler.add_job(run_job, trigger=trigger, args=[job.name], id=job_id(job), name=job.name,
                                  replace_existing=True, misfire_grace_time=int(job.misfire_grace.total_seconds()),
                                  coalesce=job.coalesce, max_instances=1)
        except BaseException:
            scheduler.shutdown(wait=False)
            raise
        scheduler.resume()
        self._apscheduler = scheduler

    def _follow(self) -> None:
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None


def _on_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("scheduled job %s missed its run at %s (beyond its misfire grace)", event.job_id,
                    event.scheduled_run_time)
    elif isinstance(event.exception, asyncio.CancelledError):  # the process is stopping; its keys stay pending
        log.info("scheduled job %s stopped with the scheduler", event.job_id)
    elif event.exception is not None:
        log.error("scheduled job %s failed", event.job_id, exc_info=event.exception)


# ---------------------------------------------------------------- processes


def attach_sinks(services: Services) -> None:
    """Give a process without the web server (`chatops scheduler`, `chatops audit --post`) the chat sinks."""
    if "slack" not in services.core.sinks and services.config.slack.mode.value != "off":
        from adapters import slack

        slack.build(services, services.config.slack)
    if "teams" not in services.core.sinks and services.config.teams.enabled:
        from adapters.teams import app as teams_app

        teams_app.build(services.config.teams, services.core)


SCHEDULER: Final[web.AppKey[Scheduler]] = web.AppKey("scheduler", Scheduler)


def mount(app: web.Application, services: Services, *, poll_s: float = POLL_S) -> Scheduler:
    """`chatops serve`: the scheduler runs beside the web server, started and stopped with it."""
    scheduler = Scheduler(services.core.audits, poll_s=poll_s)
    app[SCHEDULER] = scheduler

    async def start(_: web.Application) -> None:
        scheduler.start()

    async def stop(_: web.Application) -> None:
        await scheduler.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return scheduler


async def run_forever(services: Services, *, poll_s: float = POLL_S) -> None:
    """`chatops scheduler`: a process that only schedules (no web server)."""
    attach_sinks(services)
    scheduler = Scheduler(services.core.audits, poll_s=poll_s)
    scheduler.start()
    try:
        await asyncio.Event().wait()
    finally:
        await scheduler.stop()
