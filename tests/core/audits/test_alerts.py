"""The alert sweep: one alert per connection and cause until it changes or resolves, then a resolved note; snoozes."""

from __future__ import annotations

from datetime import timedelta

from chatops.chat import ActionRequest, CommandRequest
from chatops.findings import ActionKind
from chatops.model import SyncEvent
from tests.core.audits.conftest import ADMIN, ANA, CHANNEL, FATES, WS, MakeCore, RecordingSink, connection
from tests.fakes.clock import FakeClock


async def setup(make_core: MakeCore):  # type: ignore[no-untyped-def]
    core = make_core()
    reply = await core.handle_command(CommandRequest(WS, ADMIN, f"subscribe <#{CHANNEL}|sales>", channel_id="C0X"))
    assert reply.text.startswith("Subscribed")
    core.audits.config = type(core.audits.config)(failure_streak=2)
    return core


async def sweep(core, clock: FakeClock, times: int = 1):  # type: ignore[no-untyped-def]
    for _ in range(times):
        clock.advance(minutes=15)
        await core.audits.alert_sweep()


async def test_an_alert_is_posted_once_until_it_changes_then_once_more_and_resolved_once(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = await setup(make_core)
    await sweep(core, clock, times=3)
    quota = [p for p in sink.posts if "busy-cy" in p.reply.text and "85%" in p.reply.text]
    assert len(quota) == 1 and quota[0].destination == CHANNEL
    failing = [p for p in sink.posts if "broken-ben has failed 2 checks in a row" in p.reply.text]
    assert len(failing) == 1  # after the second failing sweep (streak of 2), and never again
    FATES["busy-cy"] = "full"  # threshold -> forecast to run out: news
    await sweep(core, clock, times=2)
    news = [p.reply.text for p in sink.posts if p.reply.text.startswith("Sync alert: busy-cy: The Salesforce")]
    assert len(news) == 2 and "will run out" in news[1]
    # and, as it fails now, the streak alert too (a different cause: said once, on its own)
    assert len([p for p in sink.posts if "busy-cy has failed 2 checks in a row" in p.reply.text]) == 1
    FATES["busy-cy"] = "ok"
    FATES["broken-ben"] = "ok"
    await sweep(core, clock, times=3)
    resolved = [p.reply.text for p in sink.posts if p.reply.text.startswith("Resolved")]
    assert sorted(r.split(".")[0] for r in resolved) == [
        "Resolved: broken-ben", "Resolved: busy-cy", "Resolved: busy-cy"]
    assert core.store.audits.alerts(WS) and not await core.audits.open_alerts(WS)


async def test_the_owner_gets_the_alert_by_dm_too(make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = await setup(make_core)
    core.store.add_connection(WS, connection("busy-ana", owner="ana@acme.example"))
    await sweep(core, clock)
    assert [p.destination for p in sink.posts if "busy-ana" in p.reply.text] == [CHANNEL, "@U0ANA"]


async def test_a_snoozed_connection_gets_no_alerts_until_the_snooze_ends(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = await setup(make_core)
    core.store.add_connection(WS, connection("busy-ana", owner="ana@acme.example"))
    reply = await core.handle_action(ActionRequest(WS, ANA, ActionKind.SNOOZE, "conn-busy-ana", value="1d"))
    assert reply.ephemeral and reply.text.startswith("Alerts for busy-ana are snoozed until Tue 01 Dec")
    await sweep(core, clock, times=4)
    assert not [p for p in sink.posts if "busy-ana" in p.reply.text]
    clock.advance(days=1)
    await sweep(core, clock, times=2)
    assert len([p for p in sink.posts if "busy-ana" in p.reply.text and p.destination == CHANNEL]) == 1


async def test_snooze_is_refused_for_someone_elses_connection_and_for_odd_lengths(make_core: MakeCore) -> None:
    core = make_core()
    refused = await core.handle_action(ActionRequest(WS, ANA, ActionKind.SNOOZE, "conn-busy-cy", value="1d"))
    assert refused.text == "You can only act on your own connections."
    core.store.add_connection(WS, connection("busy-ana"))
    odd = await core.handle_action(ActionRequest(WS, ANA, ActionKind.SNOOZE, "conn-busy-ana", value="5y"))
    assert odd.text == "I can snooze alerts for 1 day or 1 week, not '5y'."
    week = await core.handle_action(ActionRequest(WS, ADMIN, ActionKind.SNOOZE, "conn-busy-ana", value="7d"))
    assert "snoozed until Mon 07 Dec" in week.text


async def test_a_new_error_pattern_alerts_once_and_resolves_when_quiet_for_a_day(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = await setup(make_core)
    FATES.update({"busy-cy": "ok", "broken-ben": "ok"})
    now = clock.now()
    line = "AADSTS700082: The refresh token has expired due to inactivity."
    core.store.add_events(WS, "conn-ok-ana", [SyncEvent("conn-ok-ana", line, now - timedelta(minutes=m))
                                              for m in (1, 5, 9)])
    await sweep(core, clock, times=2)
    new = [p.reply.text for p in sink.posts if "A new sync error appeared on ok-ana" in p.reply.text
           and p.destination == CHANNEL]
    assert len(new) == 1 and "aadsts-700082" in new[0].lower()
    clock.advance(days=1)
    await sweep(core, clock, times=2)
    assert [p.destination for p in sink.posts if p.reply.text.startswith("Resolved: ok-ana")] == [CHANNEL, "@U0ANA"]


async def test_an_alert_whose_post_failed_is_retried_by_the_next_sweep(
        make_core: MakeCore, clock: FakeClock, sink: RecordingSink) -> None:
    core = await setup(make_core)
    sink.fail_next = 1
    await sweep(core, clock)
    await sweep(core, clock, times=2)
    assert len([p for p in sink.posts if "busy-cy" in p.reply.text and p.destination == CHANNEL]) == 1
