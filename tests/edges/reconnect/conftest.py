"""Reconnect over real sockets: `chatops serve` on 127.0.0.1, the provider simulator, and a browser with cookies.

The rig serves a small scenario (one person per provider, each with a broken grant) in workspace slack:T0ACME,
plus a stranger's connection in another workspace. `Browser` plays the person: it opens the start link,
follows the redirect to the simulator's consent page, answers it, and lands on our callback.
"""

from __future__ import annotations

import asyncio
import html
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiohttp import web
from sqlalchemy import select

from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from adapters.web import build_app
from adapters.wiring import Config, Services, build
from chatops.chat import ChatUser
from chatops.model import Connection, Grant, GrantRole, Workspace
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from chatops.store.tables import GrantRow
from tests.fakes.world import World, email

WORKSPACE = Workspace("slack:T0ACME", "Acme", "slack", "T0ACME")
OTHER = Workspace("slack:T0OTHER", "Other Corp", "slack", "T0OTHER")
# chat user ids of the people below (members of WORKSPACE), and an admin
USERS = {"ana": "U0ANA", "ben": "U0BEN", "sam": "U0SAM", "hana": "U0HANA", "dora": "U0DORA", "kim": "U0KIM",
         "nobody": "U0NOBODY"}
ADMIN = "U0ADMIN"


def world() -> World:
    w = World()
    w.person("ana", crm="salesforce", mail="google", calendar="google",
             faults=[{"revoked": True, "provider": "google"}])
    w.person("ben", crm="dynamics", mail="microsoft", faults=[{"aadsts": 700082, "provider": "microsoft"}])
    w.person("sam", crm="salesforce", mail="google", faults=[{"revoked": True, "provider": "salesforce"}])
    w.person("hana", crm="hubspot", mail="google", faults=[{"revoked": True, "provider": "hubspot"}])
    w.person("dora", crm="dynamics", mail="microsoft", faults=[{"revoked": True, "provider": "dynamics"}])
    # the CRM keeps Kim's mailbox tokens (below), and its own connection needs attention
    w.person("kim", crm="salesforce", mail="google",
             eac_status={"status": "NEEDSATTENTION", "description": "Reconnect your email in Settings."})
    w.person("zed", crm="salesforce", mail="google", faults=[{"revoked": True, "provider": "google"}])
    w.person("nobody", crm="salesforce", mail="google")
    return w


def bound_socket() -> socket.socket:
    """A listening socket on a free port, handed to the server: its URL is known before the app is built."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@dataclass
class Browser:
    """A person's browser: a cookie jar, no automatic redirects (each hop is checked)."""

    client: httpx.AsyncClient
    pages: list[httpx.Response] = field(default_factory=list)

    async def get(self, url: str) -> httpx.Response:
        response = await self.client.get(url)
        self.pages.append(response)
        return response

    async def start(self, link: str) -> str:
        """Open a start link; the consent page URL it redirects to."""
        response = await self.get(link)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response.headers["location"]

    async def answer(self, authorize_url: str, *, decision: str = "allow", account: str = "") -> str:
        """Show the consent page, then answer it; the callback URL the provider sends the browser to."""
        page = await self.get(authorize_url)
        assert page.status_code == 200, page.text[:500]
        fields = {html.unescape(k): html.unescape(v)
                  for k, v in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page.text)}
        fields["decision"] = decision
        if account:
            fields["email"] = account
        answered = await self.client.post(authorize_url.split("?", 1)[0], data=fields)
        assert answered.status_code == 302, answered.text[:500]
        return answered.headers["location"]

    async def reconnect(self, link: str, *, decision: str = "allow", account: str = "") -> httpx.Response:
        """The whole way: start link, consent page, answer, our callback; the landing page."""
        callback = await self.answer(await self.start(link), decision=decision, account=account)
        return await self.get(callback)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def text_of(page: httpx.Response) -> str:
    """The visible text of a landing page, tags removed."""
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page.text, flags=re.S)))


