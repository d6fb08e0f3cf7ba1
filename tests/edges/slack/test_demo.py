"""End to end on the `demo` scenario: the provider simulator, `chatops serve`, and the fake Slack as team T0DEMO."""

from __future__ import annotations

import json

import pytest

from adapters.sandbox.slack_api import FakeSlack
from tests.edges.slack.conftest import Bot, StartBot

simulator = pytest.importorskip("adapters.sandbox.simulator")
DEMO = "T0DEMO"


def shown(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


async def test_the_demo_organisation_works_end_to_end_in_slack(start_bot: StartBot, fake: FakeSlack) -> None:
    running = await simulator.start_simulator("demo")
    try:
        fake.add_team(DEMO, running.scenario.organisation.name)
        ids = {}
        for n, member in enumerate(running.scenario.chat_members()):
            ids[member.email] = "U0DEMOADMIN" if member.admin else f"U0DEMO{n:02d}"
            fake.add_user(DEMO, ids[member.email], member.email, member.name, is_admin=member.admin)
        records = json.dumps({"connections": running.connection_records()})
        bot: Bot = await start_bot(seed={DEMO: records}, providers=running.settings_env())
        total = len(running.scenario.connections)

        # /syncstatus all, by the demo admin: an overview of every connection, worst first, paged
        status, ack = await bot.command(DEMO, "U0DEMOADMIN", "all")
        assert status == 200 and ack == {"text": f"Checking {total} connections…", "response_type": "ephemeral"}
        [overview] = await bot.responses(1, timeout=60)
        blocks = overview.params["blocks"]
        assert len(blocks) <= 50
        assert f"Sync status: {total} connections" in shown(blocks)
        assert "credentials" in shown(blocks) and "Page 1 of" in shown(blocks)

        # /syncstatus by one member: her own card, with the revoked grant and the fix
        owner = running.scenario.connections[0].owner_email
        await bot.command(DEMO, ids[owner])
        [mine] = (await bot.responses(2, timeout=60))[1:]
        card = bot.fake.response_urls[mine.url].message
        assert card is not None
        assert ":x:" in shown(card.blocks) and "Retest" in shown(card.blocks)

        # Retest: "Rechecking…" first, then the fresh card in place
        await bot.click(DEMO, ids[owner], card, "chatops:retest")
        rechecking, again = (await bot.responses(4, timeout=60))[2:]
        assert "Rechecking" in shown(rechecking.params["blocks"])
        assert again.params["replace_original"] is True and bot.fake.response_urls[again.url].message is card

        # Details: a modal with every finding
        await bot.click(DEMO, ids[owner], card, "chatops:details")
        [opened] = await fake.wait_for("views.open")
        assert "[credentials]" in shown(opened.params["view"]["blocks"])

        # App Home: workspace health and her connections
        await bot.event(DEMO, {"type": "app_home_opened", "user": ids[owner], "tab": "home", "event_ts": "1.2"})
        [home] = await fake.wait_for("views.publish")
        assert "Workspace health" in shown(home.params["view"]["blocks"])
        assert running.scenario.connections[0].name in shown(home.params["view"]["blocks"])
    finally:
        await running.stop()
