"""Settings of the core (CHATOPS_ prefix): database, encryption keys, public URL, deadlines, thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(".chatops")
DEFAULT_CHECK_TIMEOUT_S = 10.0
DEFAULT_DEADLINE_S = 25.0
DEFAULT_CONCURRENCY = 32
DEFAULT_QUOTA_WARN_PERCENT = 80.0
DEFAULT_RECONNECT_LINK_MINUTES = 15


def _http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


HttpUrlText = Annotated[str, AfterValidator(_http_url)]
"""A base URL kept as text without its trailing slash ('' allowed where optional)."""


class Settings(BaseSettings):
    """Everything the core needs; loaded once by adapters/wiring.py."""

    model_config = SettingsConfigDict(env_prefix="CHATOPS_", env_file=".env", extra="ignore")

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # default: sqlite file in data_dir
    encryption_keys: SecretStr = SecretStr("")  # comma-separated Fernet keys, first is current
    public_url: HttpUrlText = "http://localhost:3000"
    check_timeout_s: float = Field(default=DEFAULT_CHECK_TIMEOUT_S, gt=0, le=300)
    deadline_s: float = Field(default=DEFAULT_DEADLINE_S, gt=0, le=3600)
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=1000)
    quota_warn_percent: float = Field(default=DEFAULT_QUOTA_WARN_PERCENT, gt=0, lt=100)
    disabled_checks: str = ""  # comma-separated check names
    reconnect_link_minutes: int = Field(default=DEFAULT_RECONNECT_LINK_MINUTES, ge=1, le=24 * 60)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'chatops.db'}"

    @property
    def disabled(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.disabled_checks.split(",") if name.strip())
