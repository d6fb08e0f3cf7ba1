"""App Home over real HTTP: the failing trend of the last weekly audits, and the digest settings for admins
(the form in a modal, errors under its fields, the same subscription `/syncstatus subscribe` makes)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.views import View

from adapters.slack import render
from adapters.sandbox.slack_api import Message
from chatops.store.audits import SubscriptionRow
from tests.edges.slack.conftest import ACME, OTHER, Bot, StartBot
from tests.security.rendered import LIMITS, assert_valid_blocks

WS, OTHER_WS = f"slack:{ACME}", f"slack:{OTHER}"
NOWHERE = Message("", "", "", [])


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def valid_view(view: dict[str, Any]) -> dict[str, Any]:
    View(**view).to_dict()
    assert_valid_blocks(view["blocks"], limit=LIMITS["blocks per modal / Home tab view"])
    if "title" in view:
        assert len(view["title"]["text"]) <= LIMITS["view.title length"]
    return view


async def open_home(bot: Bot, user: str, team: str = ACME) -> dict[str, Any]:
    before = len(bot.fake.called("views.publish"))
    await bot.event(team, {"type": "app_home_opened", "user": user, "tab": "home", "event_ts": "1.2"})
    calls = await bot.fake.wait_for("views.publish", before + 1)
    assert calls[-1].params["user_id"] == user
    return valid_view(calls[-1].params["view"])


async def next_home(bot: Bot, count: int) -> dict[str, Any]:
    calls = await bot.fake.wait_for("views.publish", count)
    return valid_view(calls[count - 1].params["view"])


async def open_modal(bot: Bot, team: str, user: str, view: dict[str, Any], label: str,
                     nth: int = 0) -> dict[str, Any]:
    """Click the nth button labelled `label` on the Home view; the modal it opened."""
    before = len(bot.fake.modals)
    buttons = [(b["block_id"], e) for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["text"]["text"] == label]
    block_id, element = buttons[nth]
    status, _ = await bot.post(bot.fake.action_body(team, user, None, element, block_id=block_id, view=view))
    assert status == 200
    for _ in range(200):
        if len(bot.fake.modals) > before:
            return valid_view(bot.fake.modals[-1])
        await asyncio.sleep(0.02)
    raise AssertionError("no modal opened")


async def submit(bot: Bot, team: str, user: str, modal: dict[str, Any], values: dict[str, str]
                 ) -> tuple[int, dict[str, Any]]:
    status, body = await bot.post(bot.fake.view_submission_body(team, user, modal, values))
    return status, json.loads(body) if body else {}


def subscriptions(bot: Bot, workspace: str = WS) -> list[SubscriptionRow]:
    return bot.services.store.audits.subscriptions(workspace)


def record(bot: Bot, workspace: str, subscription: str, sent_at: datetime, failing: int, total: int = 10) -> None:
    statuses = {f"c{i}": "fail" if i < failing else "ok" for i in range(total)}
    bot.services.store.audits.record_digest(workspace, subscription, sent_at.date().isoformat(), sent_at,
                                            {"statuses": statuses, "problems": failing, "connections": total})


# ---------------------------------------------------------------- the trend


async def test_home_shows_the_failing_trend_of_the_last_four_weekly_audits(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    monday = datetime(2026, 11, 2, 9, tzinfo=UTC)
    for week, failing in enumerate([9, 1, 2, 3, 5]):  # the oldest falls outside the last four
        record(bot, WS, "s_general", monday + timedelta(weeks=week), failing)
    record(bot, WS, "s_sales", monday + timedelta(weeks=4, hours=1), 5)  # a second channel, same week: once
    record(bot, OTHER_WS, "s_other", monday + timedelta(weeks=4), 40)  # another team's audits: not here

    shown = text_of(await open_home(bot, "U0ANA"))

    assert "Failing: ▂▄▅█ 1 → 5 (last 4 weekly audits)" in shown
    assert "40" not in shown


async def test_home_says_plainly_when_there_are_too_few_audits_for_a_trend(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    assert "no weekly audit has run yet" in text_of(await open_home(bot, "U0ANA"))

    record(bot, WS, "s_general", datetime(2026, 11, 2, 9, tzinfo=UTC), 3)

    shown = text_of(await open_home(bot, "U0ANA"))
    assert "only one weekly audit so far" in shown and "Failing:" not in shown


# ---------------------------------------------------------------- digest settings


async def test_the_admin_sees_digest_settings_and_a_member_does_not(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    status, _ = await bot.command(ACME, "U0ADMIN", "subscribe weekly tue 08:30 Europe/Berlin")
    assert status == 200
    await bot.responses(1)

    admin = text_of(await open_home(bot, "U0ADMIN"))
    member = text_of(await open_home(bot, "U0ANA"))

    assert "Digest settings" in admin and "every Tuesday at 08:30 Europe/Berlin" in admin
    assert all(f'"text": "{label}"' in admin for label in ("Add digest", "Edit", "Unsubscribe"))
    assert "Digest settings" not in member and "Add digest" not in member and "Europe/Berlin" not in member


async def test_add_digest_in_a_modal_saves_what_subscribe_would(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    home = await open_home(bot, "U0ADMIN")

    modal = await open_modal(bot, ACME, "U0ADMIN", home, "Add digest")
    elements = {b["block_id"]: b["element"]["type"] for b in modal["blocks"] if b["type"] == "input"}
    assert elements == {"channel": "conversations_select", "cadence": "radio_buttons", "weekday": "static_select",
                        "time": "timepicker", "timezone": "plain_text_input"}
    status, answer = await submit(bot, ACME, "U0ADMIN", modal, {
        "channel": "C0SALES", "cadence": "weekly", "weekday": "wed", "time": "17:30", "timezone": "Europe/Berlin"})

    assert (status, answer) == (200, {})  # the modal closes
    [saved] = subscriptions(bot)
    await bot.command(ACME, "U0ADMIN", "subscribe <#C0OPS|ops> weekly wed 17:30 Europe/Berlin")
    await bot.responses(1)
    typed = next(s for s in subscriptions(bot) if s.destination == "C0OPS")
    fields = ("workspace_id", "platform", "cadence", "weekday", "hour", "minute", "timezone", "created_by")
    assert [getattr(saved, f) for f in fields] == [getattr(typed, f) for f in fields]
    assert (saved.destination, saved.weekday, saved.hour, saved.minute) == ("C0SALES", 2, 17, 30)
    assert subscriptions(bot, OTHER_WS) == []
    shown = text_of(await next_home(bot, 2))  # Home republished with the new subscription and a notice
    assert "channel C0SALES: Weekly digest, every Wednesday at 17:30 Europe/Berlin" in shown
    assert "gets the weekly sync digest" in shown


async def test_a_bad_time_and_time_zone_are_shown_under_their_fields_and_nothing_is_stored(
        start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    modal = await open_modal(bot, ACME, "U0ADMIN", await open_home(bot, "U0ADMIN"), "Add digest")

    status, answer = await submit(bot, ACME, "U0ADMIN", modal, {
        "channel": "C0SALES", "time": "25:99", "timezone": "Europe/Berln"})

    assert status == 200 and answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"time", "timezone"}
    assert "not a time of day" in answer["errors"]["time"]
    assert "Europe/Berln" in answer["errors"]["timezone"] and "Europe/Berlin" in answer["errors"]["timezone"]
    status, answer = await submit(bot, ACME, "U0ADMIN", modal, {"channel": ""})
    assert set(answer["errors"]) == {"channel"}
    assert subscriptions(bot) == []
    await asyncio.sleep(0.2)
    assert len(bot.fake.called("views.publish")) == 1  # no republish either


async def test_edit_and_unsubscribe_from_home(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    await bot.command(ACME, "U0ADMIN", "subscribe <#C0OPS|ops> daily 07:00")
    await bot.responses(1)
    home = await open_home(bot, "U0ADMIN")

    modal = await open_modal(bot, ACME, "U0ADMIN", home, "Edit")
    assert "channel" not in {b.get("block_id") for b in modal["blocks"]}  # a subscription keeps its channel
    assert "#ops" in text_of(modal)
    status, answer = await submit(bot, ACME, "U0ADMIN", modal, {"cadence": "weekly", "weekday": "fri",
                                                                "time": "16:00", "timezone": "America/New_York"})
    assert (status, answer) == (200, {})
    [row] = subscriptions(bot)
    assert (row.destination, row.cadence, row.weekday, row.hour, row.timezone) == \
        ("C0OPS", "weekly", 4, 16, "America/New_York")

    home = await next_home(bot, 2)
    assert "#ops: Weekly digest, every Friday at 16:00 America/New_York" in text_of(home)
    await bot.click(ACME, "U0ADMIN", NOWHERE, render.ACTION_PREFIX + ":unsubscribe", view=home)
    shown = text_of(await next_home(bot, 3))
    assert subscriptions(bot) == []
    assert "#ops no longer gets sync digests" in shown and "No channel gets the sync digest yet" in shown


async def test_a_members_forged_settings_actions_are_refused(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    await bot.command(ACME, "U0ADMIN", "subscribe <#C0OPS|ops>")
    await bot.responses(1)
    [row] = subscriptions(bot)
    admin_home = await open_home(bot, "U0ADMIN")

    # Ana (a member) replays the admin's buttons and form
    modal = await open_modal(bot, ACME, "U0ANA", admin_home, "Edit")
    assert "Only workspace admins" in text_of(modal) and "input" not in {b["type"] for b in modal["blocks"]}
    refused = await open_modal(bot, ACME, "U0ANA", admin_home, "Unsubscribe")
    assert "Only workspace admins" in text_of(refused)
    form = await open_modal(bot, ACME, "U0ADMIN", admin_home, "Edit")
    status, answer = await submit(bot, ACME, "U0ANA", form, {"time": "03:00"})

    assert status == 200 and answer["response_action"] == "errors"
    assert "Only workspace admins" in " ".join(answer["errors"].values())
    assert subscriptions(bot) == [row]


async def test_another_teams_subscription_cannot_be_reached(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    await bot.command(OTHER, "U0ZOE", "subscribe <#C0ZED|zed>")
    await bot.responses(1)
    [theirs] = subscriptions(bot, OTHER_WS)
    home = await open_home(bot, "U0ADMIN")
    forged = json.loads(json.dumps(home))
    for block in forged["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else ():
            if element["text"]["text"] == "Add digest":
                element["text"]["text"] = "Edit"
                element["value"] = json.dumps({"t": theirs.id, "v": ""})

    modal = await open_modal(bot, ACME, "U0ADMIN", forged, "Edit", nth=-1)

    assert "no longer exists" in text_of(modal)
    assert subscriptions(bot, OTHER_WS) == [theirs]
