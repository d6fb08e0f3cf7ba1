"""App Home from the core: the failing trend over the weekly digests the scheduler really sent, and the digest
settings only admins get (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

from datetime import timedelta

from chatops.cards import Card
from chatops.home import home_cards
from tests.core.audits.conftest import ADMIN, ANA, FATES, MONDAY_9_BERLIN, WS, MakeCore
from tests.core.audits.test_digests import subscribe, tick_until
from tests.fakes.clock import FakeClock


def said(cards: list[Card]) -> str:
    return "\n".join(getattr(b, "text", "") for card in cards for b in card.blocks)


async def test_four_weeks_of_digests_give_the_failing_trend(make_core: MakeCore, clock: FakeClock) -> None:
    core = make_core()
    await subscribe(core)
    assert "no weekly audit has run yet" in said(await home_cards(core, WS, ANA))
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(hours=1))  # week 1: broken-ben fails
    assert "only one weekly audit so far" in said(await home_cards(core, WS, ANA))
    FATES.update({"busy-cy": "full"})  # week 2: two fail
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(weeks=1, hours=1))
    FATES.update({"ok-ana": "broken"})  # week 3: three fail
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(weeks=2, hours=1))
    FATES.update({"broken-ben": "ok", "busy-cy": "ok", "ok-ana": "ok"})  # week 4: all fixed
    await tick_until(core, clock, MONDAY_9_BERLIN + timedelta(weeks=3, hours=1))

    member, admin = said(await home_cards(core, WS, ANA)), said(await home_cards(core, WS, ADMIN))

    assert "Failing: ▃▆█▁ 1 → 0 (last 4 weekly audits)" in member
    assert "Digest settings" not in member
    assert "every Monday at 09:00 Europe/Berlin" in admin and "Digest settings" in admin
