"""SlackSettings: the SLACK_* variables, the Web API base URL, and which mode they select."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatops.errors import ConfigError
from chatops.settings import HttpUrlText

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
# Least privilege: each scope and its reason is listed in the README and in manifest/slack.yaml.
BOT_SCOPES = ("commands", "chat:write", "users:read", "users:read.email", "channels:history", "groups:history")
DEFAULT_USER_CACHE_S = 300.0
DEFAULT_RATE_LIMIT_RETRIES = 2


class SlackMode(StrEnum):
    OFF = "off"  # nothing configured: the Slack endpoints are not mounted
    SINGLE = "single"  # one workspace: SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET
    OAUTH = "oauth"  # many workspaces: SLACK_CLIENT_ID + SLACK_CLIENT_SECRET + SLACK_SIGNING_SECRET


class SlackSettings(BaseSettings):
    """Every Slack value chatops reads; loaded once and passed down (bolt never reads the environment)."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", env_file=".env", extra="ignore",
                                      populate_by_name=True)

    signing_secret: SecretStr = SecretStr("")
    bot_token: SecretStr = SecretStr("")
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    app_token: SecretStr = SecretStr("")  # xapp-...: Socket Mode
    admin_users: str = ""  # comma-separated Slack user ids or emails treated as admins, besides Slack's own
    token_rotation_minutes: int = Field(default=120, ge=5, le=720)
    api_url: HttpUrlText = Field(default=DEFAULT_API_URL.rstrip("/"),
                                 validation_alias=AliasChoices("CHATOPS_SLACK_API_URL", "api_url"))
    authorize_url: HttpUrlText = Field(default=DEFAULT_AUTHORIZE_URL,
                                       validation_alias=AliasChoices("CHATOPS_SLACK_AUTHORIZE_URL",
                                                                     "authorize_url"))
    user_cache_s: float = Field(default=DEFAULT_USER_CACHE_S, ge=0, le=86400)
    rate_limit_retries: int = Field(default=DEFAULT_RATE_LIMIT_RETRIES, ge=0, le=10)

    @model_validator(mode="after")
    def _consistent(self) -> SlackSettings:
        if bool(self.client_id) != bool(self.client_secret.get_secret_value()):
            raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together (OAuth install mode)")
        if self.mode is not SlackMode.OFF and not self.signing_secret.get_secret_value():
            raise ValueError("SLACK_SIGNING_SECRET is required to verify requests from Slack")
        token = self.bot_token.get_secret_value()
        if token and not token.startswith("xoxb-"):
            raise ValueError("SLACK_BOT_TOKEN must be a bot token (xoxb-...)")
        app_token = self.app_token.get_secret_value()
        if app_token and not app_token.startswith("xapp-"):
            raise ValueError("SLACK_APP_TOKEN must be an app-level token (xapp-...)")
        return self

    @property
    def mode(self) -> SlackMode:
        if self.client_id:
            return SlackMode.OAUTH
        if self.bot_token.get_secret_value():
            return SlackMode.SINGLE
        return SlackMode.OFF

    @property
    def web_api_url(self) -> str:
        """The Web API base URL as slack_sdk wants it: with a trailing slash."""
        return self.api_url.rstrip("/") + "/"

    @property
    def admins(self) -> frozenset[str]:
        """Configured admins: user ids as given, emails lower-cased."""
        return frozenset(part.strip().lower() if "@" in part else part.strip()
                         for part in self.admin_users.split(",") if part.strip())

    @classmethod
    def load(cls, overrides: Mapping[str, str] | None = None) -> SlackSettings:
        """From the environment and .env, `overrides` (SLACK_*, CHATOPS_SLACK_*) winning; ConfigError."""
        values: dict[str, Any] = {}
        fields = {name.upper(): name for name in cls.model_fields}
        for key, value in (overrides or {}).items():
            upper = key.upper()
            if upper in ("CHATOPS_SLACK_API_URL", "CHATOPS_SLACK_AUTHORIZE_URL"):
                values[upper.removeprefix("CHATOPS_SLACK_").lower()] = value
            elif upper.startswith("SLACK_") and upper.removeprefix("SLACK_") in fields:
                values[fields[upper.removeprefix("SLACK_")]] = value
        try:
            return cls(**values)
        except ValidationError as exc:
            lines = []
            for error in exc.errors():
                where = "_".join(str(p) for p in error["loc"]).upper()
                name = ("CHATOPS_SLACK_" if where in ("API_URL", "AUTHORIZE_URL") else "SLACK_") + where
                message = str(error["msg"]).removeprefix("Value error, ")
                lines.append(f"{name}: {message}" if where else message)
            raise ConfigError("\n".join(lines)) from None
