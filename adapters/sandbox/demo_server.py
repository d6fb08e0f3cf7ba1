"""`chatops demo`: the provider simulator, the bot server and the workspace emulator, started and stopped together.

One port serves the bot (the same aiohttp app as `chatops serve`) and the emulator's page at `/`. Beside it,
on free loopback ports, run the provider simulator with the `demo` scenario, the fake Slack Web API
(FakeSlack, which the bot calls as CHATOPS_SLACK_API_URL) and the fake Bot Connector (where the bot's Teams
replies go). The database is a fresh SQLite file in a temporary folder, holding the demo organisation as
Slack team T0DEMO and as the Teams demo tenant.

The scheduler runs here as in `chatops serve` (APScheduler, adapters/scheduler.py): #general is subscribed to
the weekly digest (Monday 09:00 UTC) and gets the alert sweep every 15 minutes. So that nobody waits a week,
`chatops demo` posts the first digest 20 seconds after start (`--first-digest`), and the page's "Send digest
now" posts one whenever asked; both go the way `chatops audit --post` does, through the same exactly-once delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import signal
import socket
import tempfile
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from adapters import scheduler as scheduling
from adapters.sandbox.bot_connector import DEMO_TENANT, BotConnector
from adapters.sandbox.demo import DEMO_ADMIN_ID, install_async, member_ids
from adapters.sandbox.emulator import CHANNEL_ID, CHANNEL_NAME, Emulator, Member
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from adapters.sandbox.slack_api import FakeSlack
from adapters.slack.settings import SlackSettings
from adapters.wiring import Config, Services, build
from chatops.audits.schedule import Schedule
from chatops.chat import ChatUser
from chatops.commands.subscriptions import save_subscription
from chatops.errors import ChatopsError, ConfigError
from chatops.model import Workspace

log = logging.getLogger(__name__)

DEMO_TEAM: Final = "T0DEMO"
DEFAULT_PORT: Final = 3000
SHUTDOWN_S: Final = 3.0
FIRST_DIGEST_S: Final = 20.0  # `chatops demo` posts the first digest this long after start
# Real Slack or Teams settings in the environment must not leak into the sandbox (nor the other way).
_NEUTRAL: Final = {
    "SLACK_CLIENT_ID": "", "SLACK_CLIENT_SECRET": "", "SLACK_APP_TOKEN": "", "SLACK_ADMIN_USERS": "",
    "MICROSOFT_APP_ID": "", "MICROSOFT_APP_PASSWORD": "", "MICROSOFT_APP_TENANT_ID": "",
    "MICROSOFT_APP_TYPE": "MultiTenant", "CHATOPS_TEAMS_TENANTS": "",
}


def signing_secret() -> tuple[str, bool]:
    """SLACK_SIGNING_SECRET when set, else a new random one; and whether it was generated."""
    configured = SlackSettings.load({**_NEUTRAL, "SLACK_BOT_TOKEN": ""}).signing_secret.get_secret_value()
    if configured:
        return configured, False
    return secrets.token_hex(16), True


@dataclass
class DemoServer:
    """Everything `chatops demo` runs; stop() ends it all."""

    url: str
    signing_secret: str
    secret_generated: bool
    simulator: RunningSimulator
    slack: FakeSlack
    connector: BotConnector
    services: Services
    emulator: Emulator
    runner: web.AppRunner
    data_dir: tempfile.TemporaryDirectory[str]
    scheduler: scheduling.Scheduler
    _soon: asyncio.Task[None] | None = None

    @property
    def organisation(self) -> str:
        return self.simulator.scenario.organisation.name

    def digest_soon(self, delay_s: float = FIRST_DIGEST_S) -> None:
        """Post the first digest `delay_s` seconds from now, in the background (stop() cancels it)."""

        async def later() -> None:
            await asyncio.sleep(delay_s)
            try:
                await send_digest(self.services)
            except ChatopsError as exc:  # the page's button can try again; the demo keeps running
                log.warning("the demo's first digest was not posted: %s", exc)

        self._soon = asyncio.get_running_loop().create_task(later(), name="chatops-demo-first-digest")

    async def stop(self) -> None:
        if self._soon is not None:
            self._soon.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._soon
        try:
            await self.runner.cleanup()  # the emulator's streams, then the bot (its services close with it)
        finally:
            await self.slack.stop()
            await self.connector.stop()
            await self.simulator.stop()
            self.data_dir.cleanup()


async def send_digest(services: Services) -> dict[str, str]:
    """The digest to the demo's subscribed channel now, exactly once (as `chatops audit --post`): per
    subscription, what became of it ("sent", "already", ...)."""
    outcomes = await services.core.audits.post_now(f"slack:{DEMO_TEAM}")
    return {subscription: outcome.value for subscription, outcome in outcomes.items()}


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--port: {host}:{port} is not free ({exc.strerror or exc}); "
                          "choose another with --port, or 0 for any free port") from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def start_demo(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, secret: str | None = None,
                     scenario: str = "demo") -> DemoServer:
    """Start everything and return once the page answers; port 0 picks a free port."""
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    url = f"http://{f'[{host}]' if ':' in host else host}:{bound}"
    generated = False
    if secret is None:
        secret, generated = signing_secret()
    data_dir = tempfile.TemporaryDirectory(prefix="chatops-demo-")
    simulator = await start_simulator(scenario)
    slack = await FakeSlack().start()
    connector = await BotConnector().start()
    try:
        organisation = simulator.scenario.organisation.name
        team = slack.add_team(DEMO_TEAM, organisation)
        ids = member_ids(simulator)
        members = [Member(ids[m.email], m.email, m.name, m.admin) for m in simulator.scenario.chat_members()]
        for m in members:
            slack.add_user(DEMO_TEAM, m.slack_id, m.email, m.name, is_admin=m.admin, is_owner=m.admin)
            connector.add_member(m.teams_id, name=m.name, email=m.email, aad_object_id=m.aad_object_id,
                                 tenant_id=DEMO_TENANT)
        folder = Path(data_dir.name)
        overrides = {
            **simulator.settings_env(), **_NEUTRAL,
            "CHATOPS_DATA_DIR": str(folder), "CHATOPS_DATABASE_URL": f"sqlite:///{folder / 'demo.db'}",
            "CHATOPS_ENCRYPTION_KEYS": "", "CHATOPS_PUBLIC_URL": url,
            "SLACK_BOT_TOKEN": team.bot_token, "SLACK_SIGNING_SECRET": secret,
            "CHATOPS_SLACK_API_URL": slack.api_url,
            "CHATOPS_TEAMS_DEMO": "1", "CHATOPS_TEAMS_SERVICE_URL_HOSTS": connector.host,
            "CHATOPS_TEAMS_ADMIN_EMAILS": ",".join(m.email for m in members if m.admin),
        }
        services = build(Config.load(overrides))
        try:
            for workspace in (Workspace(f"slack:{DEMO_TEAM}", organisation, "slack", DEMO_TEAM),
                              Workspace(f"teams:{DEMO_TENANT}", organisation, "teams", DEMO_TENANT)):
                await install_async(services.store, simulator, workspace)
            # #general gets the weekly digest and the alerts, as if the admin had typed /syncstatus subscribe there
            admin = ChatUser("slack", DEMO_ADMIN_ID, is_admin=True)
            await save_subscription(services.core, f"slack:{DEMO_TEAM}", admin, CHANNEL_ID, f"#{CHANNEL_NAME}",
                                    Schedule())
            from adapters.web import build_app

            app = build_app(services)
            scheduler = scheduling.mount(app, services)
            emulator = Emulator(bot_url=url, fake=slack, team_id=DEMO_TEAM, team_name=organisation,
                                signing_secret=secret, members=members, connector=connector,
                                tenant_id=DEMO_TENANT, send_digest=functools.partial(send_digest, services))
            emulator.mount(app)
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_S)
            await runner.setup()
        except BaseException:
            await services.close()
            raise
        try:
            await web.SockSite(runner, sock).start()
        except BaseException:
            await runner.cleanup()
            raise
    except BaseException:
        sock.close()
        await slack.stop()
        await connector.stop()
        await simulator.stop()
        data_dir.cleanup()
        raise
    return DemoServer(url, secret, generated, simulator, slack, connector, services, emulator, runner, data_dir,
                      scheduler)


def banner(demo: DemoServer, first_digest_s: float = FIRST_DIGEST_S) -> list[str]:
    """What `chatops demo` prints: the one URL to open, and what runs behind it."""
    first = (f"the first one arrives in {first_digest_s:g} seconds, and " if first_digest_s > 0 else "")
    secret = (f"{demo.signing_secret} (generated; set SLACK_SIGNING_SECRET to choose one)"
              if demo.secret_generated else "from SLACK_SIGNING_SECRET")
    return [
        f"chatops demo: {demo.organisation}'s broken CRM sync, in a Slack channel and a Teams chat on this machine.",
        "",
        f"  Open {demo.url}",
        "",
        f"  Slack team {DEMO_TEAM} (admin {DEMO_ADMIN_ID}), signing secret {secret}",
        f"  Teams tenant {DEMO_TENANT} (demo mode: activities are not authenticated)",
        f"  Provider simulator at {demo.simulator.base_url} (scenario: {demo.simulator.scenario.name})",
        "",
        f"  #{CHANNEL_NAME} is subscribed to the weekly digest (Mondays 09:00 UTC) and to alerts; {first}"
        "\"Send digest now\" on the page posts one now.",
        "",
        "Type /syncstatus all as Demo Admin. Ctrl-C stops everything.",
    ]


def run(*, host: str = "127.0.0.1", port: int = DEFAULT_PORT, open_browser: bool = True,
        first_digest_s: float = FIRST_DIGEST_S, say: Callable[[str], None] = print) -> None:
    """`chatops demo`: start, print the URL (and open it), serve until Ctrl-C or SIGTERM, stop cleanly."""

    async def main() -> None:
        demo = await start_demo(host=host, port=port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows' default loop
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        try:
            for line in banner(demo, first_digest_s):
                say(line)
            if first_digest_s > 0:
                demo.digest_soon(first_digest_s)
            if open_browser:
                await loop.run_in_executor(None, webbrowser.open, demo.url)
            await stop.wait()
        finally:
            say("Stopping…")
            await demo.stop()
            say("Stopped.")

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
