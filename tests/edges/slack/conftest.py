"""A running `chatops serve` with Slack mounted, a local fake of Slack, and two installed teams with connections."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.sandbox.slack_api import Call, FakeSlack, Message

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented dummy signing secret
ACME, OTHER, STRANGER = "T0ACME", "T0OTHER", "T0STRANGER"
CONNECTIONS = """
- name: ana-salesforce-gmail
  crm: salesforce
  crm_user_email: ana@acme.example
  mailbox_provider: google
  mailbox_email: ana@acme.example
  grants:
    - {role: mail, provider: google, account: ana@acme.example, refresh_token: 1//ana-refresh}
- name: ben-hubspot-outlook
  crm: hubspot
  crm_user_email: ben@acme.example
  mailbox_provider: microsoft
  mailbox_email: ben@acme.example
  grants:
    - {role: mail, provider: microsoft, account: ben@acme.example, refresh_token: ben-refresh}
"""
OTHER_CONNECTIONS = """
- name: zoe-salesforce-gmail
  crm: salesforce
  crm_user_email: zoe@other.example
  mailbox_provider: google
  mailbox_email: zoe@other.example
  grants:
    - {role: mail, provider: google, account: zoe@other.example, refresh_token: 1//zoe-refresh}
"""


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def silent_listener() -> AsyncIterator[int]:
    """Accepts connections and never answers: a provider that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await asyncio.sleep(3600)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()


def provider_env(port: int) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    return {name: url for name in ("CHATOPS_GOOGLE_OAUTH_URL", "CHATOPS_GOOGLE_AUTH_URL", "CHATOPS_GOOGLE_API_URL",
                                   "CHATOPS_MICROSOFT_LOGIN_URL", "CHATOPS_MICROSOFT_GRAPH_URL",
                                   "CHATOPS_SALESFORCE_URL", "CHATOPS_HUBSPOT_URL", "CHATOPS_DYNAMICS_URL")}


@dataclass
class Bot:
    """The running server and the fake Slack around it."""

    url: str
    fake: FakeSlack
    services: Any
    http: aiohttp.ClientSession
    installs: Any
    ack_seconds: list[float] = field(default_factory=list)

    async def post(self, body: bytes, *, content_type: str = "application/x-www-form-urlencoded",
                   timestamp: int | None = None, headers: dict[str, str] | None = None,
                   secret: str = SECRET) -> tuple[int, str]:
        status, text, seconds = await self.fake.send(self.http, f"{self.url}/slack/events", body, secret,
                                                     content_type=content_type, timestamp=timestamp, headers=headers)
        self.ack_seconds.append(seconds)
        return status, text

    async def command(self, team: str, user: str, text: str = "") -> tuple[int, dict[str, Any] | str]:
        status, body = await self.post(self.fake.command_body(team, user, text))
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    async def click(self, team: str, user: str, message: Message, action_id_prefix: str, *, nth: int = 0,
                    view: dict[str, Any] | None = None) -> tuple[int, str]:
        """Click the nth button whose action_id starts with `action_id_prefix` in a message (or a view)."""
        blocks = view["blocks"] if view is not None else message.blocks
        found = [(b.get("block_id", ""), e) for b in blocks if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"].startswith(action_id_prefix)]
        block_id, element = found[nth]
        return await self.post(self.fake.action_body(team, user, None if view is not None else message, element,
                                                      block_id=block_id, view=view))

    async def event(self, team: str, event: dict[str, Any], *, event_id: str = "",
                    headers: dict[str, str] | None = None) -> tuple[int, str]:
        return await self.post(self.fake.event_body(team, event, event_id), content_type="application/json",
                               headers=headers)

    def delivered(self) -> list[Call]:
        """The answers posted to response_urls: lines and cards, not the updates of a card filling in."""
        return [c for c in self.fake.called("response_url") if not is_progress(c)]

    async def responses(self, count: int, timeout: float = 15.0) -> list[Call]:
        """Once `count` answers were delivered (progress updates of a diagnosis don't count), all of them."""
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.delivered())} of {count} response_url answers came")
            await asyncio.sleep(0.02)
        return self.delivered()


PROGRESS = re.compile(r"Checked \d+ of \d+ connections…")


def is_progress(call: Call) -> bool:
    """A progress update of a diagnosis of several connections (chatops.progress), not an answer."""
    return PROGRESS.fullmatch(str(call.params.get("text", ""))) is not None


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    acme = slack.add_team(ACME, "Acme")
    other = slack.add_team(OTHER, "Other Corp")
    slack.add_user(ACME, "U0ADMIN", "admin@acme.example", "Ada Admin", is_admin=True)
    slack.add_user(ACME, "U0ANA", "ana@acme.example", "Ana Ruiz")
    slack.add_user(ACME, "U0BEN", "ben@acme.example", "Ben Okafor")
    slack.add_user(ACME, "U0NOBODY", "nobody@acme.example", "No Connections")
    slack.add_user(OTHER, "U0ZOE", "zoe@other.example", "Zoe Owner", is_owner=True)
    slack.add_user(STRANGER, "U0EVE", "eve@stranger.example", "Eve")
    assert acme.bot_token != other.bot_token
    try:
        yield slack
    finally:
        await slack.stop()


StartBot = Callable[..., Any]


@pytest.fixture
async def start_bot(fake: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StartBot]:
    """start_bot(mode="oauth"|"single", provider_port=..., env=...) -> Bot: `chatops serve` on 127.0.0.1."""
    from slack_sdk.oauth.installation_store import Bot as SlackBot

    from adapters.slack import SLACK
    from adapters.slack.installation_store import from_slack
    from adapters.web import build_app
    from adapters.wiring import Config, build
    from chatops.imports import parse_connections
    from chatops.model import Workspace
    from chatops.store.crypto import GrantCipher

    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []
    key = GrantCipher.generate_key()

    async def start(mode: str = "oauth", provider_port: int | None = None, env: dict[str, str] | None = None,
                    install: tuple[str, ...] | None = None, socket: bool = False,
                    seed: dict[str, str] | None = None, providers: dict[str, str] | None = None) -> Bot:
        seed = seed if seed is not None else {ACME: CONNECTIONS, OTHER: OTHER_CONNECTIONS}
        install = install if install is not None else tuple(seed)
        for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_APP_TOKEN",
                     "SLACK_ADMIN_USERS", "SLACK_SIGNING_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("CHATOPS_SLACK_API_URL", fake.api_url)
        monkeypatch.setenv("CHATOPS_SLACK_AUTHORIZE_URL", f"{fake.base_url}/oauth/v2/authorize")
        if mode == "oauth":
            monkeypatch.setenv("SLACK_CLIENT_ID", "1111.2222")
            monkeypatch.setenv("SLACK_CLIENT_SECRET", "client-secret-for-tests")
        else:
            monkeypatch.setenv("SLACK_BOT_TOKEN", fake.teams[ACME].bot_token)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        overrides = {"CHATOPS_DATA_DIR": str(tmp_path), "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
                     "CHATOPS_ENCRYPTION_KEYS": key, "CHATOPS_PUBLIC_URL": "http://127.0.0.1:1",
                     "CHATOPS_CHECK_TIMEOUT_S": "1", "CHATOPS_DEADLINE_S": "3",
                     **(providers or provider_env(provider_port or closed_port()))}
        services = build(Config.load(overrides))
        if socket:
            from adapters.slack import SOCKET_MODE

            services.extras[SOCKET_MODE] = True
        app = build_app(services)
        slack = app[SLACK]
        store = services.store
        for team, text in seed.items():
            workspace = f"slack:{team}"
            await asyncio.to_thread(store.ensure_workspace, Workspace(workspace, team, "slack", team))
            if not await asyncio.to_thread(store.list_connections, workspace):  # a second replica shares the DB
                await asyncio.to_thread(store.import_connections, workspace, parse_connections(text, workspace))
            if mode == "oauth" and team in install:
                t = fake.teams[team]
                await slack.installs.save(from_slack(SlackBot(
                    team_id=team, team_name=t.name, bot_token=t.bot_token, bot_id=t.bot_id,
                    bot_user_id=t.bot_user_id, bot_scopes=list(t.scopes), installed_at=0.0)))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Bot(f"http://127.0.0.1:{port}", fake, services, http, slack.installs)

    try:
        yield start
    finally:
        for http in sessions:
            await http.close()
        for runner in runners:
            await runner.cleanup()
