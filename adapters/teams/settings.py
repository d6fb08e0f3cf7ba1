"""TeamsSettings: the MICROSOFT_APP_* variables, the CHATOPS_TEAMS_* knobs, and the SDK's configuration shim."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatops.errors import ConfigError
from chatops.settings import HttpUrlText

# https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication
DEFAULT_OPENID_METADATA_URL: Final = "https://login.botframework.com/v1/.well-known/openidconfiguration"
DEFAULT_TOKEN_ISSUER: Final = "https://api.botframework.com"
# The Bot Connector hosts of Teams (public, GCC, GCC High, DoD): the only places the bot's token is sent.
SERVICE_URL_HOSTS: Final = frozenset({
    "smba.trafficmanager.net",
    "smba.infra.gcc.teams.microsoft.com",
    "smba.infra.gov.teams.microsoft.us",
    "smba.infra.dod.teams.microsoft.us",
})
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
DEMO_TENANT: Final = "0d0d0d0d-0000-4000-8000-000000000000"
DEFAULT_REPLY_BUDGET_S: Final = 3.0  # a message's answer waits this long before a "Checking…" line goes out
DEFAULT_INVOKE_BUDGET_S: Final = 10.0  # Teams gives an invoke 15 s; past this we answer "Rechecking…"
DEFAULT_MEMBER_CACHE_S: Final = 300.0
DEFAULT_SEND_RETRIES: Final = 3
DEFAULT_SEND_BACKOFF_S: Final = 2.0  # first retry delay; doubles, +-20% jitter, capped (Teams rate-limit doc)
DEFAULT_SEND_BACKOFF_CAP_S: Final = 20.0

_CHATOPS_FIELDS: Final = ("demo", "admin_emails", "tenants", "openid_metadata_url", "token_issuer",
                          "service_url_hosts", "reply_budget_s", "invoke_budget_s", "member_cache_s",
                          "send_retries", "send_backoff_s", "send_backoff_cap_s")


def _chatops(name: str) -> AliasChoices:
    return AliasChoices(f"CHATOPS_TEAMS_{name.upper()}", name)


class AppType(StrEnum):
    MULTI_TENANT = "MultiTenant"
    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


@dataclass(frozen=True, slots=True)
class BotConfiguration:
    """The attribute object botbuilder's ConfigurationBotFrameworkAuthentication reads (its DefaultConfig shape)."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TENANTID: str
    APP_TYPE: str


