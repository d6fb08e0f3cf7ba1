"""Reconnect end to end on the `demo` scenario, in Slack and in Teams, against the local fakes over real sockets.

Ana's Google access was revoked (the demo's credentials case). She asks for her status in chat, gets a red
card, presses Reconnect, consents on the simulator's Google page as herself, and lands on our callback: her
grant is replaced (encrypted), the diagnosis runs again, and the very card she pressed turns green in place.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.sandbox.bot_connector import DEMO_TENANT, BotConnector, deliver, message
from adapters.sandbox.demo import install, member_ids
from adapters.sandbox.scenario import load_scenario
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from adapters.sandbox.slack_api import FakeSlack
from adapters.web import build_app
from adapters.wiring import Config, Services, build
from chatops.model import Workspace
from chatops.store.crypto import GrantCipher
from tests.edges.reconnect.conftest import Browser, text_of

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented dummy signing secret
TEAM = "T0DEMO"
SLACK_WS = Workspace(f"slack:{TEAM}", "Acme Corp", "slack", TEAM)
TEAMS_WS = Workspace(f"teams:{DEMO_TENANT}", "Acme Corp", "teams", DEMO_TENANT)
ANA = "ana@acme.example"


@dataclass
class Demo:
    simulator: RunningSimulator
    services: Services
    url: str
    fake: FakeSlack
    connector: BotConnector
    http: aiohttp.ClientSession

    def grant_row(self, workspace: Workspace) -> dict[str, Any]:
        from sqlalchemy import select

        from chatops.store.tables import GrantRow

        table = GrantRow.__table__  # type: ignore[attr-defined]
        with self.services.store.engine.connect() as db:
            return dict(db.execute(select(table).where(
                table.c.workspace_id == workspace.id, table.c.connection_id == "conn-ana",
                table.c.role == "mail")).mappings().one())

    def status(self, workspace: Workspace) -> set[str]:
        return {f.status.value for f in self.services.store.latest_findings(workspace.id, "conn-ana")}

    async def remembered(self, workspace: Workspace, link: str) -> None:
        """Until the card holding `link` is on record (Slack reports the click a moment after the browser opens)."""
        flow = self.services.core.reconnect
        assert flow is not None
        link_id = flow.links.open(flow.links.token_in(link)).link_id
        for _ in range(100):
            if await asyncio.to_thread(self.services.store.reconnect.messages, link_id, workspace.id):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the card with the Reconnect link was never remembered")


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    simulator = await start_simulator(load_scenario("demo"))
    fake = await FakeSlack().start()
    connector = await BotConnector().start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    team = fake.add_team(TEAM, "Acme Corp")
    ids = member_ids(simulator)
    for member in simulator.scenario.chat_members():
        fake.add_user(TEAM, ids[member.email], member.email, member.name, is_admin=member.admin)
    connector.add_member("29:ana", name="Ana Ruiz", email=ANA, aad_object_id="aad-ana")
    services = build(Config.load({
        **simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
        "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "CHATOPS_ENCRYPTION_KEYS": GrantCipher.generate_key(), "CHATOPS_PUBLIC_URL": url,
        "SLACK_BOT_TOKEN": team.bot_token, "SLACK_SIGNING_SECRET": SECRET, "CHATOPS_SLACK_API_URL": fake.api_url,
        "CHATOPS_TEAMS_DEMO": "1"}))
    for workspace in (SLACK_WS, TEAMS_WS):
        await asyncio.to_thread(install, services.store, simulator, workspace)
    runner = web.AppRunner(build_app(services), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    http = aiohttp.ClientSession()
    try:
        yield Demo(simulator, services, url, fake, connector, http)
    finally:
        await http.close()
        await runner.cleanup()
        await connector.stop()
        await fake.stop()
        await simulator.stop()


async def test_reconnect_turns_the_revoked_card_green_in_slack(demo: Demo) -> None:
    fake, ana = demo.fake, member_ids(demo.simulator)[ANA]
    before, teams_before = demo.grant_row(SLACK_WS), demo.grant_row(TEAMS_WS)

    # /syncstatus: Ana's card, red, with a Reconnect link bound to her
    await fake.send(demo.http, f"{demo.url}/slack/events", fake.command_body(TEAM, ana), SECRET)
    [delivered] = await fake.wait_for("response_url", 1, timeout=60)
    card = fake.response_urls[delivered.url].message
    assert card is not None and ":x:" in json.dumps(card.blocks)
    [(block_id, button)] = [(b["block_id"], e) for b in card.blocks if b["type"] == "actions"
                            for e in b["elements"] if e["action_id"].startswith("chatops:reconnect")]
    assert button["url"].startswith(f"{demo.url}/connect/") and button["text"]["text"] == "Reconnect Google"

    # the click: Slack opens the link in the browser and tells the bot which message it was on
    await fake.send(demo.http, f"{demo.url}/slack/events",
                    fake.action_body(TEAM, ana, card, button, block_id=block_id), SECRET)
    await demo.remembered(SLACK_WS, button["url"])
    landing = await _browse(button["url"])

    assert landing.status_code == 200, text_of(landing)
    assert "Google reconnected" in text_of(landing) and "The card in chat was updated." in text_of(landing)
    after = demo.grant_row(SLACK_WS)
    assert after["access_token_enc"] != before["access_token_enc"]
    assert after["refresh_token_enc"] != before["refresh_token_enc"] and not after["needs_reconnect"]
    assert "1//sim-ana-google" not in after["refresh_token_enc"]
    assert demo.status(SLACK_WS) == {"ok"}  # the diagnosis ran again: red to green
    [update] = fake.called("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (card.channel, card.ts)
    assert fake.messages[(card.channel, card.ts)].blocks == update.params["blocks"]
    shown = json.dumps(update.params["blocks"])
    assert "Healthy" in shown and ":x:" not in shown
    assert demo.grant_row(TEAMS_WS) == teams_before  # the same person's grant in another workspace: untouched


async def test_reconnect_from_app_home_republishes_the_home_tab_green(demo: Demo) -> None:
    fake, ana = demo.fake, member_ids(demo.simulator)[ANA]
    await fake.send(demo.http, f"{demo.url}/slack/events", fake.command_body(TEAM, ana), SECRET)
    await fake.wait_for("response_url", 1, timeout=60)  # her connection has (red) results now
    await fake.send(demo.http, f"{demo.url}/slack/events", fake.event_body(
        TEAM, {"type": "app_home_opened", "user": ana, "tab": "home", "event_ts": "1.2"}), SECRET,
        content_type="application/json")
    [published] = await fake.wait_for("views.publish", 1)
    home = published.params["view"]
    assert ":x:" in json.dumps(home["blocks"])
    [(block_id, button)] = [(b["block_id"], e) for b in home["blocks"] if b["type"] == "actions"
                            for e in b["elements"] if e["action_id"].startswith("chatops:reconnect")]

    # the click on the Home tab: no message to update, so the tab is what gets refreshed
    await fake.send(demo.http, f"{demo.url}/slack/events",
                    fake.action_body(TEAM, ana, None, button, block_id=block_id, view=fake.views[ana]), SECRET)
    await demo.remembered(SLACK_WS, button["url"])
    landing = await _browse(button["url"])

    assert landing.status_code == 200, text_of(landing)
    assert "Google reconnected" in text_of(landing) and "The card in chat was updated." in text_of(landing)
    assert demo.status(SLACK_WS) == {"ok"}
    calls = await fake.wait_for("views.publish", 2)
    assert calls[1].params["user_id"] == ana and fake.views[ana]["blocks"] == calls[1].params["view"]["blocks"]
    shown = json.dumps(calls[1].params["view"]["blocks"], ensure_ascii=False)
    assert "Healthy" in shown
    assert ":white_check_mark:" in shown and ":x:" not in shown
    assert fake.called("chat.update") == []


async def test_reconnect_turns_the_revoked_card_green_in_teams(demo: Demo) -> None:
    connector = demo.connector
    before = demo.grant_row(TEAMS_WS)

    # "syncstatus" in Ana's personal chat: her card, red, with an Action.OpenUrl Reconnect
    status, _ = await deliver(f"{demo.url}/api/messages", message(connector, "syncstatus", user_id="29:ana",
                                                                   aad_object_id="aad-ana"))
    assert status == 200
    await connector.wait_for(lambda c: any(_card(r.body) for r in c.sent() if r.operation in ("reply", "update")),
                             timeout_s=60)
    [(key, body)] = [(k, b) for k, b in connector.messages.items() if _card(b)]
    card = _card(body)
    reconnect = [a for a in _actions(card) if a["type"] == "Action.OpenUrl" and a["title"] == "Reconnect Google"]
    assert reconnect and reconnect[0]["url"].startswith(f"{demo.url}/connect/")
    assert "❌" in json.dumps(card, ensure_ascii=False)

    landing = await _browse(reconnect[0]["url"])

    assert landing.status_code == 200, text_of(landing)
    assert "Google reconnected" in text_of(landing) and "The card in chat was updated." in text_of(landing)
    after = demo.grant_row(TEAMS_WS)
    assert after["refresh_token_enc"] != before["refresh_token_enc"] and not after["needs_reconnect"]
    assert demo.status(TEAMS_WS) == {"ok"}
    [update] = [r for r in connector.sent("update") if r.activity_id == key[1]]
    updated = _card(connector.messages[key])
    assert updated == _card(update.body)
    shown = json.dumps(updated, ensure_ascii=False)
    assert "Healthy" in shown and "❌" not in shown


async def test_consent_by_another_account_in_slack_revokes_its_tokens_and_keeps_the_card_red(demo: Demo) -> None:
    import httpx

    fake, ana, lea = demo.fake, member_ids(demo.simulator)[ANA], "lea@acme.example"
    await fake.send(demo.http, f"{demo.url}/slack/events", fake.command_body(TEAM, ana), SECRET)
    [delivered] = await fake.wait_for("response_url", 1, timeout=60)
    before = demo.grant_row(SLACK_WS)
    assert before["needs_reconnect"]  # Google refused the grant for good: no run asks its token endpoint again
    card = fake.response_urls[delivered.url].message
    assert card is not None
    [button] = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]
                if e["action_id"].startswith("chatops:reconnect")]

    landing = await _browse(button["url"], account=lea)  # Lea's Google account, not Ana's mailbox

    assert landing.status_code == 403
    assert f"You signed in as {lea}, not {ANA}" in text_of(landing)
    assert f"The access {lea} gave was revoked at Google." in text_of(landing)
    assert demo.grant_row(SLACK_WS) == before and fake.called("chat.update") == []
    # Google (the simulator) was asked to revoke Lea's new tokens, and her refresh token works no more there
    [revoked] = demo.simulator.state.revocations
    assert (revoked.provider, revoked.user) == ("google", lea)
    client = demo.simulator.scenario.clients["google"]
    async with httpx.AsyncClient() as http:
        refresh = await http.post(f"{demo.simulator.base_url}/google-oauth/token", data={
            "grant_type": "refresh_token", "refresh_token": revoked.token, "client_id": client.client_id,
            "client_secret": client.client_secret})
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"


async def _browse(link: str, account: str = ANA) -> Any:
    import httpx

    async with httpx.AsyncClient(timeout=60.0, follow_redirects=False) as client:
        return await Browser(client).reconnect(link, account=account)


def _card(body: Any) -> dict[str, Any] | None:
    for attachment in (body or {}).get("attachments") or ():
        content = attachment.get("content") or {}
        if "Sync status" in json.dumps(content):
            return content
    return None


def _actions(card: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(card, dict):
        if card.get("type", "").startswith("Action."):
            found.append(card)
        for value in card.values():
            found.extend(_actions(value))
    elif isinstance(card, list):
        for item in card:
            found.extend(_actions(item))
    return found

