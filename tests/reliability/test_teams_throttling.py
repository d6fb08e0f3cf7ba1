"""100 messages to one Teams channel with a 429 on every 10th send: each arrives exactly once, and the sends keep
inside Teams' per-conversation windows (7 in any 1 s, 60 in any 30 s). The real Teams sink posts to the local
fake of the Bot Connector over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

from adapters.sandbox.bot_connector import BotConnector, conversation_update
from chatops.chat import Reply
from tests.edges.teams.conftest import WORKSPACE, Bot, MakeBot

CHANNEL = "19:alerts@thread.tacv2"
ITEMS = 100
RETRY_AFTER_S = 0.5


def most_in_any(window_s: float, times: list[float]) -> int:
    ordered = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_hundred_sends_with_a_429_on_every_tenth_arrive_once_within_teams_windows(
        make_bot: MakeBot, connector: BotConnector) -> None:
    bot: Bot = await make_bot({"CHATOPS_TEAMS_SERVICE_URL_HOSTS": connector.host})
    status, _ = await bot.post(conversation_update(connector, conversation_id=CHANNEL, team_id="19:team@thread.tacv2"))
    assert status == 200
    [ref] = await asyncio.to_thread(bot.teams.conversations.list, WORKSPACE, kind="channel")
    started = time.monotonic()

    for n in range(ITEMS):
        if n % 10 == 9:  # Teams refuses the next send: it is throttled, not delivered
            connector.fail(429, count=1, operation="send", retry_after=RETRY_AFTER_S)
        await bot.teams.sink.post_reply(ref.reference, Reply(f"alert {n:03}"))

    took = time.monotonic() - started
    sends = [r for r in connector.requests if r.operation == "send"]
    delivered = [r for r in sends if r.status < 300]
    refused = [r for r in sends if r.status == 429]
    assert len(refused) == ITEMS // 10
    texts = Counter(str(r.body.get("text", "")) for r in delivered)
    assert texts == Counter(f"alert {n:03}" for n in range(ITEMS))  # every item, exactly once
    every = [r.at for r in sends]  # Teams counts refused sends against the window too
    assert most_in_any(1.0, every) <= 7, most_in_any(1.0, every)
    assert most_in_any(30.0, every) <= 60, most_in_any(30.0, every)
    for throttled in refused:  # the retry waited for Retry-After
        retried = min(r.at for r in sends if r.at > throttled.at)
        assert retried - throttled.at >= RETRY_AFTER_S * 0.9
    print(f"\n{ITEMS} sends to one channel, {len(refused)} throttled: {took:.1f} s")
