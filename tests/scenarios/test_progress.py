"""A diagnosis of several connections fills its card in, in Slack and in Teams, over real sockets.

The provider simulator plays Google, Microsoft and the CRMs: Ben's providers answer at once, every answer to
Ana's is slow. The bot runs whole (`chatops serve`'s web app, real checks and provider clients); FakeSlack and
the fake Bot Connector record what reaches chat.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.sandbox.bot_connector import DEMO_TENANT, BotConnector, deliver, message
from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from adapters.sandbox.slack_api import Call, FakeSlack
from adapters.slack.sink import RESPONSE_URL_USES
from adapters.web import build_app
from adapters.wiring import Config, Services, build
from chatops.model import Workspace
from chatops.store.crypto import GrantCipher
from tests.fakes.world import World

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented dummy signing secret
TEAM = "T0ACME"
SLACK_WS = Workspace(f"slack:{TEAM}", "Acme", "slack", TEAM)
TEAMS_WS = Workspace(f"teams:{DEMO_TENANT}", "Acme", "teams", DEMO_TENANT)
SLOW_S = 0.8  # every answer to Ana's connection: her checks make several calls, so seconds in all
ADMIN, ANA = "U0ADMIN", "U0ANA"
TEAMS_ADMIN = "29:admin"


@dataclass
class Chat:
    simulator: RunningSimulator
    services: Services
    url: str
    slack: FakeSlack
    connector: BotConnector
    http: aiohttp.ClientSession

    async def command(self, user: str, text: str = "") -> dict[str, Any]:
        status, body, _ = await self.slack.send(self.http, f"{self.url}/slack/events",
                                                self.slack.command_body(TEAM, user, text), SECRET)
        assert status == 200, body
        return json.loads(body)

    async def settled(self, timeout: float = 60) -> list[Call]:
        """Every response_url post, once the final card (not a "Checked n of m" update) is in and a moment passed."""
        deadline = time.monotonic() + timeout
        while not any(not c.params.get("text", "").startswith("Checked ") for c in self.slack.called("response_url")):
            assert time.monotonic() < deadline, "the final card never came"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # anything after the final card would land now
        return self.slack.called("response_url")


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    world = World()
    world.person("ana", mail="google", faults=[{"slow": SLOW_S}])
    world.person("ben", crm="hubspot", mail="microsoft")
    async with running(world, tmp_path) as chat:
        yield chat


@asynccontextmanager
async def running(world: World, tmp_path: Path) -> AsyncIterator[Chat]:
    simulator = await start_simulator(parse_scenario(world.scenario(), source="world"))
    slack = await FakeSlack().start()
    connector = await BotConnector().start()
    team = slack.add_team(TEAM, "Acme")
    slack.add_user(TEAM, ADMIN, "admin@acme.example", "Ada Admin", is_admin=True)
    slack.add_user(TEAM, ANA, "ana@acme.example", "Ana Ruiz")
    connector.add_member(TEAMS_ADMIN, name="Ada Admin", email="admin@acme.example", aad_object_id="aad-admin")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    services = build(Config.load({
        **simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
        "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'progress.db'}",
        "CHATOPS_ENCRYPTION_KEYS": GrantCipher.generate_key(), "CHATOPS_PUBLIC_URL": url,
        "CHATOPS_CHECK_TIMEOUT_S": "10", "CHATOPS_DEADLINE_S": "20",
        "SLACK_BOT_TOKEN": team.bot_token, "SLACK_SIGNING_SECRET": SECRET, "CHATOPS_SLACK_API_URL": slack.api_url,
        "CHATOPS_TEAMS_DEMO": "1", "CHATOPS_TEAMS_ADMIN_EMAILS": "admin@acme.example",
        "CHATOPS_TEAMS_REPLY_BUDGET_S": "0.3"}))
    for workspace in (SLACK_WS, TEAMS_WS):
        await asyncio.to_thread(install, services.store, simulator, workspace)
    runner = web.AppRunner(build_app(services), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    http = aiohttp.ClientSession()
    try:
        yield Chat(simulator, services, url, slack, connector, http)
    finally:
        await http.close()
        await runner.cleanup()
        await connector.stop()
        await slack.stop()
        await simulator.stop()


def shown(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


async def test_slack_fills_the_card_in_as_connections_finish_and_the_final_card_replaces_it(chat: Chat) -> None:
    ack = await chat.command(ADMIN, "all")
    assert ack["text"] == "Checking 2 connections…"

    calls = await chat.settled()

    *progress, final = calls
    assert progress, "no intermediate update: Ana's slow providers should have left time for one"
    first = progress[0].params
    assert first["replace_original"] is True and first["text"] == "Checked 1 of 2 connections…"
    rows = [b["text"]["text"] for b in first["blocks"] if b["type"] == "section"]
    assert ":white_check_mark: ben-hubspot-microsoft: Everything checked out." in rows
    assert "ana-salesforce-google: Checking…" in rows  # neutral: no status yet
    assert buttons(first["blocks"]) == []
    assert final.params["replace_original"] is True and "Checking…" not in shown(final.params["blocks"])
    assert "ana-salesforce-google" in shown(final.params["blocks"])
    assert "ben-hubspot-microsoft" in shown(final.params["blocks"])
    assert "Retest" in buttons(final.params["blocks"])
    hook = chat.slack.response_urls[final.url]
    assert {c.url for c in calls} == {final.url}  # one response_url, one message replaced in place
    assert len(calls) <= RESPONSE_URL_USES and hook.uses == len(calls)
    assert hook.message is not None and hook.message.blocks == final.params["blocks"]
    assert chat.slack.called("chat.postMessage") == []


async def test_slack_one_slow_connection_gets_exactly_one_card(chat: Chat) -> None:
    ack = await chat.command(ANA)
    assert ack["text"] == "Checking 1 connection…"

    [card] = await chat.settled()

    assert "ana-salesforce-google" in shown(card.params["blocks"]) and "Retest" in buttons(card.params["blocks"])


async def test_slack_progress_stops_at_the_response_url_budget_and_the_final_card_still_lands(
        tmp_path: Path) -> None:
    world = World()
    # six connections finishing about a second apart: more changes than a response_url has uses for
    for n, delay in enumerate((0.0, 0.3, 0.6, 0.9, 1.2, 1.5)):
        world.person(f"rep{n}", faults=[{"slow": delay}] if delay else [])
    async with running(world, tmp_path) as chat:
        await chat.command(ADMIN, "all")

        calls = await chat.settled()

    *progress, final = calls
    assert len(progress) == RESPONSE_URL_USES - 1 and len(calls) == RESPONSE_URL_USES
    assert chat.slack.response_urls[final.url].uses == RESPONSE_URL_USES
    checked = [int(c.params["text"].split()[1]) for c in progress]
    assert all(a < b for a, b in zip(checked, checked[1:], strict=False)) and checked[-1] < 6, checked  # news only
    assert all(f"rep{n}-salesforce-google" in shown(final.params["blocks"]) for n in range(6))
    assert "Checking…" not in shown(final.params["blocks"]) and "Retest" in buttons(final.params["blocks"])
    assert chat.slack.called("chat.postMessage") == []  # the budget kept a use for the card


# ---------------------------------------------------------------- Teams: the same through update_activity


def adaptive(body: dict[str, Any]) -> dict[str, Any]:
    [attachment] = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return dict(attachment["content"])


def texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "TextBlock" else []
        return own + [t for value in node.values() for t in texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in texts(item)]
    return []


def is_final(body: dict[str, Any]) -> bool:
    return bool(body.get("attachments")) and not str(body.get("summary", "")).startswith("Checked ")


async def test_teams_fills_the_checking_message_in_and_the_final_card_replaces_it(chat: Chat) -> None:
    connector = chat.connector
    status, _ = await deliver(f"{chat.url}/api/messages", message(connector, "syncstatus all", user_id=TEAMS_ADMIN,
                                                                   aad_object_id="aad-admin"))
    assert status == 200

    await connector.wait_for(lambda c: any(is_final(r.body) for r in c.sent("update")), timeout_s=60)
    await asyncio.sleep(0.5)  # anything after the final card would land now

    [placeholder] = connector.sent("reply")
    assert placeholder.body["text"] == "Checking 2 connections…"
    updates = connector.sent("update")
    *progress, final = updates
    assert progress, "no intermediate update: Ana's slow providers should have left time for one"
    assert {u.activity_id for u in updates} == {placeholder_id(connector)}  # one message, updated in place
    first = texts(adaptive(progress[0].body))
    assert any("ben-hubspot-microsoft: Everything checked out." in t for t in first)
    assert "ana-salesforce-google: Checking…" in first
    assert progress[0].body["summary"] == "Checked 1 of 2 connections…"
    assert "Action.Execute" not in json.dumps(adaptive(progress[0].body))  # no Retest on a card about to change
    assert "Action.Execute" in json.dumps(adaptive(final.body))
    shown_final = texts(adaptive(final.body))
    assert not any("Checking…" in t for t in shown_final)
    assert any("ana-salesforce-google" in t for t in shown_final) and any("ben-hubspot-microsoft" in t for t in shown_final)
    assert all(b.at - a.at >= 0.9 for a, b in zip(progress, progress[1:], strict=False))  # throttled
    [(_, shown_now)] = [(k, v) for k, v in connector.messages.items() if k[1] == final.activity_id]
    assert shown_now == final.body


def placeholder_id(connector: BotConnector) -> str:
    [(_, activity_id)] = [key for key, body in connector.messages.items() if body is not None]
    return activity_id
