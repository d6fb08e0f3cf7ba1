"""The Teams edge over real sockets: /api/messages mounted on 127.0.0.1, a local Bot Connector, two tenants.

The core is real (store, commands, runner, cards); its checks are two test-local ones, so a card's content
and the diagnosis time are chosen by each test (a connection named broken-* fails, slow-* takes SLOW_S).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters.sandbox.bot_connector import DEMO_TENANT, BotConnector, deliver
from adapters.teams import mount
from adapters.teams.app import TeamsApp
from adapters.teams.settings import TeamsSettings
from adapters.wiring import Config, Services
from chatops.checks.base import CheckContext, CheckSpec, reconnect_action
from chatops.clock import SystemClock
from chatops.core import Chatops
from chatops.findings import Cause, Finding
from chatops.model import Connection, GrantRole, Provider, Workspace
from chatops.ports import Providers
from chatops.runner import Runner
from chatops.store import Store

TENANT = DEMO_TENANT
OTHER_TENANT = "11111111-1111-4111-8111-111111111111"
WORKSPACE = f"teams:{TENANT}"
OTHER_WORKSPACE = f"teams:{OTHER_TENANT}"
ANA, BOB, EVE = "29:ana", "29:bob", "29:eve"
SLOW_S = 1.5
NO_PROVIDERS = Providers(oauth={}, mail={}, calendar={}, crm={}, endpoints={})


class NoProbe:
    async def probe(self, endpoint, timeout_s):  # type: ignore[no-untyped-def]
        raise AssertionError("no check here probes the network")


async def sign_in(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    if c.name.startswith("broken"):
        return [ctx.fail(f"Gmail access for {c.mailbox_email} was revoked 2 days ago (password change).",
                         evidence=[("token endpoint", "400 invalid_grant: Token has been expired or revoked.")],
                         remedy=["Click Reconnect and sign in as " + c.mailbox_email + ".",
                                 "Run Retest to confirm sync works again."],
                         actions=[reconnect_action(c, GrantRole.MAIL, Provider.GOOGLE)])]
    return [ctx.ok(f"Google access for {c.mailbox_email} works.")]


async def slow(ctx: CheckContext) -> list[Finding]:
    if ctx.connection.name.startswith("slow"):
        await asyncio.sleep(SLOW_S)
    return [ctx.ok("The sync log is quiet.")]


CHECKS = {spec.name: spec for spec in (CheckSpec("credentials", Cause.CREDENTIALS, sign_in),
                                       CheckSpec("synclog", Cause.OTHER, slow, timeout_s=30))}


def link(connection: Connection, target: str, viewer: object = None) -> str:
    return f"https://chatops.example/reconnect/{target}?sig=test"


def connection(name: str, owner: str) -> Connection:
    return Connection(id="", workspace_id="", name=name, owner_email=owner, crm=Provider.SALESFORCE,
                      crm_user_email=owner, mailbox_provider=Provider.GOOGLE, mailbox_email=owner)


def seed(store: Store) -> dict[str, str]:
    """Two tenants' workspaces and connections; returns name -> id."""
    store.ensure_workspace(Workspace(WORKSPACE, "Acme", "teams", TENANT))
    store.ensure_workspace(Workspace(OTHER_WORKSPACE, "Other", "teams", OTHER_TENANT))
    ids = {}
    for name, owner in (("ana-gmail", "ana@acme.example"), ("broken-ana", "ana@acme.example"),
                        ("slow-ana", "ana@acme.example"), ("bob-salesforce", "bob@acme.example")):
        ids[name] = store.add_connection(WORKSPACE, connection(name, owner)).id
    ids["eve-gmail"] = store.add_connection(OTHER_WORKSPACE, connection("eve-gmail", "eve@other.example")).id
    return ids


@dataclass
class Bot:
    """A running server with Teams mounted, and the fake Connector its replies go to."""

    url: str
    teams: TeamsApp
    connector: BotConnector
    store: Store
    ids: dict[str, str]

    async def post(self, activity: Any, *, token: str = "") -> tuple[int, Any]:
        return await deliver(self.url, activity, token=token)


MakeBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def connector() -> AsyncIterator[BotConnector]:
    fake = await BotConnector().start()
    fake.add_member(ANA, name="Ana Ruiz", email="ana@acme.example", aad_object_id="aad-ana")
    fake.add_member(BOB, name="Bob Admin", email="bob@acme.example", aad_object_id="aad-bob")
    fake.add_member(EVE, name="Eve Other", email="eve@other.example", aad_object_id="aad-eve",
                    tenant_id=OTHER_TENANT)
    yield fake
    await fake.stop()


@pytest.fixture
async def make_bot(store: Store, connector: BotConnector, tmp_path: Path) -> AsyncIterator[MakeBot]:
    """Starts the server with TeamsSettings from `env` (demo by default) on 127.0.0.1."""
    runners: list[web.AppRunner] = []
    clients: list[httpx.AsyncClient] = []
    ids = await asyncio.to_thread(seed, store)

    async def start(env: dict[str, str] | None = None, *, deadline_s: float = 20.0) -> Bot:
        settings = TeamsSettings.load({"CHATOPS_TEAMS_DEMO": "1", "CHATOPS_TEAMS_ADMIN_EMAILS": "bob@acme.example",
                                       "CHATOPS_TEAMS_SEND_BACKOFF_S": "0.01", **(env or {})})
        runner = Runner(checks=CHECKS, providers=NO_PROVIDERS, probe=NoProbe(), clock=SystemClock(),
                        deadline_s=deadline_s)
        core = Chatops(store, runner, link=link)
        http = httpx.AsyncClient()
        clients.append(http)
        services = Services(Config.load({"CHATOPS_DATA_DIR": str(tmp_path)}), store, http, core)
        app = web.Application()
        teams = mount(app, services, settings)
        assert teams is not None
        web_runner = web.AppRunner(app, access_log=None)
        await web_runner.setup()
        site = web.TCPSite(web_runner, "127.0.0.1", 0)
        await site.start()
        runners.append(web_runner)
        port = web_runner.addresses[0][1]
        return Bot(f"http://127.0.0.1:{port}/api/messages", teams, connector, store, ids)

    yield start
    for web_runner in runners:
        await web_runner.cleanup()
    for http in clients:
        await http.aclose()


@pytest.fixture
async def bot(make_bot: MakeBot) -> Bot:
    return await make_bot()
