"""Digests over weeks of a FakeClock: exactly one per period, across restarts, late starts, two replicas and crashes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from chatops.audits.delivery import Outcome
from chatops.audits.service import AuditConfig, Audits
from chatops.chat import CommandRequest
from chatops.store import Store
from tests.core.audits.conftest import ADMIN, CHANNEL, FATES, MONDAY_9_BERLIN, WS, Crash, MakeCore, RecordingSink
from tests.fakes.clock import FakeClock

SUBSCRIBE = f"subscribe <#{CHANNEL}|sales> weekly mon 09:00 Europe/Berlin"


async def subscribe(core, text: str = SUBSCRIBE) -> str:  # type: ignore[no-untyped-def]
    reply = await core.handle_command(CommandRequest(WS, ADMIN, text, channel_id="C0GENERAL"))
    assert reply.text.startswith("Subscribed"), reply.text
    return reply.text


async def tick_until(core, clock: FakeClock, end: datetime, step: timedelta = timedelta(hours=1)) -> None:  # type: ignore[no-untyped-def]
    while clock.now() < end:
        clock.advance(seconds=step.total_seconds())
        await core.audits.digest_tick()


async def test_three_weeks_of_hourly_ticks_give_exactly_three_digests_each_on_monday_morning_berlin(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    text = await subscribe(core)
    assert "every Monday at 09:00 Europe/Berlin" in text and "Mon 30 Nov 09:00" in text and "(08:00 UTC)" in text
    sent_at: list[datetime] = []
    while clock.now() < MONDAY_9_BERLIN + timedelta(weeks=3) - timedelta(hours=1):
        clock.advance(hours=1)
        before = len(sink.posts)
        await core.audits.digest_tick()
        if len(sink.posts) > before:
            sent_at.append(clock.now())
    assert len(sink.posts) == 3
    assert sent_at == [MONDAY_9_BERLIN + timedelta(weeks=w) for w in range(3)]
    assert {p.destination for p in sink.posts} == {CHANNEL}
    assert all(p.reply.card is not None and p.reply.card.title == "Weekly sync audit: Acme" for p in sink.posts)


async def test_a_restart_between_every_fire_still_gives_one_digest_per_week(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink, seeded: Store, cipher) -> None:  # type: ignore[no-untyped-def]
    await subscribe(make_core())
    for week in range(3):
        # a new process each time: its own Store (engine, connections) on the same database
        store = Store(seeded.engine.url.render_as_string(hide_password=False), cipher)
        try:
            core = make_core(store)
            await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(weeks=week, hours=2))
        finally:
            store.close()
    assert len(sink.posts) == 3


async def test_a_restart_two_hours_late_posts_the_missed_digest_once_and_eight_hours_late_skips_it(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink, caplog: pytest.LogCaptureFixture) -> None:
    core = make_core()
    await subscribe(core)
    clock.advance(hours=4)  # 10:00 UTC, Monday: two hours after the fire, nobody was running
    await core.audits.digest_tick()
    await core.audits.digest_tick()
    assert len(sink.posts) == 1
    clock.advance(days=7, hours=6)  # the next Monday, 16:00 UTC: eight hours late
    await core.audits.digest_tick()
    assert len(sink.posts) == 1
    assert "missed by more than" in caplog.text


async def test_three_missed_weeks_give_one_digest_for_the_latest_period(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    await subscribe(core, f"subscribe <#{CHANNEL}|sales> daily 09:00 Europe/Berlin")
    clock.advance(days=3, hours=3)  # down across three daily fires; back an hour after the fourth
    await core.audits.digest_tick()
    await core.audits.digest_tick()
    assert len(sink.posts) == 1


async def test_two_replicas_ticking_at_once_post_one_digest(
        make_core: MakeCore, clock: FakeClock, seeded: Store, cipher) -> None:  # type: ignore[no-untyped-def]
    first_sink, second_sink = RecordingSink(delay_s=0.05), RecordingSink(delay_s=0.05)
    other = Store(seeded.engine.url.render_as_string(hide_password=False), cipher)
    try:
        a, b = make_core(chat=first_sink), make_core(other, chat=second_sink)
        await subscribe(a)
        clock.advance(hours=2, minutes=1)
        results = await asyncio.gather(a.audits.digest_tick(), b.audits.digest_tick())
        await asyncio.gather(a.audits.digest_tick(), b.audits.digest_tick())
    finally:
        other.close()
    assert len(first_sink.posts) + len(second_sink.posts) == 1
    outcomes = sorted(o.value for r in results for o in r.values())
    assert outcomes in (["busy", "sent"], ["already", "sent"])


@pytest.mark.parametrize("keeps_keys", [True, False], ids=["slack", "teams"])
async def test_a_crash_after_the_platform_took_the_digest_is_found_there_and_not_posted_again(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink, keeps_keys: bool) -> None:
    core = make_core()
    await subscribe(core)
    clock.advance(hours=2, minutes=1)
    sink.keeps_keys = keeps_keys
    sink.crash_after_next = 1  # the platform has the digest; the process dies before marking its key sent
    with pytest.raises(Crash):
        await core.audits.digest_tick()
    [row] = core.store.audits.subscriptions(WS)
    key = f"digest:{row.id}:2026-11-30"
    assert core.store.audits.key_state(WS, key) == "pending" and [p.key for p in sink.posts] == [key]

    restarted = make_core()
    clock.advance(minutes=restarted.audits.config.lease.total_seconds() / 60 + 1)
    assert await restarted.audits.digest_tick() == {row.id: Outcome.SENT}
    for _ in range(3):
        clock.advance(minutes=20)
        await restarted.audits.digest_tick()

    assert core.store.audits.key_state(WS, key) == "sent"
    # Slack: found by its key, so exactly one message; Teams can't be asked, so it goes out again (at least once)
    assert len(sink.posts) == (1 if keeps_keys else 2)
    assert len(core.store.audits.digests(row.id)) == 1


async def test_a_crash_after_the_key_is_stored_and_before_sending_is_retried_once_after_the_lease(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    await subscribe(core)
    clock.advance(hours=2, minutes=1)
    sink.crash_next = 1
    with pytest.raises(Crash):
        await core.audits.digest_tick()
    [row] = core.store.audits.subscriptions(WS)
    assert core.store.audits.key_state(WS, f"digest:{row.id}:2026-11-30") == "pending"

    restarted = make_core()  # the process came back
    clock.advance(minutes=1)
    assert await restarted.audits.digest_tick() == {row.id: Outcome.BUSY}  # still within the crashed run's lease
    assert sink.posts == []
    clock.advance(minutes=restarted.audits.config.lease.total_seconds() / 60)
    assert await restarted.audits.digest_tick() == {row.id: Outcome.SENT}
    for _ in range(3):
        clock.advance(minutes=20)
        await restarted.audits.digest_tick()
    assert len(sink.posts) == 1
    assert core.store.audits.key_state(WS, f"digest:{row.id}:2026-11-30") == "sent"


async def test_a_refused_post_is_retried_by_a_later_tick_and_posted_once(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    await subscribe(core)
    clock.advance(hours=2, minutes=1)
    sink.fail_next = 1
    [outcome] = (await core.audits.digest_tick()).values()
    assert outcome is Outcome.FAILED and sink.posts == []
    await tick_until(core, clock, clock.now() + timedelta(minutes=30), step=timedelta(minutes=1))
    assert len(sink.posts) == 1


async def test_the_digest_says_what_is_wrong_what_changed_and_the_trend(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    await subscribe(core)
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(hours=1))
    FATES.update({"broken-ben": "ok", "ok-ana": "full"})  # ben reconnected; ana's org is running out of API calls
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(weeks=1, hours=1))
    first, second = (p.reply for p in sink.posts)
    text = "\n".join(getattr(b, "text", "") for b in first.card.blocks)  # type: ignore[union-attr]
    assert "2 of 3 connections need attention." in text
    assert "broken-ben: Gmail access for ben@acme.example was revoked" in text
    assert "busy-cy: The Salesforce daily API limit is at 85%" in text
    assert "This is the first digest here" in text
    later = "\n".join(getattr(b, "text", "") for b in second.card.blocks)  # type: ignore[union-attr]
    assert "Fixed: broken-ben" in later
    assert "Newly broken: ok-ana" in later
    assert "will run out before it resets" in later
    assert "digest by digest: ██ (2 → 2)" in later
    buttons = [b for block in second.card.blocks if hasattr(block, "buttons") for b in block.buttons]  # type: ignore[union-attr]
    assert {b.kind.value for b in buttons} >= {"retest"}


async def test_a_long_outage_says_how_long_a_connection_has_been_failing(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = make_core()
    await subscribe(core, f"subscribe <#{CHANNEL}|sales> daily 09:00 Europe/Berlin")
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(days=2, hours=1))
    last = sink.posts[-1].reply
    text = "\n".join(getattr(b, "text", "") for b in last.card.blocks)  # type: ignore[union-attr]
    assert "broken-ben: failing for 2 days (3 checks in a row)" in text
    assert last.card.title == "Daily sync audit: Acme"  # type: ignore[union-attr]


async def test_audit_preview_needs_no_subscription_and_posts_nothing(make_core: MakeCore, sink: RecordingSink) -> None:
    core = make_core()
    reply = await core.handle_command(CommandRequest(WS, ADMIN, "audit", channel_id=CHANNEL))
    assert reply.ephemeral and reply.card is not None and reply.card.title == "Sync audit (preview): Acme"
    assert sink.posts == []


def test_a_config_is_a_value() -> None:
    assert AuditConfig().grace == timedelta(hours=6)
    assert Audits.__doc__
    assert datetime(2026, 1, 1, tzinfo=UTC)
