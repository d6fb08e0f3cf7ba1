"""The composition root: load settings once, build the http client, providers, store and Chatops."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from adapters.network import SocketProbe
from adapters.providers import dynamics, google, hubspot, microsoft, salesforce
from adapters.providers.consent import build_consent
from adapters.providers.http import build_http_client, parse_rate_limits, provider_route
from adapters.providers.settings import ProviderSettings
from adapters.slack.settings import SlackSettings
from adapters.teams.settings import TeamsSettings
from chatops.checks import CHECKS
from chatops.checks.base import Thresholds
from chatops.clock import SystemClock
from chatops.core import Chatops
from chatops.errors import ConfigError
from chatops.model import Provider
from chatops.ports import Clock, NetworkProbe, Providers
from chatops.reconnect import KEY_PURPOSE, Links, Reconnect
from chatops.runner import Runner
from chatops.settings import Settings
from chatops.store import Store
from chatops.store.crypto import GrantCipher, load_or_create_keys

log = logging.getLogger(__name__)


def _load(cls: type[BaseSettings], overrides: Mapping[str, str]) -> Any:
    try:
        return cls(**_fields_of(cls, overrides))
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        lines = []
        for error in exc.errors():
            name = (prefix + "_".join(str(p) for p in error["loc"])).upper()
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise ConfigError("\n".join(lines)) from None


def _fields_of(cls: type[BaseSettings], env: Mapping[str, str]) -> dict[str, Any]:
    """Variables given explicitly (tests, the demo), by field name; they win over the environment."""
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    fields = {name.upper(): name for name in cls.model_fields}
    return {fields[key[len(prefix):].upper()]: value for key, value in env.items()
            if key.upper().startswith(prefix) and key[len(prefix):].upper() in fields}


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of a process, read once: the core's, the providers', Slack's and Teams'."""

    settings: Settings
    providers: ProviderSettings
    slack: SlackSettings
    teams: TeamsSettings

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None) -> Config:
        """From the environment and .env, with `overrides` (CHATOPS_* names) winning. Raises ConfigError."""
        overrides = overrides or {}
        settings: Settings = _load(Settings, overrides)
        if settings.disabled - set(CHECKS):
            unknown = ", ".join(sorted(settings.disabled - set(CHECKS)))
            raise ConfigError(f"CHATOPS_DISABLED_CHECKS: unknown check {unknown}; known: {', '.join(CHECKS)}")
        return cls(settings, _load(ProviderSettings, overrides), SlackSettings.load(overrides),
                   TeamsSettings.load(overrides))


def build_providers(settings: ProviderSettings, http: httpx.AsyncClient, clock: Clock) -> Providers:
    g = google.GoogleClient(http, settings, clock)
    m = microsoft.MicrosoftClient(http, settings, clock)
    s = salesforce.SalesforceClient(http, settings, clock)
    h = hubspot.HubSpotClient(http, settings, clock)
    d = dynamics.DynamicsClient(http, settings, clock)
    return Providers(
        oauth={Provider.GOOGLE: g, Provider.MICROSOFT: m, Provider.SALESFORCE: s, Provider.HUBSPOT: h,
               Provider.DYNAMICS: d},
        mail={Provider.GOOGLE: g, Provider.MICROSOFT: m},
        calendar={Provider.GOOGLE: g, Provider.MICROSOFT: m},
        crm={Provider.SALESFORCE: s, Provider.HUBSPOT: h, Provider.DYNAMICS: d},
        endpoints={
            Provider.GOOGLE: lambda urls: google.endpoints(settings),
            Provider.MICROSOFT: lambda urls: microsoft.endpoints(settings),
            Provider.SALESFORCE: lambda urls: salesforce.endpoints(settings, instance_urls=urls),
            Provider.HUBSPOT: lambda urls: hubspot.endpoints(settings),
            Provider.DYNAMICS: lambda urls: dynamics.endpoints(settings, org_urls=urls),
        },
    )


def base_urls(settings: ProviderSettings) -> dict[str, str]:
    """Each configured provider URL and whose it is (the rate limits' routing)."""
    return {settings.google_oauth_url: "google", settings.google_api_url: "google",
            settings.microsoft_login_url: "microsoft", settings.microsoft_graph_url: "microsoft",
            settings.salesforce_url: "salesforce", settings.hubspot_url: "hubspot",
            settings.dynamics_url: "dynamics"}


def open_store(settings: Settings) -> tuple[Store, Path | None]:
    """The store, and the path of a key file created just now (so the user can be told)."""
    keys, created = load_or_create_keys(settings.encryption_keys.get_secret_value(), settings.data_dir)
    return Store.open(settings.resolved_database_url, GrantCipher(keys)), created


@dataclass
class Services:
    """Everything a running process holds; close() releases it."""

    config: Config
    store: Store
    http: httpx.AsyncClient
    core: Chatops
    key_created: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    async def close(self) -> None:
        await self.http.aclose()
        self.store.close()


def build(config: Config, *, http: httpx.AsyncClient | None = None, probe: NetworkProbe | None = None,
          clock: Clock | None = None, store: Store | None = None) -> Services:
    clock = clock or SystemClock()
    key_created = None
    if store is None:
        store, key_created = open_store(config.settings)
    http = http or build_http_client(timeout_s=config.providers.http_timeout_s,
                                     rate_limits=parse_rate_limits(config.providers.rate_limits),
                                     route=provider_route(base_urls(config.providers)))
    settings = config.settings
    runner = Runner(
        checks={name: spec for name, spec in CHECKS.items() if name not in settings.disabled},
        providers=build_providers(config.providers, http, clock),
        probe=probe or SocketProbe(),
        clock=clock,
        concurrency=settings.concurrency,
        deadline_s=settings.deadline_s,
        check_timeout_s=settings.check_timeout_s,
        thresholds=Thresholds(quota_warn_percent=settings.quota_warn_percent),
    )
    links = Links(store.derive_keys(KEY_PURPOSE), settings.public_url, clock,
                  ttl=timedelta(minutes=settings.reconnect_link_minutes))
    core = Chatops(store, runner, link=links.url)
    core.reconnect = Reconnect(core, build_consent(config.providers, http, clock), links,
                               public_url=settings.public_url, clock=clock)
    return Services(config, store, http, core, key_created)
