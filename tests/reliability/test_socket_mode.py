"""Socket Mode: the WebSocket dropped by Slack, or recycled with a `disconnect` message, is opened again within
10 s and the next /syncstatus is acked and answered; a process holds one WebSocket at a time."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qsl

import pytest

from adapters.sandbox.slack_api import FakeSlack
from tests.edges.slack.conftest import ACME, Bot, StartBot

APP_TOKEN = "xapp-1-A0CHATOPS-1-socketmodetoken"


async def until(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "timed out"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def answered(bot: Bot, fake: FakeSlack, count: int) -> None:
    command = dict(parse_qsl(fake.command_body(ACME, "U0ANA").decode()))
    ack = await fake.socket_send("slash_commands", command, timeout=10)
    assert ack["payload"]["text"] == "Checking 1 connection…"
    await bot.responses(count, timeout=20)


@pytest.mark.parametrize("how", ["connection dropped", "disconnect: refresh_requested"])
async def test_a_lost_websocket_is_opened_again_within_ten_seconds_and_commands_flow(
        start_bot: StartBot, fake: FakeSlack, how: str) -> None:
    fake.app_tokens.add(APP_TOKEN)
    bot: Bot = await start_bot(env={"SLACK_APP_TOKEN": APP_TOKEN}, socket=True)
    await answered(bot, fake, 1)
    assert len(fake.sockets) == 1 and len(fake.called("apps.connections.open")) == 1

    old = fake.sockets[-1]
    started = time.monotonic()
    if how.startswith("disconnect"):  # Slack announces the recycling; the client moves to a new URL itself
        await old.send_json({"type": "disconnect", "reason": "refresh_requested",
                             "debug_info": {"host": "fake-slack"}})
    else:
        await old.close()
    await until(lambda: old not in fake.sockets and len(fake.sockets) == 1, timeout=10)
    took = time.monotonic() - started

    assert took < 10
    assert len(fake.called("apps.connections.open")) == 2  # one new URL, not a storm (Tier 1 method)
    await answered(bot, fake, 2)
    await asyncio.sleep(0.5)
    assert len(fake.sockets) == 1  # still one WebSocket for this process
