"""What checks see: workspaces, connections and grants as frozen values (not database rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chatops.schedules import SyncJob as SyncJob  # re-exported: sync jobs are model values too


class Provider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"
    DYNAMICS = "dynamics"
    IMAP = "imap"  # a plain IMAP + SMTP mailbox, no OAuth

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Provider.GOOGLE: "Google",
    Provider.MICROSOFT: "Microsoft 365",
    Provider.SALESFORCE: "Salesforce",
    Provider.HUBSPOT: "HubSpot",
    Provider.DYNAMICS: "Dynamics 365",
    Provider.IMAP: "IMAP/SMTP",
}

CRM_PROVIDERS = frozenset({Provider.SALESFORCE, Provider.HUBSPOT, Provider.DYNAMICS})
MAIL_PROVIDERS = frozenset({Provider.GOOGLE, Provider.MICROSOFT, Provider.IMAP})
CALENDAR_PROVIDERS = frozenset({Provider.GOOGLE, Provider.MICROSOFT})


class GrantRole(StrEnum):
    MAIL = "mail"
    CALENDAR = "calendar"
    CRM = "crm"


class Keeper(StrEnum):
    """Who holds the tokens of a grant: us, or the CRM's own built-in connection."""

    CHATOPS = "chatops"
    CRM = "crm"


class Secret:
    """A token value that never shows in repr, str, logs or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Grant:
    """One OAuth grant for one side of a connection; tokens are decrypted only in memory."""

    id: str
    provider: Provider
    role: GrantRole
    account: str  # the email (or CRM username) that consented
    scopes: frozenset[str] = frozenset()
    access_token: Secret = field(default_factory=lambda: Secret(""))
    refresh_token: Secret = field(default_factory=lambda: Secret(""))
    expires_at: datetime | None = None
    instance_url: str = ""  # Salesforce instance / Dynamics org URL; "" for the provider's default
    keeper: Keeper = Keeper.CHATOPS
    needs_reconnect: bool = False  # set when its ciphertext is unreadable or the provider refused it for good


@dataclass(frozen=True, slots=True)
class Connection:
    """One person's sync path: CRM user <-> mailbox <-> optional calendar."""

    id: str
    workspace_id: str
    name: str
    owner_email: str  # the chat member who owns it
    crm: Provider
    crm_user_email: str
    mailbox_provider: Provider
    mailbox_email: str
    calendar_provider: Provider | None = None
    sync_account: str = ""  # the account that needs access to the calendar, if any
    mail_host: str = ""  # IMAP/SMTP host for Provider.IMAP mailboxes
    calls_per_sync: int = 0
    sync_jobs: tuple[SyncJob, ...] = ()
    grants: tuple[Grant, ...] = ()

    def grant(self, role: GrantRole) -> Grant | None:
        return next((g for g in self.grants if g.role is role), None)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.crm.label} ↔ {self.mailbox_provider.label})"


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str  # our id: "slack:T0DEMO", "teams:<tenant>" or "local"
    name: str
    platform: str = "local"  # "slack", "teams" or "local"
    external_id: str = ""  # team_id / tenant_id


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """One line of a sync engine's log, as ingested."""

    connection_id: str
    line: str
    at: datetime | None = None
