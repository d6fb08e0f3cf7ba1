"""syncstatus over real HTTP: personal chat, channel mention, all, help; replies captured by the fake Connector."""

from __future__ import annotations

import asyncio
import json

from adapters.sandbox.bot_connector import BOT_ID, BotConnector, conversation_update, message
from tests.edges.teams.conftest import ANA, BOB, EVE, OTHER_TENANT, SLOW_S, Bot, MakeBot

CARD = "application/vnd.microsoft.card.adaptive"


def card_of(body: dict) -> dict:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == CARD
    return attachment["content"]


def texts(card: dict) -> list[str]:
    """Every TextBlock and fact in a card, ShowCards included."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            if node.get("type") == "FactSet":
                found.extend(f"{f['title']}: {f['value']}" for f in node["facts"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


async def replies(connector: BotConnector, count: int = 1) -> list[dict]:
    await connector.wait_for(lambda c: len(c.sent("reply")) + len(c.sent("send")) >= count)
    return [r.body for r in connector.sent() if r.operation in ("reply", "send")]


async def test_syncstatus_in_a_personal_chat_answers_with_the_askers_cards(bot: Bot) -> None:
    status, _ = await bot.post(message(bot.connector, "syncstatus broken-ana", user_id=ANA, aad_object_id="aad-ana"))

    assert status == 200
    [reply] = await replies(bot.connector)
    card = card_of(reply)
    assert card["version"] == "1.5"
    lines = texts(card)
    assert any("revoked 2 days ago" in t for t in lines)
    assert any("invalid\\_grant" in t for t in lines)  # evidence, escaped for card markdown
    actions = [a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    by_title = {a["title"]: a for a in actions}
    assert by_title["Reconnect Google"]["type"] == "Action.OpenUrl"
    assert by_title["Reconnect Google"]["url"].startswith("https://chatops.example/reconnect/")
    assert by_title["Retest"]["type"] == "Action.Execute"
    assert by_title["Retest"]["fallback"]["type"] == "Action.Submit"
    assert by_title["Details"]["type"] == "Action.ShowCard"
    [get_member] = bot.connector.sent("get_member")
    assert get_member.path.endswith("/members/29:ana")
    member = await asyncio.to_thread(bot.store.member, "teams:" + bot.connector.members["29:ana"]["tenantId"],
                                     "aad-ana")
    assert member is not None and member.email == "ana@acme.example"


async def test_a_reply_goes_to_the_conversation_and_activity_it_answers(bot: Bot) -> None:
    activity = message(bot.connector, "syncstatus", user_id=ANA, conversation_id="a:ana-chat")

    await bot.post(activity)

    await bot.connector.wait_for(lambda c: bool(c.sent("reply")))
    [recorded] = bot.connector.sent("reply")
    assert recorded.conversation_id == "a:ana-chat"
    assert recorded.activity_id == activity["id"]
    assert recorded.body["conversation"]["id"] == "a:ana-chat"
    assert recorded.body["from"]["id"] == BOT_ID


async def test_at_mention_in_a_channel_strips_the_mention(bot: Bot) -> None:
    activity = message(bot.connector, "syncstatus ana-gmail", user_id=ANA, kind="channel", mention_bot=True,
                       conversation_id="19:general@thread.tacv2;messageid=1759881511856")

    status, _ = await bot.post(activity)

    assert status == 200
    [reply] = await replies(bot.connector)
    assert any("ana-gmail: Healthy" in t for t in texts(card_of(reply)))


async def test_mentioning_a_person_asks_about_their_connections(bot: Bot) -> None:
    activity = message(bot.connector, "syncstatus <at>Ana Ruiz</at>", user_id=BOB, aad_object_id="aad-bob",
                       kind="channel", conversation_id="19:general@thread.tacv2;messageid=1")
    activity["entities"] = [{"type": "mention", "text": "<at>Ana Ruiz</at>", "mentioned": {"id": ANA,
                                                                                         "name": "Ana Ruiz"}}]

    await bot.post(activity)

    [reply] = await replies(bot.connector)
    assert "3 connections" in card_of(reply)["body"][0]["text"]  # ana's three, resolved through the roster


async def test_syncstatus_all_is_for_admins_only(bot: Bot) -> None:
    await bot.post(message(bot.connector, "syncstatus all", user_id=ANA))
    [refusal] = await replies(bot.connector)
    assert any("Only workspace admins" in t for t in [refusal.get("text", "")])

    await bot.post(message(bot.connector, "syncstatus all", user_id=BOB, conversation_id="a:bob"))
    await bot.connector.wait_for(lambda c: len([r for r in c.sent() if r.operation in ("reply", "update")
                                                and r.body.get("attachments")]) >= 1, timeout_s=15)
    last = [r for r in bot.connector.sent() if r.body and r.body.get("attachments")][-1]
    assert "4 connections" in card_of(last.body)["body"][0]["text"]  # this tenant's four, not the other's


async def test_text_that_is_not_a_command_gets_the_help_card(bot: Bot) -> None:
    await bot.post(message(bot.connector, "hello there", user_id=ANA))

    [reply] = await replies(bot.connector)
    assert card_of(reply)["body"][0]["text"].startswith("How to use")


async def test_a_slow_diagnosis_says_checking_then_replaces_it_with_the_card(make_bot: MakeBot) -> None:
    bot = await make_bot({"CHATOPS_TEAMS_REPLY_BUDGET_S": "0.2"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _ = await bot.post(message(bot.connector, "syncstatus slow-ana", user_id=ANA))
    answered = loop.time() - started

    assert status == 200
    assert answered < SLOW_S  # the Connector is not kept waiting for the diagnosis
    [placeholder] = await replies(bot.connector)
    assert placeholder["text"] == "Checking 1 connection…"
    await bot.connector.wait_for(lambda c: bool(c.sent("update")), timeout_s=10)
    [update] = bot.connector.sent("update")
    [placeholder_id] = [key[1] for key, body in bot.connector.messages.items() if body is not None
                        and key[1] == update.activity_id]
    assert update.conversation_id == "a:demo-personal" and placeholder_id
    assert any("slow-ana: Healthy" in t for t in texts(card_of(update.body)))


async def test_a_tenant_sees_only_its_own_connections(bot: Bot) -> None:
    await bot.post(message(bot.connector, "syncstatus ana-gmail", user_id=EVE, tenant_id=OTHER_TENANT,
                           conversation_id="a:eve"))

    [reply] = await replies(bot.connector)
    shown = json.dumps(reply)
    assert "ana-gmail: Healthy" not in shown
    assert "no connection called" in shown


async def test_installing_in_a_team_keeps_the_channel_reference(bot: Bot) -> None:
    status, _ = await bot.post(conversation_update(bot.connector, conversation_id="19:general@thread.tacv2",
                                                   team_id="19:team@thread.tacv2"))

    assert status == 200
    refs = await asyncio.to_thread(bot.teams.conversations.list, "teams:0d0d0d0d-0000-4000-8000-000000000000")
    [channel] = refs
    assert (channel.kind, channel.team_id, channel.service_url) == ("channel", "19:team@thread.tacv2",
                                                                    bot.connector.base_url)
    assert channel.reference["conversation"]["id"] == "19:general@thread.tacv2"
    assert not bot.connector.sent()  # nothing said in a channel on install
