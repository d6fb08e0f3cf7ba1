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
tasks and time zones, Salesforce's and HubSpot's token revocation); each names its vendor reference, and the
simulator serves them too, since the clients call them. Run one by hand with
`chatops simulator --scenario demo --port N`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Final

from aiohttp import web

from adapters.sandbox import sim_consent, sim_dynamics, sim_google, sim_hubspot, sim_microsoft, sim_salesforce
from adapters.sandbox.scenario import PROVIDERS, Fault, Scenario, load_scenario
from adapters.sandbox.sim_base import SIM_STATE, Route, SimState, Surface, SystemClock, with_replies
from chatops.ports import Clock

ROUTES: Final[tuple[Route, ...]] = (
    *sim_google.ROUTES,
    *sim_microsoft.ROUTES,
    *sim_salesforce.ROUTES,
    *sim_hubspot.ROUTES,
    *sim_dynamics.ROUTES,
)
# Endpoints the provider clients call that provider-apis.md does not list (yet): the write probe, contact
# lookups, Gmail message metadata, Calendar events, Graph's calendar resource, Dataverse time zones.
EXTRA_ROUTES: Final[tuple[Route, ...]] = (
    *sim_google.EXTRA_ROUTES,
    *sim_microsoft.EXTRA_ROUTES,
    *sim_salesforce.EXTRA_ROUTES,
    *sim_hubspot.EXTRA_ROUTES,
    *sim_dynamics.EXTRA_ROUTES,
    *sim_consent.EXTRA_ROUTES,  # the consent pages Reconnect sends the browser to
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
    ("CHATOPS_HUBSPOT_AUTH_URL", "hubspot"),  # app.hubspot.com's consent page, at its real path
    ("CHATOPS_DYNAMICS_URL", "dynamics"),
)
SHUTDOWN_TIMEOUT_S: Final = 2.0
# Whose rate limit (scenario `rate_limits`) a path prefix counts against, and how that provider says no.
PROVIDER_OF_PREFIX: Final = {"google-oauth": "google", "google-accounts": "google", "google": "google",
                             "microsoft-login": "microsoft", "graph": "microsoft", "salesforce": "salesforce",
                             "hubspot": "hubspot", "dynamics": "dynamics"}
_RATE_LIMITED: Final[dict[str, Surface]] = {"google": sim_google.API, "microsoft": sim_microsoft.GRAPH,
                                            "salesforce": sim_salesforce.REST, "hubspot": sim_hubspot.API,
                                            "dynamics": sim_dynamics.API}
_OVER_THE_LIMIT: Final = Fault("rate_limited", None, MappingProxyType({"retry_after": 1.0, "policy": "SECONDLY"}))


@web.middleware
async def _rate_limits(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> web.StreamResponse:
    """Counts each provider's calls, and answers its rate-limit error past the scenario's `rate_limits`."""
    state = request.app[SIM_STATE]
    provider = PROVIDER_OF_PREFIX.get(request.path.split("/", 2)[1])
    if provider is None:
        return await handler(request)
    state.served[provider] += 1
    limit = state.limits.get(provider)
    if limit is not None and not limit.allow():
        state.throttled[provider] += 1
        return _RATE_LIMITED[provider].rate_limited(request, _OVER_THE_LIMIT)
    return await handler(request)


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


def build_simulator(scenario: Scenario, *, clock: Clock | None = None) -> web.Application:
    """The simulator as an aiohttp application, for a runner of your own or aiohttp's test client."""
    app = web.Application(middlewares=[_rate_limits, _provider_not_found])
    app[SIM_STATE] = SimState(scenario, clock or SystemClock())
    for route in (*ROUTES, *EXTRA_ROUTES):
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
) -> RunningSimulator:
    """Serve a scenario (or a built-in scenario name or file path) on host:port; port 0 picks a free one."""
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    app = build_simulator(loaded, clock=clock)
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    return RunningSimulator(loaded, f"http://{shown}:{bound_port}", app, runner)
