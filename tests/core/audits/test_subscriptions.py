"""subscribe / unsubscribe grammar, the schedule's arithmetic (DST included), and the audits tables' migration."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from chatops.audits.schedule import Cadence, parse_schedule
from chatops.chat import CommandRequest
from chatops.errors import CommandError
from chatops.store import Store
from chatops.store.audits import METADATA, Claim
from tests.core.audits.conftest import ADMIN, ANA, CHANNEL, WS, MakeCore


async def say(core, text: str, user=ADMIN, channel: str = CHANNEL) -> str:  # type: ignore[no-untyped-def]
    return (await core.handle_command(CommandRequest(WS, user, text, channel_id=channel))).text


@pytest.mark.parametrize(("text", "expected"), [
    ("subscribe weekly mnd 09:00", "I don't understand 'mnd' in a schedule"),
    ("subscribe weekly mnd 09:00", "Did you mean mon?"),
    ("subscribe mon 25:00", "'25:00' is not a time of day; use 24-hour HH:MM"),
    ("subscribe mon 9:75", "'9:75' is not a time of day"),
    ("subscribe mon 09:00 Europe/Berln", "I don't know the time zone 'Europe/Berln'"),
    ("subscribe mon 09:00 Europe/Berln", "Did you mean Europe/Berlin?"),
    ("subscribe daily tue 08:00", "A daily digest has no weekday"),
    ("subscribe #sales weekly", "I can't tell which channel #sales is"),
    ("subscribe weekly daily", "Say weekly or daily once."),
    ("unsubscribe now", "unsubscribe takes only a channel"),
])
async def test_bad_subscribe_input_gets_a_clear_reply(make_core: MakeCore, text: str, expected: str) -> None:
    core = make_core()
    assert expected in await say(core, text)
    assert core.store.audits.subscriptions(WS) == []


async def test_subscribe_keeps_one_subscription_per_channel_and_unsubscribe_removes_it(make_core: MakeCore) -> None:
    core = make_core()
    first = await say(core, "subscribe")
    assert first.startswith("Subscribed this channel to the weekly sync digest, every Monday at 09:00 UTC.")
    again = await say(core, f"subscribe <#{CHANNEL}|sales> daily 7:30am America/New_York")
    assert "Subscribed #sales to the daily sync digest, every day at 07:30 America/New_York" in again
    [row] = core.store.audits.subscriptions(WS)
    assert (row.destination, row.cadence, row.hour, row.minute, row.timezone) == (
        CHANNEL, "daily", 7, 30, "America/New_York")
    assert (await say(core, "unsubscribe")).startswith("Unsubscribed this channel")
    assert core.store.audits.subscriptions(WS) == []
    assert "has no sync digest subscription" in await say(core, "unsubscribe")


async def test_only_admins_subscribe(make_core: MakeCore) -> None:
    core = make_core()
    assert (await say(core, "subscribe", user=ANA)).startswith("Only workspace admins can use `/syncstatus subscribe")
    help_card = (await core.handle_command(CommandRequest(WS, ANA, "help", channel_id=CHANNEL))).card
    assert any("subscribe [#channel] [weekly|daily]" in getattr(b, "text", "") for b in help_card.blocks)  # type: ignore[union-attr]


def test_a_weekly_schedule_keeps_local_time_across_daylight_saving_changes() -> None:
    schedule = parse_schedule(["sun", "02:30", "Europe/Berlin"])
    assert schedule.cadence is Cadence.WEEKLY
    # 29 Mar 2026: Berlin's clocks jump from 02:00 to 03:00; 02:30 does not exist that day
    spring = schedule.next_fire(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert spring.date().isoformat() == "2026-03-29"
    before = parse_schedule(["mon", "09:00", "Europe/Berlin"]).next_fire(datetime(2026, 3, 17, tzinfo=UTC))
    after = parse_schedule(["mon", "09:00", "Europe/Berlin"]).next_fire(datetime(2026, 3, 31, tzinfo=UTC))
    assert (before.hour, after.hour) == (8, 7)  # 09:00 local is 08:00 UTC in winter, 07:00 in summer


def test_parse_schedule_rejects_unknown_words() -> None:
    with pytest.raises(CommandError):
        parse_schedule(["fortnightly"])


def test_the_migration_builds_exactly_the_audit_tables(store: Store) -> None:
    ours = set(METADATA.tables)

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in ours

    with store.engine.connect() as db:
        options = {"compare_type": True, "include_name": include_name}
        differences = compare_metadata(MigrationContext.configure(db, opts=options), METADATA)
    assert differences == []


def test_a_delivery_key_is_claimed_once_and_reclaimed_only_after_its_lease(store: Store) -> None:
    from datetime import timedelta

    from chatops.model import Workspace

    store.ensure_workspace(Workspace(WS, "Acme", "slack"))
    audits, now = store.audits, datetime(2026, 12, 1, tzinfo=UTC)
    assert audits.claim(WS, "k", now) == Claim.CLAIMED
    assert audits.claim(WS, "k", now + timedelta(minutes=1)) == Claim.BUSY
    assert audits.claim(WS, "k", now + timedelta(minutes=6)) == Claim.CLAIMED  # the first holder died
    audits.mark_sent(WS, "k", now)
    assert audits.claim(WS, "k", now + timedelta(days=1)) == Claim.SENT
