"""The small protocols the core needs from the outside; adapters implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from chatops.model import Connection, Grant, GrantRole, Provider

if TYPE_CHECKING:  # chat.py imports cards, which the provider values here must not depend on
    from chatops.chat import MessageRef as ChatMessageRef
    from chatops.chat import Reply

# ---------------------------------------------------------------- values the providers return


@dataclass(frozen=True, slots=True)
class TokenSet:
    """The result of a refresh or a code exchange."""

    access_token: str
    expires_at: datetime | None
    scopes: frozenset[str]
    refresh_token: str | None = None  # set when the provider rotated it
    account: str = ""  # who the token belongs to, when the provider says
    instance_url: str = ""

    def __repr__(self) -> str:  # never print a token
        return f"TokenSet(expires_at={self.expires_at!r}, scopes={sorted(self.scopes)!r}, account={self.account!r})"


@dataclass(frozen=True, slots=True)
class Mailbox:
    primary_address: str
    aliases: tuple[str, ...] = ()  # send-as addresses / proxyAddresses, primary excluded
    timezone: str | None = None  # as the provider names it (IANA or Windows)
    display_name: str = ""


@dataclass(frozen=True, slots=True)
class MessageRef:
    id: str
    received_at: datetime | None = None
    sender: str = ""


@dataclass(frozen=True, slots=True)
class CalendarInfo:
    id: str
    timezone: str | None
    owner: str = ""
    access_role: str = ""  # Google accessRole of the token's user on this calendar


@dataclass(frozen=True, slots=True)
class CalendarShare:
    grantee: str  # email, domain or "default"
    role: str  # provider's role name: Google "reader"/"writer"/"owner"/"freeBusyReader", Graph "read"/"write"/...
    can_read_details: bool
    can_write: bool


@dataclass(frozen=True, slots=True)
class EventRef:
    id: str
    starts_at: datetime | None = None
    timezone: str | None = None
    attendees: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CrmUser:
    id: str
    email: str
    username: str = ""
    timezone: str | None = None
    active: bool = True
    name: str = ""


class UsageWindow(StrEnum):
    DAILY = "daily"
    SECONDLY = "secondly"  # HubSpot's 10-second window and the like
    BURST = "burst"


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """One API limit as the provider reports it right now."""

    name: str  # "DailyApiRequests", "X-HubSpot-RateLimit-Daily"
    used: int
    limit: int
    window: UsageWindow = UsageWindow.DAILY
    resets_at: datetime | None = None
    label: str = field(default="", compare=False)  # what a person calls it: "10-second API limit"


class SyncState(StrEnum):
    OK = "ok"
    FAILING = "failing"
    DISABLED = "disabled"
    NOT_CONFIGURED = "not_configured"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class MailSyncStatus:
    """The CRM's own view of the mailbox sync (Einstein Activity Capture, Dataverse mailbox, ...)."""

    incoming: SyncState
    outgoing: SyncState
    appointments: SyncState
    last_error: str = ""
    last_success_at: datetime | None = None
    reconnect_url: str = ""  # where the CRM lets the user reconnect its own tokens
    keeper_label: str = ""  # "Einstein Activity Capture", "Server-side synchronization"


# ---------------------------------------------------------------- provider APIs, one protocol per role


class OAuthApi(Protocol):
    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        """The least-privilege scopes the sync and our checks need for this role."""

    async def refresh(self, grant: Grant) -> TokenSet:
        """Refresh the grant; raises AuthError with the provider's code when that fails."""


class MailApi(Protocol):
    async def mailbox(self, grant: Grant, token: str) -> Mailbox: ...

    async def newest_message(self, grant: Grant, token: str) -> MessageRef | None: ...


class CalendarApi(Protocol):
    async def calendar(self, grant: Grant, token: str) -> CalendarInfo: ...

    async def shares(self, grant: Grant, token: str) -> tuple[CalendarShare, ...]: ...

    async def next_event(self, grant: Grant, token: str, after: datetime) -> EventRef | None: ...


class CrmApi(Protocol):
    async def user(self, grant: Grant, token: str, email: str) -> CrmUser | None: ...

    async def usage(self, grant: Grant, token: str) -> tuple[QuotaUsage, ...]: ...

    async def mail_sync_status(self, grant: Grant, token: str, user: CrmUser) -> MailSyncStatus | None:
        """The CRM's own mailbox sync state, or None where the CRM keeps none."""

    async def find_contact(self, grant: Grant, token: str, email: str) -> str | None: ...

    async def create_test_activity(self, grant: Grant, token: str, user: CrmUser, subject: str) -> str: ...

    async def delete_activity(self, grant: Grant, token: str, activity_id: str) -> None: ...


# ---------------------------------------------------------------- network


class ProbeKind(StrEnum):
    HTTPS = "https"
    HTTP = "http"  # only for local simulators
    SMTP_STARTTLS = "smtp-starttls"  # 587
    SMTPS = "smtps"  # 465
    IMAPS = "imaps"  # 993


