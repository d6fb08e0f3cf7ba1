"""Card actions over real HTTP: adaptiveCard/action invokes (Retest, Snooze), the Action.Submit fallback, bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from adapters.sandbox.bot_connector import invoke, message
from tests.edges.teams.conftest import ANA, BOB, EVE, OTHER_TENANT, SLOW_S, Bot, MakeBot
from tests.edges.teams.test_messages import card_of, replies, texts

CARD = "application/vnd.microsoft.card.adaptive"


def actions(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["title"]: a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]}


async def card_for(bot: Bot, name: str, user: str = ANA) -> tuple[dict[str, Any], str]:
    """Ask for a connection's card; (card, id of the message holding it)."""
    await bot.post(message(bot.connector, f"syncstatus {name}", user_id=user))
    await replies(bot.connector)
    [sent] = bot.connector.sent("reply")
    [message_id] = [key[1] for key, body in bot.connector.messages.items() if body is sent.body]
    return card_of(sent.body), message_id


def clicked(bot: Bot, action: dict[str, Any], message_id: str, **kw: Any) -> dict[str, Any]:
    return invoke(bot.connector, action["data"], verb=action["verb"], reply_to_id=message_id, **kw)


async def test_retest_answers_the_invoke_with_a_fresh_card_and_updates_it_for_everyone(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")

    status, body = await bot.post(clicked(bot, actions(card)["Retest"], message_id, user_id=ANA))

    assert status == 200
    assert (body["statusCode"], body["type"]) == (200, CARD)
    assert any("broken-ana: Broken" in t for t in texts(body["value"]))
    await bot.connector.wait_for(lambda c: bool(c.sent("update")))
    [update] = bot.connector.sent("update")
    assert update.activity_id == message_id
    assert card_of(update.body)["body"] == body["value"]["body"]


async def test_retest_taking_longer_than_the_invoke_budget_answers_rechecking_then_updates(
        make_bot: MakeBot) -> None:
    bot = await make_bot({"CHATOPS_TEAMS_INVOKE_BUDGET_S": "0.3", "CHATOPS_TEAMS_REPLY_BUDGET_S": "5"})
    card, message_id = await card_for(bot, "slow-ana")
    loop = asyncio.get_running_loop()

    started = loop.time()
    status, body = await bot.post(clicked(bot, actions(card)["Retest"], message_id, user_id=ANA))

    assert status == 200 and loop.time() - started < SLOW_S
    assert body["value"]["body"][0]["text"] == "Rechecking…"
    await bot.connector.wait_for(lambda c: bool(c.sent("update")), timeout_s=10)
    [update] = bot.connector.sent("update")
    assert update.activity_id == message_id
    assert any("slow-ana: Healthy" in t for t in texts(card_of(update.body)))


async def test_snooze_is_answered_within_the_window(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")

    status, body = await bot.post(clicked(bot, actions(card)["Snooze alerts"], message_id, user_id=ANA))

    assert status == 200
    assert body["statusCode"] == 200
    assert body["type"] in (CARD, "application/vnd.microsoft.activity.message")


async def test_someone_elses_connection_is_refused_with_a_message(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")

    status, body = await bot.post(clicked(bot, actions(card)["Retest"], message_id, user_id="29:stranger"))

    assert status == 200
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "only act on your own" in body["value"] or "no longer exists" in body["value"]


async def test_an_invoke_from_another_tenant_is_refused_and_changes_nothing(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")
    runs_before = await asyncio.to_thread(bot.store.run_history, "teams:" + OTHER_TENANT)

    status, body = await bot.post(clicked(bot, actions(card)["Retest"], message_id, user_id=EVE,
                                          tenant_id=OTHER_TENANT, conversation_id="a:eve"))

    assert status == 200
    assert body["value"] == "This card belongs to another organisation, so it can't act here."
    assert await asyncio.to_thread(bot.store.run_history, "teams:" + OTHER_TENANT) == runs_before
    assert not bot.connector.sent("update")


async def test_a_missing_or_foreign_connection_id_is_a_clear_message(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")
    retest = actions(card)["Retest"]
    for target in ("", "c_doesnotexist", bot.ids["eve-gmail"]):
        forged = {**retest, "data": {**retest["data"], "t": target}}
        status, body = await bot.post(clicked(bot, forged, message_id, user_id=BOB))
        assert status == 200
        assert body["value"] == "That connection no longer exists in this workspace."


async def test_malformed_invokes_are_400_with_an_error_body(bot: Bot) -> None:
    base = invoke(bot.connector, {}, verb="chatops.retest", reply_to_id="1")
    cases = [
        {**base, "value": None},
        {**base, "value": {"trigger": "manual"}},
        {**base, "value": {"action": {"type": "Action.Submit", "data": {}}}},
        {**base, "value": {"action": {"type": "Action.Execute", "verb": "other.app", "data": {"x": 1}}}},
    ]
    for case in cases:
        status, body = await bot.post(case)
        assert status == 400, case
        assert (body["statusCode"], body["type"]) == (400, "application/vnd.microsoft.error")
        assert body["value"]["code"] == "BadRequest"


async def test_action_submit_fallback_arrives_as_a_message_and_updates_the_card(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")
    fallback = actions(card)["Retest"]["fallback"]
    submitted = message(bot.connector, "", user_id=ANA, replyToId=message_id, value=fallback["data"])

    status, _ = await bot.post(submitted)

    assert status == 200
    await bot.connector.wait_for(lambda c: bool(c.sent("update")))
    assert bot.connector.sent("update")[0].activity_id == message_id


async def test_a_redelivered_invoke_runs_once(bot: Bot) -> None:
    card, message_id = await card_for(bot, "broken-ana")
    activity = clicked(bot, actions(card)["Retest"], message_id, user_id=ANA)

    first = await bot.post(activity)
    again = await bot.post(activity)

    assert first[1]["type"] == CARD
    assert again[1]["value"] == "That request is already being handled."


async def test_bad_bodies_are_400_and_unknown_types_are_ignored(bot: Bot) -> None:
    for raw in (b"{not json", b"[]", json.dumps({"type": "message"}).encode(),
                json.dumps({"type": "message", "conversation": {"id": "a:x"}, "serviceUrl": "ftp://x"}).encode(),
                json.dumps({**message(bot.connector, "syncstatus"), "from": "me"}).encode(),
                json.dumps({**message(bot.connector, "syncstatus"),
                            "channelData": {"tenant": {"id": OTHER_TENANT}}}).encode()):
        status, body = await bot.post(raw)
        assert status == 400, raw
        assert body["error"]["code"] == "BadRequest"
    status, _ = await bot.post({**message(bot.connector, ""), "type": "somethingNew"})
    assert status == 200
    status, _ = await bot.post({**message(bot.connector, ""), "type": "typing"})
    assert status == 200
    assert not bot.connector.sent()
