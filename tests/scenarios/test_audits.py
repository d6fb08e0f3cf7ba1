"""Scheduled audits end to end: a digest posted to the fake Slack Web API (429s included) after a signed
`/syncstatus subscribe`, and the real APScheduler run by one leader among two scheduler processes sharing a
database (PostgreSQL: the other takes over when the leader is killed)."""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.scheduler import JOB_TABLE, Scheduler
from chatops.audits.delivery import Outcome
from chatops.audits.jobs import Job, digests
from chatops.audits.service import digest_key
from chatops.core import Chatops
from chatops.runner import Runner
from chatops.store import Store, new_id
from chatops.store.audits import SubscriptionRow
from chatops.store.crypto import GrantCipher
from tests.core.audits.conftest import CHECKS, NO_PROVIDERS, WS, NoProbe, RecordingSink
from tests.edges.slack.conftest import ACME, fake, start_bot  # noqa: F401  (fixtures)
from tests.edges.teams.conftest import connector, make_bot  # noqa: F401  (fixtures)

CHANNEL = "C0SALES"


async def wait_for(check, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def test_a_subscribed_slack_channel_gets_its_digest_once_and_429s_are_waited_out(start_bot, fake) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    bot = await start_bot()
    status, body = await bot.command(ACME, "U0ADMIN", f"subscribe <#{CHANNEL}|sales> weekly fri 17:00 Europe/Berlin")
    assert status == 200
    workspace = f"slack:{ACME}"
    audits = bot.services.core.audits
    # the command is answered after Slack's 3-second ack, through its response_url
    await bot.responses(1)
    [row] = await asyncio.to_thread(bot.services.store.audits.subscriptions, workspace)
    assert (row.destination, row.weekday, row.hour, row.timezone) == (CHANNEL, 4, 17, "Europe/Berlin")

    fake.rate_limit("chat.postMessage", retry_after=1, times=1)
    began = time.monotonic()
    key = digest_key(row, "2026-12-04")
    assert await audits.send_digest(row, key, "2026-12-04") is Outcome.SENT
    assert time.monotonic() - began >= 1.0  # Retry-After: 1 was honoured before the retry
    assert await audits.send_digest(row, key, "2026-12-04") is Outcome.ALREADY
    posts = [c for c in fake.called("chat.postMessage") if c.params.get("channel") == CHANNEL]
    assert len(posts) == 2  # the refused attempt and the one that went through
    [message] = [m for (channel, _), m in fake.messages.items() if channel == CHANNEL]
    assert message.text.startswith("Weekly sync audit:")
    texts = " ".join(str(b) for b in message.blocks)
    assert "Credentials" in texts and "Failing now" in texts and "retest" in texts

    # unsubscribe in the channel itself; no digest afterwards
    await bot.command(ACME, "U0ADMIN", f"unsubscribe <#{CHANNEL}|sales>")
    await bot.responses(2)
    assert await asyncio.to_thread(bot.services.store.audits.subscriptions, workspace) == []


def _core(store: Store, sink: RecordingSink) -> Chatops:
    from chatops.clock import SystemClock

    core = Chatops(store, Runner(checks=CHECKS, providers=NO_PROVIDERS, probe=NoProbe(), clock=SystemClock()))
    core.sinks["slack"] = sink
    return core


def _due(store: Store, channel: str) -> SubscriptionRow:
    """A daily subscription whose time came two minutes ago, made yesterday: due now."""
    now = datetime.now(UTC)
    fire = now - timedelta(minutes=2)
    return store.audits.subscribe(SubscriptionRow(
        id=new_id("s_"), workspace_id=WS, platform="slack", destination=channel, destination_name="",
        cadence="daily", weekday=0, hour=fire.hour, minute=fire.minute, timezone="UTC", created_by="U0ADMIN",
        created_at=now - timedelta(days=1)))


FAST = (Job("digests", digests, every=timedelta(seconds=1), misfire_grace=timedelta(hours=6)),)


@pytest.fixture
def acme(store: Store) -> Store:
    from chatops.model import Workspace
    from tests.core.audits.conftest import connection

    store.ensure_workspace(Workspace(WS, "Acme", "slack", "T0ACME"))
    store.add_connection(WS, connection("broken-ben", owner="ben@acme.example"))
    return store


async def test_the_scheduler_runs_the_digest_job_from_the_database_job_store(acme: Store) -> None:
    sink = RecordingSink()
    scheduler = Scheduler(_core(acme, sink).audits, poll_s=0.2, lock_key=secrets.randbits(62), jobs=FAST)
    await asyncio.to_thread(_due, acme, CHANNEL)
    scheduler.start()
    try:
        await wait_for(lambda: len(sink.posts) == 1)
        assert scheduler.leading
        await asyncio.sleep(2.5)  # more ticks: nothing new is due
    finally:
        await scheduler.stop()
    assert len(sink.posts) == 1
    with acme.engine.connect() as db:
        ids = {r[0] for r in db.exec_driver_sql(f"SELECT id FROM {JOB_TABLE}")}
    assert ids == {"chatops.digests"}  # kept for the next start, with its next run time


@pytest.mark.postgres
async def test_two_scheduler_processes_post_each_digest_once_and_the_follower_takes_over(
        acme: Store, cipher) -> None:  # type: ignore[no-untyped-def]
    if acme.engine.dialect.name != "postgresql":
        pytest.skip("several scheduler processes need PostgreSQL (SQLite deployments are single-process)")
    url = acme.engine.url.render_as_string(hide_password=False)
    stores = [Store(url, cipher), Store(url, cipher)]  # each process has its own connections
    sinks = [RecordingSink(), RecordingSink()]
    key = secrets.randbits(62)
    schedulers = [Scheduler(_core(s, k).audits, poll_s=0.2, lock_key=key, jobs=FAST)
                  for s, k in zip(stores, sinks, strict=True)]
    try:
        await asyncio.to_thread(_due, acme, "C0FIRST")
        for s in schedulers:
            s.start()
        await wait_for(lambda: sum(len(k.posts) for k in sinks) == 1)
        await asyncio.sleep(2.5)  # both alive for a few more ticks
        assert [s.leading for s in schedulers].count(True) == 1
        leader = next(i for i, s in enumerate(schedulers) if s.leading)
        follower = 1 - leader

        schedulers[leader].crash()  # killed: no unlock; PostgreSQL drops its session and the lock
        killed_at = time.monotonic()
        await wait_for(lambda: schedulers[follower].leading, timeout_s=60)
        assert time.monotonic() - killed_at < 60
        await asyncio.to_thread(_due, acme, "C0SECOND")
        await wait_for(lambda: len(sinks[follower].posts) >= 1 and any(
            p.destination == "C0SECOND" for k in sinks for p in k.posts))
        await asyncio.sleep(2.0)
    finally:
        for s in schedulers:
            await s.stop()
        for s in stores:
            s.close()
    destinations = sorted(p.destination for k in sinks for p in k.posts)
    assert destinations == ["C0FIRST", "C0SECOND"]


async def test_a_teams_channel_gets_its_digest_through_the_stored_conversation_once(make_bot, connector) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from adapters.sandbox.bot_connector import conversation_update
    from tests.edges.teams.conftest import WORKSPACE

    bot = await make_bot({"CHATOPS_TEAMS_SERVICE_URL_HOSTS": connector.host})
    teams_channel = "19:sales@thread.tacv2"
    status, _ = await bot.post(conversation_update(connector, conversation_id=teams_channel,
                                                   team_id="19:team@thread.tacv2"))
    assert status == 200
    core = bot.teams.bot._core  # noqa: SLF001  (the core the bot was mounted with)
    row = await asyncio.to_thread(core.store.audits.subscribe, SubscriptionRow(
        id=new_id("s_"), workspace_id=WORKSPACE, platform="teams", destination=teams_channel, destination_name="",
        cadence="weekly", weekday=0, hour=9, minute=0, timezone="Europe/Berlin", created_by="aad-bob",
        created_at=datetime.now(UTC)))
    connector.fail(429, count=1, operation="send", retry_after=0.2)
    key = digest_key(row, "2026-11-30")
    assert await core.audits.send_digest(row, key, "2026-11-30") is Outcome.SENT
    assert await core.audits.send_digest(row, key, "2026-11-30") is Outcome.ALREADY
    delivered = [r for r in connector.sent("send") if r.conversation_id == teams_channel and r.status < 300]
    assert len(delivered) == 1


async def test_a_scheduler_that_finds_the_database_locked_keeps_trying_and_leads_once_it_is_free(
        tmp_path: Path, cipher: GrantCipher) -> None:
    # the job store's table is made when the scheduler first leads; a SQLite file locked by another writer
    # past its busy timeout made that raise, and the exception ended the scheduler for good (the demo's
    # teardown met it): it must give the lead back and try again at the next poll
    from chatops.model import Workspace
    from tests.core.audits.conftest import connection

    path = tmp_path / "chatops.db"
    store = Store.open(f"sqlite:///{path}", cipher)
    store.ensure_workspace(Workspace(WS, "Acme", "slack", "T0ACME"))
    store.add_connection(WS, connection("broken-ben", owner="ben@acme.example"))
    await asyncio.to_thread(_due, store, CHANNEL)
    sink = RecordingSink()
    scheduler = Scheduler(_core(store, sink).audits, poll_s=0.2, lock_key=secrets.randbits(62), jobs=FAST)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # a backup or a stuck process holds the write lock
    task = scheduler.start()
    try:
        await asyncio.sleep(6.5)  # past SQLite's 5 s busy timeout: the first lead failed
        assert not task.done(), task.exception() if task.done() else None
        assert not scheduler.leading and sink.posts == []
        other.execute("ROLLBACK")
        await wait_for(lambda: len(sink.posts) == 1)
        assert scheduler.leading
    finally:
        other.close()
        await scheduler.stop()
        store.close()
    assert len(sink.posts) == 1
