"""The sandbox shows a diagnosis filling in: `chatops demo`'s page, on a scenario where one person's providers
are slow, shows the "Checking 2 connections…" line turn into a card with one result and one "Checking…", then
into the final card, all in the same place in the channel."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.sandbox.demo import DEMO_ADMIN_ID
from adapters.sandbox.demo_server import DemoServer, start_demo
from tests.fakes.world import World

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[DemoServer]:
    world = World()
    world.person("ana", mail="google", faults=[{"slow": 0.8}])
    world.person("ben", crm="hubspot", mail="microsoft")
    scenario = tmp_path / "slow-ana.yaml"
    scenario.write_text(world.scenario(), encoding="utf-8")
    running = await start_demo(port=0, secret=SECRET, scenario=str(scenario))
    try:
        yield running
    finally:
        await running.stop()


async def test_the_channel_shows_the_answer_filling_in_in_place(demo: DemoServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{demo.url}/emulator/api/slack/command",
                             json={"user": DEMO_ADMIN_ID, "text": "/syncstatus all"}) as response:
            assert (await response.json())["status"] == "ok"
        seen: list[dict[str, Any]] = []  # every new look of the bot's answer, in order
        deadline = time.monotonic() + 60
        while not seen or "Retest" not in json.dumps(seen[-1]["blocks"]):
            assert time.monotonic() < deadline, seen
            async with http.get(f"{demo.url}/emulator/api/slack?user={DEMO_ADMIN_ID}") as response:
                state = await response.json()
            answer = state["messages"][-1]
            if answer["author"]["kind"] == "bot" and (not seen or seen[-1] != answer):
                seen.append(answer)
            await asyncio.sleep(0.05)

    assert seen[0]["text"] == "Checking 2 connections…"
    progress = [m for m in seen if m["text"].startswith("Checked ")]
    assert progress, [m["text"] for m in seen]
    rows = json.dumps(progress[0]["blocks"], ensure_ascii=False)
    assert "ben-hubspot-microsoft: Everything checked out." in rows and "ana-salesforce-google: Checking…" in rows
    final = json.dumps(seen[-1]["blocks"], ensure_ascii=False)
    assert "Checking…" not in final and "ana-salesforce-google" in final and "ben-hubspot-microsoft" in final
    assert len({m["id"] for m in seen}) == 1  # one message in the channel, changed in place
