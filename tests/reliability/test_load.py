"""Load, bounded and local: 200 concurrent slash commands and button clicks while every provider is slow, and a
soak (CHATOPS_SOAK_S, 60 s by default, behind the slow marker) with memory and asyncio tasks flat."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from adapters.sandbox.slack_api import Message
from tests.edges.slack.conftest import ACME, Bot, StartBot, provider_env

USERS = ("U0ANA", "U0BEN", "U0ADMIN")
SLOW_S = 0.4  # every provider answers this late, and with a 503 (so idempotent calls are retried, too)
SETTINGS = {"CHATOPS_CHECK_TIMEOUT_S": "2", "CHATOPS_DEADLINE_S": "4"}


@contextlib.asynccontextmanager
async def slow_providers() -> AsyncIterator[int]:
    """Every provider host at once: answers anything after SLOW_S with a 503 in Google's error shape."""

    async def answer(request: web.Request) -> web.Response:
        await asyncio.sleep(SLOW_S)
        return web.json_response({"error": {"code": 503, "message": "The service is currently unavailable.",
                                            "status": "UNAVAILABLE"}}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def cards(bot: Bot) -> list[tuple[str, Message]]:
    """(the user it is for, a card with a Retest button) of every delivered status card."""
    found = []
    for hook in bot.fake.response_urls.values():
        message = hook.message
        if message is not None and not message.ephemeral and any(
                e["action_id"].startswith("chatops:retest") for b in message.blocks if b["type"] == "actions"
                for e in b["elements"]):
            found.append((hook.user, message))
    return found


def deliveries(bot: Bot) -> int:
    return len(bot.delivered())  # progress updates of the "all" checks are not answers


async def until(bot: Bot, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while deliveries(bot) < count:
        assert time.monotonic() < deadline, f"{deliveries(bot)} of {count} messages delivered"
        await asyncio.sleep(0.05)


async def burst(bot: Bot, commands: int, clicks: list[tuple[str, Message]]) -> list[float]:
    """`commands` slash commands and a Retest on each of `clicks`, all at once; their ack times."""
    before = len(bot.ack_seconds)
    requests = [bot.command(ACME, USERS[n % len(USERS)], "all" if n % 3 == 2 else "") for n in range(commands)]
    requests += [bot.click(ACME, user, message, "chatops:retest") for user, message in clicks]
    statuses = await asyncio.gather(*requests)
    assert [s[0] for s in statuses] == [200] * len(requests)
    return bot.ack_seconds[before:]


async def test_200_commands_and_clicks_at_once_with_slow_providers_all_ack_in_time_and_deliver(
        start_bot: StartBot) -> None:
    async with slow_providers() as port:
        bot: Bot = await start_bot(providers=provider_env(port), env=SETTINGS)
        acks = await burst(bot, 60, [])  # cards to click on
        await until(bot, 60, timeout=60)
        targets = cards(bot)
        assert len(targets) == 60
        started = time.monotonic()

        acks += await burst(bot, 140, targets[:60])  # 200 at once: 140 commands and 60 Retest clicks

        within, answered = await edge_acks(bot)  # measured by the server itself, at the HTTP edge
        assert answered >= 260 and within == answered, (within, answered)
        assert max(acks) < 3.0, sorted(acks)[-5:]  # and by the client, its own queueing included
        # each command one card, each click "Rechecking…" then the card: 60 + 140 + 2 x 60
        await until(bot, 60 + 140 + 120, timeout=120)
        assert deliveries(bot) == 60 + 140 + 120
        took = time.monotonic() - started
        texts = [json.dumps(c.params) for c in bot.delivered()]
        assert not [t for t in texts if "Something went wrong" in t]
        assert sum("Rechecking" in t for t in texts) == 60
    print(f"\n200 concurrent: ack p50 {statistics.median(acks):.3f} s, max {max(acks):.3f} s; "
          f"{deliveries(bot)} messages delivered in {took:.1f} s")


async def edge_acks(bot: Bot) -> tuple[int, int]:
    """(answered within 3 s, answered) of POST /slack/events, from the server's own /metrics histogram."""
    async with bot.http.get(f"{bot.url}/metrics") as answer:
        metrics = await answer.text()
    route = 'route="/slack/events"'
    within = answered = 0
    for line in metrics.splitlines():
        if line.startswith("chatops_http_request_seconds_bucket") and route in line and 'le="3.0"' in line:
            within = int(float(line.rsplit(" ", 1)[1]))
        if line.startswith("chatops_http_request_seconds_count") and route in line:
            answered = int(float(line.rsplit(" ", 1)[1]))
    return within, answered


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def forget_delivered(bot: Bot) -> None:
    """The fake keeps every call and message it saw; a soak must not measure the fake's own memory."""
    bot.fake.calls.clear()
    bot.fake.response_urls.clear()
    bot.fake.messages.clear()
    bot.fake.ephemeral.clear()
    bot.fake.modals.clear()


@pytest.mark.slow
@pytest.mark.timeout(int(float(os.environ.get("CHATOPS_SOAK_S", "60"))) + 300)
async def test_a_soak_keeps_memory_and_tasks_flat(start_bot: StartBot) -> None:
    duration = float(os.environ.get("CHATOPS_SOAK_S", "60"))
    async with slow_providers() as port:
        bot: Bot = await start_bot(providers=provider_env(port), env=SETTINGS)
        rounds = samples = 0
        rss: list[float] = []
        acks: list[float] = []
        tasks_before = None
        started = time.monotonic()
        while time.monotonic() - started < duration or rounds < 4:
            acks += await burst(bot, 20, [])
            await until(bot, 20, timeout=60)
            clicks = cards(bot)[:10]
            acks += await burst(bot, 10, clicks)
            await until(bot, 20 + 10 + 2 * len(clicks), timeout=60)
            forget_delivered(bot)
            bot.ack_seconds.clear()
            await asyncio.sleep(0.2)  # the last listeners return after their last delivery
            gc.collect()
            rss.append(rss_mb())
            if tasks_before is None:
                tasks_before = len(asyncio.all_tasks())
            rounds += 1
            samples += 30 + len(clicks)
        await asyncio.sleep(0.5)
        tasks_after = len(asyncio.all_tasks())

    quarter = max(1, len(rss) // 4)
    early, late = statistics.median(rss[quarter:2 * quarter]), statistics.median(rss[-quarter:])
    print(f"\nsoak {duration:.0f} s: {rounds} rounds, {samples} requests, ack max {max(acks):.3f} s; "
          f"RSS {rss[0]:.0f} -> {early:.0f} -> {late:.0f} MB; asyncio tasks {tasks_before} -> {tasks_after}")
    within, answered = await edge_acks(bot)
    assert within == answered and answered >= rounds * 30
    assert max(acks) < 3.0
    assert late - early < 25, rss  # flat after warm-up: no growth with the number of requests served
    assert tasks_after <= (tasks_before or 0) + 2  # nothing left running per request