class TeamsSettings(BaseSettings):
    """Every Teams value chatops reads; loaded once and passed down (botbuilder never reads the environment)."""

    model_config = SettingsConfigDict(env_prefix="MICROSOFT_APP_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    id: str = ""
    password: SecretStr = SecretStr("")
    tenant_id: str = ""
    type: AppType = AppType.MULTI_TENANT

    demo: bool = Field(default=False, validation_alias=_chatops("demo"))
    admin_emails: str = Field(default="", validation_alias=_chatops("admin_emails"))
    tenants: str = Field(default="", validation_alias=_chatops("tenants"))  # only these tenants, when set
    openid_metadata_url: HttpUrlText = Field(default=DEFAULT_OPENID_METADATA_URL,
                                             validation_alias=_chatops("openid_metadata_url"))
    token_issuer: str = Field(default=DEFAULT_TOKEN_ISSUER, validation_alias=_chatops("token_issuer"))
    service_url_hosts: str = Field(default="", validation_alias=_chatops("service_url_hosts"))
    reply_budget_s: float = Field(default=DEFAULT_REPLY_BUDGET_S, ge=0, le=10,
                                  validation_alias=_chatops("reply_budget_s"))
    invoke_budget_s: float = Field(default=DEFAULT_INVOKE_BUDGET_S, gt=0, le=13,
                                   validation_alias=_chatops("invoke_budget_s"))
    member_cache_s: float = Field(default=DEFAULT_MEMBER_CACHE_S, ge=0, le=86400,
                                  validation_alias=_chatops("member_cache_s"))
    send_retries: int = Field(default=DEFAULT_SEND_RETRIES, ge=0, le=10, validation_alias=_chatops("send_retries"))
    send_backoff_s: float = Field(default=DEFAULT_SEND_BACKOFF_S, ge=0, le=60,
                                  validation_alias=_chatops("send_backoff_s"))
    send_backoff_cap_s: float = Field(default=DEFAULT_SEND_BACKOFF_CAP_S, ge=0, le=300,
                                      validation_alias=_chatops("send_backoff_cap_s"))

    @model_validator(mode="after")
    def _consistent(self) -> TeamsSettings:
        password = bool(self.password.get_secret_value())
        if self.type is AppType.USER_ASSIGNED_MSI:
            if not (self.id and self.tenant_id):
                raise ValueError("MICROSOFT_APP_TYPE=UserAssignedMSI needs MICROSOFT_APP_ID and "
                                 "MICROSOFT_APP_TENANT_ID")
        elif bool(self.id) != password:
            raise ValueError("MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD go together")
        if self.type is AppType.SINGLE_TENANT and self.id and not self.tenant_id:
            raise ValueError("MICROSOFT_APP_TYPE=SingleTenant needs MICROSOFT_APP_TENANT_ID")
        for host in self.extra_hosts:
            if "/" in host or "@" in host or " " in host:
                raise ValueError(f"CHATOPS_TEAMS_SERVICE_URL_HOSTS: {host!r} is not a host name (host or host:port)")
        return self

    @property
    def authenticated(self) -> bool:
        """Inbound activities must carry a valid Bot Connector token (always, once an app id is set)."""
        return bool(self.id)

    @property
    def enabled(self) -> bool:
        """POST /api/messages is mounted: with credentials, or unauthenticated in the demo sandbox."""
        return self.authenticated or self.demo

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(part.strip().lower() for part in self.admin_emails.split(",") if part.strip())

    @property
    def allowed_tenants(self) -> frozenset[str]:
        """Tenants whose activities are served; empty means every tenant that installs the app."""
        return frozenset(part.strip().lower() for part in self.tenants.split(",") if part.strip())

    @property
    def extra_hosts(self) -> frozenset[str]:
        """Hosts besides Teams' own that replies may go to (the sandbox's fake Bot Connector), `host[:port]`."""
        return frozenset(part.strip().lower() for part in self.service_url_hosts.split(",") if part.strip())

    def service_url_allowed(self, service_url: str) -> bool:
        """Teams hosts over https, or a configured sandbox host (http allowed there: it is local)."""
        try:
            parts = urlsplit(service_url)
            host = (parts.hostname or "").lower()
            netloc = f"{host}:{parts.port}" if parts.port else host
        except ValueError:
            return False
        if parts.username or parts.password:
            return False
        if parts.scheme == "https" and host in SERVICE_URL_HOSTS and parts.port in (None, 443):
            return True
        if (self.demo and not self.authenticated and not self.extra_hosts and host in LOOPBACK_HOSTS
                and parts.scheme in ("http", "https")):
            return True  # the demo sandbox plays Teams on this machine, and there is no token to leak
        return parts.scheme in ("http", "https") and (netloc in self.extra_hosts or host in self.extra_hosts)

    def bot_configuration(self) -> BotConfiguration:
        return BotConfiguration(APP_ID=self.id, APP_PASSWORD=self.password.get_secret_value(),
                                APP_TENANTID=self.tenant_id, APP_TYPE=self.type.value)

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None) -> TeamsSettings:
        """From the environment and .env, `overrides` (MICROSOFT_APP_* / CHATOPS_TEAMS_* names) winning."""
        values: dict[str, Any] = {}
        app_fields = {name.upper(): name for name in cls.model_fields if name not in _CHATOPS_FIELDS}
        for key, value in (overrides or {}).items():
            upper = key.upper()
            if upper.startswith("CHATOPS_TEAMS_") and upper.removeprefix("CHATOPS_TEAMS_").lower() in _CHATOPS_FIELDS:
                values[upper.removeprefix("CHATOPS_TEAMS_").lower()] = value
            elif upper.startswith("MICROSOFT_APP_") and upper.removeprefix("MICROSOFT_APP_") in app_fields:
                values[app_fields[upper.removeprefix("MICROSOFT_APP_")]] = value
        try:
            return cls(**values)
        except ValidationError as exc:
            lines = []
            for error in exc.errors():
                where = "_".join(str(p) for p in error["loc"])
                name = (f"CHATOPS_TEAMS_{where.upper()}" if where in _CHATOPS_FIELDS
                        else f"MICROSOFT_APP_{where.upper()}" if where else "")
                message = str(error["msg"]).removeprefix("Value error, ")
                lines.append(f"{name}: {message}" if name else message)
            raise ConfigError("\n".join(lines)) from None
