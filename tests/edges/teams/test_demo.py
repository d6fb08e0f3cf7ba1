"""The `demo` scenario through Teams: the provider simulator, the real checks, the fake Connector, over HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from adapters.sandbox.bot_connector import (
    DEMO_TENANT,
    BotConnector,
    conversation_update,
    deliver,
    invoke,
    message,
)
from adapters.sandbox.scenario import load_scenario
from adapters.sandbox.simulator import start_simulator
from adapters.teams import mount
from adapters.teams.settings import TeamsSettings
from adapters.wiring import Config, build
from chatops.cards import text_card
from chatops.imports import read_connections
from chatops.model import Workspace
from tests.edges.teams.test_invokes import actions
from tests.edges.teams.test_messages import card_of, texts

WORKSPACE = f"teams:{DEMO_TENANT}"


async def test_syncstatus_all_retest_and_a_digest_on_the_demo_scenario(connector: BotConnector,
                                                                       tmp_path: Path) -> None:
    scenario = load_scenario("demo")
    async with await start_simulator(scenario) as simulator:
        services = build(Config.load({**simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
                                      "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
                                      "CHATOPS_ENCRYPTION_KEYS": ""}))
        records = read_connections(scenario.path, WORKSPACE, substitutions={"simulator": simulator.base_url})
        await asyncio.to_thread(services.store.ensure_workspace, Workspace(WORKSPACE, "Acme Corp", "teams", DEMO_TENANT))
        stored = await asyncio.to_thread(services.store.import_connections, WORKSPACE, records)
        connector.add_member("29:admin", name="Demo Admin", email="admin@demo.example", aad_object_id="aad-admin")
        app = web.Application()
        teams = mount(app, services, TeamsSettings.load({"CHATOPS_TEAMS_DEMO": "1",
                                                         "CHATOPS_TEAMS_ADMIN_EMAILS": "admin@demo.example"}))
        assert teams is not None
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/messages"
        try:
            # syncstatus all, as the admin, in a personal chat
            status, _ = await deliver(url, message(connector, "syncstatus all", user_id="29:admin"))
            assert status == 200
            await connector.wait_for(lambda c: any((r.body or {}).get("attachments") for r in c.sent()
                                                   if r.operation in ("reply", "update")), timeout_s=30)
            overview = [r for r in connector.sent() if (r.body or {}).get("attachments")][-1]
            card = card_of(overview.body)
            assert f"{len(stored)} connections" in card["body"][0]["text"]
            holder = overview.activity_id if overview.operation == "update" else next(
                key[1] for key, body in connector.messages.items() if body is overview.body)

            # Retest the first connection on the card
            retest = next(a for t, a in actions(card).items() if t == "Retest")
            status, answer = await deliver(url, invoke(connector, retest["data"], verb=retest["verb"],
                                                       reply_to_id=holder, user_id="29:admin"))
            assert status == 200
            assert answer["type"] in ("application/vnd.microsoft.card.adaptive",
                                      "application/vnd.microsoft.activity.message")
            if answer["type"] == "application/vnd.microsoft.card.adaptive":
                assert any("Sync status:" in t for t in texts(answer["value"]))

            # installed in a channel, then a digest posted there proactively
            await deliver(url, conversation_update(connector, conversation_id="19:sales@thread.tacv2",
                                                   team_id="19:team@thread.tacv2"))
            [channel] = await asyncio.to_thread(teams.conversations.list, WORKSPACE, kind="channel")
            await teams.sink.post(channel.reference, text_card("Weekly sync audit", ["Demo digest."]))
            [digest] = [r for r in connector.sent("send") if r.conversation_id == "19:sales@thread.tacv2"]
            assert card_of(digest.body)["body"][0]["text"] == "Weekly sync audit"
        finally:
            await runner.cleanup()
            await services.close()
