"""Proactive posts to stored conversations: the digest path, the serviceUrl allowlist, retries and pacing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.sandbox.bot_connector import BotConnector, conversation_update, message
from adapters.teams.sink import DeliveryError, NotAllowed
from chatops.cards import text_card
from chatops.chat import Reply
from chatops.store.conversations import ConversationRef
from tests.edges.teams.conftest import WORKSPACE, Bot, MakeBot
from tests.edges.teams.test_messages import card_of

DIGEST = text_card("Weekly sync audit", ["2 of 4 connections need attention."])
CHANNEL = "19:general@thread.tacv2"


@pytest.fixture
async def attacker() -> AsyncIterator[BotConnector]:
    """Another listener on this machine: a serviceUrl the bot must never send its token to."""
    fake = await BotConnector().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def strict(make_bot: MakeBot, connector: BotConnector) -> Bot:
    """The demo with only the fake Connector's host allowed (as production allows only Teams' hosts)."""
    return await make_bot({"CHATOPS_TEAMS_SERVICE_URL_HOSTS": connector.host})


async def channel(bot: Bot) -> ConversationRef:
    status, _ = await bot.post(conversation_update(bot.connector, conversation_id=CHANNEL,
                                                   team_id="19:team@thread.tacv2"))
    assert status == 200
    [ref] = await asyncio.to_thread(bot.teams.conversations.list, WORKSPACE, kind="channel")
    return ref


async def test_a_digest_is_posted_to_a_stored_channel_as_a_new_thread(strict: Bot) -> None:
    ref = await channel(strict)

    activity_id = await strict.teams.sink.post(ref.reference, DIGEST)

    [sent] = strict.connector.sent("send")
    assert sent.conversation_id == CHANNEL and not sent.activity_id  # POST .../activities: a new thread
    assert card_of(sent.body)["body"][0]["text"] == "Weekly sync audit"
    assert activity_id and (CHANNEL, activity_id) in strict.connector.messages


async def test_a_posted_card_can_be_updated_in_place(strict: Bot) -> None:
    ref = await channel(strict)
    activity_id = await strict.teams.sink.post(ref.reference, DIGEST)

    await strict.teams.sink.update(ref.reference, activity_id, Reply("done", card=text_card("Audit", ["All good."])))

    [update] = strict.connector.sent("update")
    assert update.activity_id == activity_id
    assert card_of(strict.connector.messages[(CHANNEL, activity_id)])["body"][0]["text"] == "Audit"


async def test_a_reference_pointing_elsewhere_is_refused_with_no_request_sent(strict: Bot,
                                                                             attacker: BotConnector) -> None:
    ref = await channel(strict)
    forged = {**ref.reference, "serviceUrl": attacker.base_url}

    for reference in (forged, {**ref.reference, "serviceUrl": "https://attacker.example/"},
                      {**ref.reference, "serviceUrl": "http://smba.trafficmanager.net/amer/"}):
        with pytest.raises(NotAllowed):
            await strict.teams.sink.post(reference, DIGEST)

    assert not attacker.requests
    assert not strict.connector.sent("send")


async def test_an_activity_from_an_unlisted_serviceurl_is_answered_but_not_kept(strict: Bot,
                                                                               attacker: BotConnector) -> None:
    activity = message(attacker, "syncstatus", user_id="29:ana")

    status, _ = await strict.post(activity)

    assert status == 200
    assert await asyncio.to_thread(strict.teams.conversations.list, WORKSPACE) == []


async def test_429_is_retried_after_retry_after_and_delivered_once(strict: Bot) -> None:
    ref = await channel(strict)
    strict.connector.fail(429, count=2, operation="send", retry_after=0.05)

    await strict.teams.sink.post(ref.reference, DIGEST)

    statuses = [r.status for r in strict.connector.requests if r.operation == "send"]
    assert statuses == [429, 429, 201]
    assert len(strict.connector.sent("send")) == 1


async def test_502_and_504_are_retried_with_backoff_then_given_up(strict: Bot) -> None:
    ref = await channel(strict)
    strict.connector.fail(502, count=1, operation="send")
    strict.connector.fail(504, count=10, operation="send")

    with pytest.raises(DeliveryError) as caught:
        await strict.teams.sink.post(ref.reference, DIGEST)

    assert caught.value.status == 504
    assert [r.status for r in strict.connector.requests if r.operation == "send"] == [502, 504, 504, 504]


async def test_a_blocked_bot_is_not_retried(strict: Bot) -> None:
    ref = await channel(strict)
    strict.connector.fail(403, operation="send")

    with pytest.raises(DeliveryError) as caught:
        await strict.teams.sink.post(ref.reference, DIGEST)

    assert caught.value.status == 403
    assert len([r for r in strict.connector.requests if r.operation == "send"]) == 1


async def test_posts_to_one_conversation_keep_to_seven_a_second(strict: Bot) -> None:
    ref = await channel(strict)

    await asyncio.gather(*(strict.teams.sink.post(ref.reference, DIGEST) for _ in range(10)))

    times = sorted(r.at for r in strict.connector.sent("send"))
    assert len(times) == 10
    assert all(later - earlier >= 0.95 for earlier, later in zip(times, times[7:], strict=False))


async def test_removing_the_bot_from_a_team_stops_posts_there(strict: Bot) -> None:
    await channel(strict)

    await strict.post(conversation_update(strict.connector, conversation_id=CHANNEL, team_id="19:team@thread.tacv2",
                                          added=False))

    assert await asyncio.to_thread(strict.teams.conversations.list, WORKSPACE) == []