@dataclass
class Rig:
    simulator: RunningSimulator
    services: Services
    url: str
    connections: dict[str, Connection]
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return self.services.store

    def browser(self) -> Browser:
        client = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        self.browsers.append(client)
        return Browser(client)

    def link(self, local: str, role: GrantRole = GrantRole.MAIL, *, user: str = "", admin: bool = False,
             workspace: Workspace = WORKSPACE) -> str:
        """The start link a card made for `user` (the connection's owner by default) would carry."""
        connection = self.connections[local]
        viewer = ChatUser("slack", user or USERS.get(local, ""), email=email(local), is_admin=admin)
        made = self.services.core.link
        assert made is not None
        return made(connection, f"{connection.id}:{role.value}", viewer)

    def grant(self, local: str, role: GrantRole = GrantRole.MAIL, workspace: Workspace = WORKSPACE) -> Grant:
        found = self.store.get_connection(workspace.id, self.connections[local].id).grant(role)
        assert found is not None
        return found

    def raw(self, local: str, role: GrantRole = GrantRole.MAIL, workspace: Workspace = WORKSPACE) -> dict[str, Any]:
        """The grant's row as stored: ciphertexts, key id, scopes."""
        table = GrantRow.__table__  # type: ignore[attr-defined]
        with self.store.engine.connect() as db:
            row = db.execute(select(table).where(
                table.c.workspace_id == workspace.id, table.c.connection_id == self.connections[local].id,
                table.c.role == role.value)).mappings().one()
        return dict(row)


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    """make_rig(env=..., store=..., clock=...) -> Rig: the scenario served, imported, and `chatops serve` up."""
    started: list[tuple[RunningSimulator, web.AppRunner, Rig]] = []

    async def make(env: dict[str, str] | None = None, store: Store | None = None, clock: Any = None) -> Rig:
        simulator = await start_simulator(parse_scenario(world().scenario(), source="world"))
        sock = bound_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        overrides = {**simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
                     "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'reconnect.db'}",
                     "CHATOPS_ENCRYPTION_KEYS": GrantCipher.generate_key(), "CHATOPS_PUBLIC_URL": url,
                     "CHATOPS_CHECK_TIMEOUT_S": "5", "CHATOPS_DEADLINE_S": "20", **(env or {})}
        services = build(Config.load(overrides), store=store, clock=clock)
        stored = await asyncio.to_thread(install, services.store, simulator, WORKSPACE)
        by_local = {c.owner_email.split("@")[0]: c for c in stored}
        zed = by_local.pop("zed")
        await asyncio.to_thread(_move_to_other_workspace, services.store, zed)
        by_local["zed"] = await asyncio.to_thread(services.store.get_connection, OTHER.id, zed.name)
        await asyncio.to_thread(_members, services.store)
        await asyncio.to_thread(_crm_keeps_kims_mailbox, services.store, by_local["kim"])
        app = build_app(services)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        rig = Rig(simulator, services, url, by_local)
        started.append((simulator, runner, rig))
        return rig

    yield make
    for simulator, runner, rig in started:
        for client in rig.browsers:
            await client.aclose()
        await runner.cleanup()
        await simulator.stop()


@pytest.fixture
async def rig(make_rig: MakeRig) -> Rig:
    return await make_rig()


def _members(store: Store) -> None:
    for local, user_id in USERS.items():
        store.upsert_member(WORKSPACE.id, user_id, email(local), name=local.title())
    store.upsert_member(WORKSPACE.id, ADMIN, "admin@acme.example", name="Ada Admin", is_admin=True)


def _move_to_other_workspace(store: Store, connection: Connection) -> None:
    """Zed's connection lives in another chat workspace (same ids, different tenant)."""
    from dataclasses import replace

    store.ensure_workspace(OTHER)
    store.remove_connection(WORKSPACE.id, connection.id)
    store.add_connection(OTHER.id, replace(connection, workspace_id="", grants=tuple(
        replace(g, id="") for g in connection.grants)))
    store.upsert_member(OTHER.id, "U0ZED", email("zed"), name="Zed")


def _crm_keeps_kims_mailbox(store: Store, connection: Connection) -> None:
    """Kim's mail grant is held by the CRM itself (Einstein Activity Capture), not by chatops."""
    from sqlalchemy import update

    table = GrantRow.__table__  # type: ignore[attr-defined]
    with store.engine.begin() as db:
        db.execute(update(table).where(table.c.connection_id == connection.id, table.c.role == "mail")
                   .values(keeper="crm"))
