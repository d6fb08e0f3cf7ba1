"""The provider simulator: one aiohttp app serving Google, Microsoft, Salesforce, HubSpot, Dynamics.

Every route is listed in ROUTES with the provider-apis.md row it implements, and answers in the provider's
real wire format, errors and quirks included (provider-apis.md §0 and §8). Each provider lives under its own
prefix of the simulator's base URL; `RunningSimulator.settings_env()` points the CHATOPS_* URL settings there,
so the real provider clients run against it unchanged:

    google-oauth     token, tokeninfo, revoke          microsoft-login  /{tenant}/oauth2/v2.0/token
    google           /gmail/v1/..., /calendar/v3/...   graph            /v1.0/me/...
    salesforce       /services/oauth2/..., /services/data/vNN.N/...  (login host and instance in one)
    hubspot          /oauth/..., /crm/v3/owners, /account-info/...
    dynamics         /api/data/vN.N/...  (the org URL; tokens come from microsoft-login)

EXTRA_ROUTES are endpoints the provider clients call that provider-apis.md does not list yet (Gmail message
metadata, Calendar events, Graph's calendar resource, HubSpot contact search and tasks, Dataverse contacts,
tasks and time zones). They are served only with `extras=True`, so by default the simulator serves exactly
the documented endpoints; the demo needs them for its calendar and test-sync checks.

Run one by hand with `python -m adapters.sandbox.simulator [scenario] [--port N] [--extras]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from adapters.sandbox import sim_dynamics, sim_google, sim_hubspot, sim_microsoft, sim_salesforce
from adapters.sandbox.scenario import PROVIDERS, Scenario, load_scenario
from adapters.sandbox.sim_base import SIM_STATE, Route, SimState, SystemClock, with_replies
from chatops.ports import Clock

ROUTES: Final[tuple[Route, ...]] = (
    *sim_google.ROUTES,
    *sim_microsoft.ROUTES,
    *sim_salesforce.ROUTES,
    *sim_hubspot.ROUTES,
    *sim_dynamics.ROUTES,
)
# Endpoints the provider clients call that provider-apis.md does not list (yet): the write probe, contact
# lookups, Gmail message metadata, Calendar events, Graph's calendar resource, Dataverse time zones. Served
# only when asked for (`extras=True`), so a default simulator serves exactly what provider-apis.md documents.
EXTRA_ROUTES: Final[tuple[Route, ...]] = (
    *sim_google.EXTRA_ROUTES,
    *sim_microsoft.EXTRA_ROUTES,
    *sim_hubspot.EXTRA_ROUTES,
    *sim_dynamics.EXTRA_ROUTES,
)

# The provider's own 404 for a path under its prefix that the simulator does not serve.
_NOT_FOUND: Final[dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = {
    "google-oauth": sim_google.not_found,
    "google-accounts": sim_google.not_found,
    "google": sim_google.not_found,
    "microsoft-login": sim_microsoft.not_found,
    "graph": sim_microsoft.not_found,
    "salesforce": sim_salesforce.not_found,
    "hubspot": sim_hubspot.not_found,
    "dynamics": sim_dynamics.not_found,
}

# CHATOPS_* URL settings (adapters/providers/settings.py) and the prefix each points at.
SETTINGS_URLS: Final = (
    ("CHATOPS_GOOGLE_OAUTH_URL", "google-oauth"),
    ("CHATOPS_GOOGLE_AUTH_URL", "google-accounts"),
    ("CHATOPS_GOOGLE_API_URL", "google"),
    ("CHATOPS_MICROSOFT_LOGIN_URL", "microsoft-login"),
    ("CHATOPS_MICROSOFT_GRAPH_URL", "graph"),
    ("CHATOPS_SALESFORCE_URL", "salesforce"),
    ("CHATOPS_HUBSPOT_URL", "hubspot"),
    ("CHATOPS_DYNAMICS_URL", "dynamics"),
)
SHUTDOWN_TIMEOUT_S: Final = 2.0


@web.middleware
async def _provider_not_found(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        fallback = _NOT_FOUND.get(request.path.split("/", 2)[1])
        if fallback is None:
            raise
        return await fallback(request)


async def _wake_hanging(app: web.Application) -> None:
    app[SIM_STATE].closing().set()


def build_simulator(
    scenario: Scenario, *, clock: Clock | None = None, extras: bool = False
) -> web.Application:
    """The simulator as an aiohttp application, for a runner of your own or aiohttp's test client.

    Args:
        extras: also serve EXTRA_ROUTES, the endpoints the clients call beyond provider-apis.md.
    """
    app = web.Application(middlewares=[_provider_not_found])
    app[SIM_STATE] = SimState(scenario, clock or SystemClock())
    for route in (*ROUTES, *EXTRA_ROUTES) if extras else ROUTES:
        app.router.add_route(route.method, route.full_path, with_replies(route.handler, route.after))
    app.on_shutdown.append(_wake_hanging)
    return app


@dataclass
class RunningSimulator:
    """A simulator listening on a real socket."""

    scenario: Scenario
    base_url: str
    app: web.Application
    _runner: web.AppRunner

    @property
    def state(self) -> SimState:
        return self.app[SIM_STATE]

    def url(self, prefix: str) -> str:
        return f"{self.base_url}/{prefix}"

    def settings_env(self) -> dict[str, str]:
        """The CHATOPS_* variables pointing every provider at this simulator, with the scenario's clients."""
        env = {name: self.url(prefix) for name, prefix in SETTINGS_URLS}
        for provider in PROVIDERS:
            client = self.scenario.clients[provider]
            env[f"CHATOPS_{provider.upper()}_CLIENT_ID"] = client.client_id
            env[f"CHATOPS_{provider.upper()}_CLIENT_SECRET"] = client.client_secret
        env["CHATOPS_MICROSOFT_TENANT"] = self.scenario.organisation.tenant_id
        return env

    def connection_records(self) -> list[dict[str, Any]]:
        """The scenario's connections bound to this simulator, timed by its clock."""
        return self.scenario.connection_records(self.base_url, now=self.state.clock.now())

    async def stop(self) -> None:
        """Stop listening; requests left hanging by a `hang` fault end at once."""
        self.state.closing().set()
        await self._runner.cleanup()

    async def __aenter__(self) -> RunningSimulator:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()


async def start_simulator(
    scenario: Scenario | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    clock: Clock | None = None,
    extras: bool = False,
) -> RunningSimulator:
    """Serve a scenario (or a built-in scenario name or file path) on host:port; port 0 picks a free one.

    Args:
        extras: also serve EXTRA_ROUTES (see there); the demo wants them for the test sync and calendar reads.
    """
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    app = build_simulator(loaded, clock=clock, extras=extras)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return RunningSimulator(loaded, f"http://{shown}:{bound_port}", app, runner)


async def _serve(name: str, host: str, port: int, extras: bool) -> None:
    running = await start_simulator(name, host, port, extras=extras)
    print(f"provider simulator for scenario {running.scenario.name!r} at {running.base_url}")
    for key, value in running.settings_env().items():
        print(f"{key}={value}")
    try:
        await asyncio.Event().wait()
    finally:
        await running.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "scenario", nargs="?", default="demo", help="built-in scenario name or file (default: demo)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--extras", action="store_true", help="also serve the endpoints in EXTRA_ROUTES")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.scenario, args.host, args.port, args.extras))


if __name__ == "__main__":
    main()
