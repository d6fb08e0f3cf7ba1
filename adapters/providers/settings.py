"""ProviderSettings: one base URL per provider (vendor defaults live here, not in the core), client ids and secrets."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatops.settings import HttpUrlText


class ProviderSettings(BaseSettings):
    """Where each provider is reached; every URL can point at the provider simulator."""

    model_config = SettingsConfigDict(env_prefix="CHATOPS_", env_file=".env", extra="ignore")

    google_oauth_url: HttpUrlText = "https://oauth2.googleapis.com"  # token, tokeninfo, revoke
    google_auth_url: HttpUrlText = "https://accounts.google.com"  # the consent page (reconnect)
    google_api_url: HttpUrlText = "https://www.googleapis.com"  # Gmail (/gmail/v1) and Calendar (/calendar/v3)
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")

    microsoft_login_url: HttpUrlText = "https://login.microsoftonline.com"
    microsoft_tenant: str = Field(default="common", min_length=1)
    microsoft_graph_url: HttpUrlText = "https://graph.microsoft.com"
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")

    salesforce_url: HttpUrlText = "https://login.salesforce.com"  # OAuth and userinfo; REST goes to instance_url
    salesforce_api_version: str = Field(default="v62.0", pattern=r"^v\d+\.\d$")
    salesforce_client_id: str = ""
    salesforce_client_secret: SecretStr = SecretStr("")

    hubspot_url: HttpUrlText = "https://api.hubapi.com"
    hubspot_auth_url: HttpUrlText = "https://app.hubspot.com"  # the consent page (reconnect)
    hubspot_client_id: str = ""
    hubspot_client_secret: SecretStr = SecretStr("")

    dynamics_url: HttpUrlText = ""  # the org, e.g. https://acme.crm.dynamics.com; a grant's instance_url wins
    dynamics_client_id: str = ""
    dynamics_client_secret: SecretStr = SecretStr("")

    http_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Calls per second this process may make to each provider, e.g. "google=500,hubspot=10" (none: no limit);
    # an audit over thousands of connections then stays under the provider's limits (adapters/providers/http.py).
    rate_limits: str = ""