class ProbeOutcome(StrEnum):
    OK = "ok"
    DNS_FAILURE = "dns_failure"
    REFUSED = "refused"
    TIMEOUT = "timeout"  # dropped: nobody answered
    TLS_INTERCEPTED = "tls_intercepted"  # a certificate from an issuer the host does not use
    TLS_ERROR = "tls_error"
    PROXY_BLOCK = "proxy_block"  # an HTTP answer from a proxy or web filter, not the provider
    HTTP_ERROR = "http_error"  # the host answered but with a status that means it is unusable


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One host a connection depends on, and what a healthy answer from it looks like."""

    name: str  # "Gmail API", "Microsoft sign-in", "SMTP submission"
    host: str
    port: int
    kind: ProbeKind
    path: str = "/"
    provider: Provider | None = None
    expected_issuers: tuple[str, ...] = ()  # substrings of the issuer O/CN the real host uses

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    endpoint: Endpoint
    outcome: ProbeOutcome
    detail: str  # plain sentence: "connection refused by 127.0.0.1"
    timings_ms: Mapping[str, float] = field(default_factory=dict)  # dns, connect, tls, http
    resolved: str = ""  # the IP the name resolved to
    tls_issuer: str = ""
    tls_version: str = ""
    http_status: int = 0


class NetworkProbe(Protocol):
    async def probe(self, endpoint: Endpoint, timeout_s: float) -> ProbeResult: ...


# ---------------------------------------------------------------- the set the core receives


EndpointsFn = Callable[[Sequence[str]], Sequence[Endpoint]]
"""The hosts a provider's sync depends on, given the instance URLs (Salesforce, Dynamics) its grants name."""


@dataclass(frozen=True, slots=True)
class Providers:
    """The provider APIs an installation has, keyed by provider; built by adapters/wiring.py."""

    oauth: Mapping[Provider, OAuthApi]
    mail: Mapping[Provider, MailApi]
    calendar: Mapping[Provider, CalendarApi]
    crm: Mapping[Provider, CrmApi]
    endpoints: Mapping[Provider, EndpointsFn]

    def endpoints_for(self, connection: Connection) -> tuple[Endpoint, ...]:
        """Every host this connection's sync needs, once each, in provider order."""
        providers = [connection.crm, connection.mailbox_provider]
        if connection.calendar_provider is not None:
            providers.append(connection.calendar_provider)
        seen: dict[tuple[str, int, ProbeKind], Endpoint] = {}
        for provider in providers:
            endpoints_of = self.endpoints.get(provider)
            if endpoints_of is None:
                continue
            urls = [g.instance_url for g in connection.grants if g.provider is provider and g.instance_url]
            for endpoint in endpoints_of(urls):
                seen.setdefault((endpoint.host, endpoint.port, endpoint.kind), endpoint)
        if connection.mailbox_provider is Provider.IMAP and connection.mail_host:
            for name, port, kind in (
                ("IMAP", 993, ProbeKind.IMAPS),
                ("SMTP submission", 587, ProbeKind.SMTP_STARTTLS),
            ):
                endpoint = Endpoint(name, connection.mail_host, port, kind, provider=Provider.IMAP)
                seen.setdefault((endpoint.host, endpoint.port, endpoint.kind), endpoint)
        return tuple(seen.values())


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""


# ---------------------------------------------------------------- Reconnect: consent and the card to update


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """What the consent page is asked for: one grant role, bound to a single-use state and a PKCE challenge."""

    roles: tuple[GrantRole, ...]  # what the grant serves: a mail grant also serves the calendar on its account
    state: str
    code_challenge: str  # BASE64URL(SHA256(code_verifier)), method S256 (RFC 7636)
    redirect_uri: str
    login_hint: str = ""  # the account that should sign in (the connection's mailbox or CRM user)
    instance_url: str = ""  # Dynamics org URL / Salesforce My Domain, when the grant names one


@dataclass(frozen=True, slots=True)
class Consent:
    """A finished consent: the new tokens and every name the provider gives the account that consented."""

    tokens: TokenSet
    accounts: tuple[str, ...]  # email, userPrincipalName, CRM username ... as the provider reports them


class ConsentApi(Protocol):
    """One provider's authorization code flow with PKCE, for Reconnect (adapters/providers/consent.py)."""

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        """The scopes a consent for these roles asks for (least privilege; pinned by a test)."""

    def authorize_url(self, request: ConsentRequest) -> str:
        """The provider's consent page URL for this request."""

    async def exchange_code(self, roles: Sequence[GrantRole], *, code: str, code_verifier: str, redirect_uri: str,
                            instance_url: str = "") -> Consent:
        """Redeem the code (with the PKCE verifier) and say who consented; raises ProviderError."""

    async def revoke(self, tokens: TokenSet) -> bool:
        """Revoke tokens we will not keep at the provider's revocation endpoint.

        True when the provider revoked them; False when it offers apps no per-token revocation (the Microsoft
        identity platform, and Dynamics through it). Raises ProviderError when the provider refused or was not
        reached; the error never carries the token.
        """


class CardUpdater(Protocol):
    """Replaces one message in place: a ChatSink, or a platform's answer channel bound to one request."""

    async def update(self, workspace_id: str, message: ChatMessageRef, reply: Reply) -> bool:
        """Replace the message in place; False (and logged) when the platform refused or it is gone."""


class ChatSink(Protocol):
    """Posts to chat and changes cards already posted (a finished Reconnect updates the card it started from)."""

    async def post(self, workspace_id: str, destination: str, reply: Reply, *, key: str = "") -> ChatMessageRef:
        """A new message in `destination` (a channel or conversation id, or "@<chat user id>" for a DM).

        `key` is the delivery's idempotency key; a platform that can attach it to the message does (Slack's
        message metadata), so `find_posted` can find it again. Waits out the platform's rate limits
        (Retry-After); raises ChatopsError when it was not posted.
        """

    async def find_posted(self, workspace_id: str, destination: str, key: str,
                          since: datetime) -> ChatMessageRef | None:
        """The message carrying delivery key `key` posted to `destination` since `since`, if the platform has it.

        None when there is none, or when the platform can't tell (Teams: no history to read without Graph
        permissions); raises ChatopsError when the platform could not be asked.
        """

    async def update(self, workspace_id: str, message: ChatMessageRef, reply: Reply) -> bool:
        """Replace the message in place; False (and logged) when the platform refused or it is gone."""
