"""Sandbox scenarios: an organisation, its people, CRM orgs, faults and connections, read from YAML or JSON.

A scenario is plain data. `adapters/sandbox/simulator.py` serves it over HTTP in the providers' wire formats,
and `Scenario.connection_records(base_url)` turns its connections into the import format of `chatops
connections import` once the simulator's address is known (`{simulator}` in any string becomes that address).

Time values (`expires_at`, a message's `received`, an event's `start`) are ISO-8601 times or offsets from
the moment the scenario is served: `-2h`, `+1d`, `-90d`, `now`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn
from uuid import NAMESPACE_URL, uuid5

import yaml

from chatops.errors import ConfigError
from chatops.findings import Cause
from chatops.model import CALENDAR_PROVIDERS as CALENDAR_PROVIDER_SET
from chatops.model import CRM_PROVIDERS, MAIL_PROVIDERS, GrantRole, Keeper, Provider

SIMULATOR_PLACEHOLDER: Final = "{simulator}"
# The names a scenario may use, read from the core's registries (chatops/model.py, chatops/findings.py).
PROVIDERS: Final = tuple(
    p.value for p in Provider if p is not Provider.IMAP
)  # the ones with OAuth and an API
CRMS: Final = tuple(p.value for p in Provider if p in CRM_PROVIDERS)
MAILBOX_PROVIDERS: Final = tuple(p.value for p in Provider if p in MAIL_PROVIDERS)
CALENDAR_PROVIDERS: Final = tuple(p.value for p in Provider if p in CALENDAR_PROVIDER_SET)
ROLES: Final = tuple(r.value for r in GrantRole)
KEEPERS: Final = tuple(k.value for k in Keeper)
EXPECTATIONS: Final = ("ok", *(cause.value for cause in Cause))

GOOGLE_SCOPE: Final = "https://www.googleapis.com/auth/"
GRAPH_SCOPE: Final = "https://graph.microsoft.com/"

# What a grant holds when the scenario lists no scopes: what sync and our checks need (provider-apis.md
# scope columns), so a healthy connection is healthy without spelling them out.
DEFAULT_SCOPES: Final[Mapping[tuple[str, str], tuple[str, ...]]] = MappingProxyType(
    {
        ("google", "mail"): (
            f"{GOOGLE_SCOPE}gmail.readonly",
            f"{GOOGLE_SCOPE}gmail.settings.basic",
            f"{GOOGLE_SCOPE}calendar.readonly",
            f"{GOOGLE_SCOPE}calendar.acls.readonly",
            f"{GOOGLE_SCOPE}userinfo.email",
            "openid",
        ),
        ("google", "calendar"): (
            f"{GOOGLE_SCOPE}calendar.readonly",
            f"{GOOGLE_SCOPE}calendar.acls.readonly",
            f"{GOOGLE_SCOPE}userinfo.email",
            "openid",
        ),
        ("microsoft", "mail"): (
            "User.Read",
            "Mail.Read",
            "MailboxSettings.Read",
            "Calendars.Read",
            "offline_access",
            "openid",
            "email",
            "profile",
        ),
        ("microsoft", "calendar"): (
            "User.Read",
            "Calendars.Read",
            "MailboxSettings.Read",
            "offline_access",
            "openid",
        ),
        ("salesforce", "crm"): ("api", "refresh_token", "id", "openid"),
        ("hubspot", "crm"): ("oauth", "crm.objects.contacts.read", "crm.objects.owners.read"),
        ("dynamics", "crm"): ("user_impersonation", "offline_access"),
    }
)

# How long a freshly issued access token lives, per provider (provider-apis.md G1, M1, H1; Salesforce
# uses the org's session timeout instead).
TOKEN_LIFETIME_S: Final[Mapping[str, int]] = MappingProxyType(
    {
        "google": 3599,
        "microsoft": 4467,
        "hubspot": 1800,
        "dynamics": 4467,
    }
)


# ---------------------------------------------------------------------------------------------- faults


@dataclass(frozen=True, slots=True)
class AadstsError:
    """One identity-platform error the `aadsts` fault can choose (provider-apis.md M1 table)."""

    code: int
    error: str
    status: int
    text: str  # the description after "AADSTSnnn: "; {issued}, {client}, {tenant}, {resource} filled in
    suberror: str = ""


AADSTS_ERRORS: Final[Mapping[int, AadstsError]] = MappingProxyType(
    {
        e.code: e
        for e in (
            AadstsError(
                700082,
                "invalid_grant",
                400,
                "The refresh token has expired due to inactivity. The token was issued on {issued} and was "
                "inactive for 90.00:00:00.",
            ),
            AadstsError(
                70008,
                "invalid_grant",
                400,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            ),
            AadstsError(
                50173,
                "invalid_grant",
                400,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                "user might have changed or reset their password. The grant was issued on '{issued}' and "
                "the TokensValidFrom date (before which tokens are not valid) for this user is '{now}'.",
            ),
            AadstsError(
                65001,
                "invalid_grant",
                400,
                "The user or administrator has not consented to use the application with ID '{client}' named "
                "'chatops'. Send an interactive authorization request for this user and resource.",
                suberror="consent_required",
            ),
            AadstsError(
                50076,
                "invalid_grant",
                400,
                "Due to a configuration change made by your administrator, or because you moved to a new "
                "location, you must use multi-factor authentication to access '{resource}'.",
                suberror="basic_action",
            ),
            AadstsError(
                53003,
                "invalid_grant",
                400,
                "Access has been blocked by Conditional Access policies. The access policy does not allow "
                "token issuance.",
            ),
            AadstsError(50057, "invalid_grant", 400, "The user account is disabled."),
            AadstsError(
                70043,
                "invalid_grant",
                400,
                "The refresh token has expired or is invalid due to sign-in frequency checks by conditional "
                "access. The token was issued on {issued} and the maximum allowed lifetime for this request "
                "is 43200.",
            ),
            AadstsError(9002313, "invalid_grant", 400, "Invalid request. Request is malformed or invalid."),
            AadstsError(
                700016,
                "unauthorized_client",
                400,
                "Application with identifier '{client}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to "
                "the wrong tenant.",
            ),
            AadstsError(
                7000215,
                "invalid_client",
                401,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                "secret value, not the client secret ID, for a secret added to app '{client}'.",
            ),
            AadstsError(
                7000222,
                "invalid_client",
                401,
                "The provided client secret keys for app '{client}' are expired. Visit the Azure portal to "
                "create new keys for your app.",
            ),
            AadstsError(
                500011,
                "invalid_resource",
                400,
                "The resource principal named {resource} was not found in the tenant named {tenant}. This "
                "can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant.",
            ),
        )
    }
)

# What `revoked` means at Microsoft: the grant was revoked (password reset, "revoke sessions", ...).
REVOKED_AADSTS: Final = 50173


@dataclass(frozen=True, slots=True)
class Param:
    kind: str  # "number", "int", "text", "texts"
    default: Any = None
    choices: tuple[Any, ...] = ()
    required: bool = False


@dataclass(frozen=True, slots=True)
class FaultKind:
    """A fault a scenario can give a user: what it does and which providers it applies to."""

    name: str
    summary: str
    providers: tuple[str, ...] = PROVIDERS
    params: Mapping[str, Param] = field(default_factory=dict)
    shorthand: str = ""  # the parameter a scalar value sets: `slow: 1.5` is `slow: {delay_s: 1.5}`


FAULTS: Final[Mapping[str, FaultKind]] = MappingProxyType(
    {
        k.name: k
        for k in (
            FaultKind("expired_access_token", "the stored access token has expired; refreshing works"),
            FaultKind(
                "revoked",
                "the grant was revoked: refresh answers the provider's invalid_grant body, and its access "
                "tokens stop working",
            ),
            FaultKind(
                "aadsts",
                "refresh fails with this AADSTS code (full identity-platform error body)",
                providers=("microsoft", "dynamics"),
                params={"code": Param("int", required=True, choices=tuple(AADSTS_ERRORS))},
                shorthand="code",
            ),
            FaultKind(
                "missing_scopes",
                "the user unticked these scopes at consent: refresh, tokeninfo and the API "
                "report fewer scopes; calls that need them answer 403",
                params={"scopes": Param("texts", required=True)},
                shorthand="scopes",
            ),
            FaultKind("api_401", "API calls answer 401 whatever the token; refreshing works"),
            FaultKind(
                "rate_limited",
                "API calls answer the provider's rate-limit status and body with Retry-After: 429 at Google, "
                "Graph, HubSpot (policy) and Dataverse; 403 REQUEST_LIMIT_EXCEEDED, without Retry-After, at "
                "Salesforce, which has no 429. HubSpot's daily-usage call (H5) still answers",
                params={
                    "retry_after": Param("number", 30.0),
                    "policy": Param(
                        "text", "TEN_SECONDLY_ROLLING", ("TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY")
                    ),
                },
                shorthand="retry_after",
            ),
            FaultKind(
                "google_403_rate_limit",
                "Google APIs answer 403 with a usageLimits reason instead of 429",
                providers=("google",),
                params={
                    "reason": Param(
                        "text",
                        "userRateLimitExceeded",
                        ("userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"),
                    )
                },
                shorthand="reason",
            ),
            FaultKind(
                "mailbox_not_enabled",
                "Graph answers 404 MailboxNotEnabledForRESTAPI (variant: not_supported or inactive) on "
                "mailbox and calendar calls; Gmail answers 400 failedPrecondition 'Mail service not enabled'",
                providers=("microsoft", "google"),
                params={"variant": Param("text", "not_supported", ("not_supported", "inactive"))},
                shorthand="variant",
            ),
            FaultKind(
                "slow",
                "every answer is delayed",
                params={"delay_s": Param("number", required=True)},
                shorthand="delay_s",
            ),
            FaultKind(
                "hang",
                "the request is accepted and never answered, until the client gives up "
                "(or the simulator stops)",
            ),
            FaultKind("html_instead_of_json", "a proxy's HTML login page answers instead of the provider"),
            FaultKind(
                "server_error",
                "the provider answers 5xx with its own error body",
                params={"status": Param("int", 503, (500, 502, 503, 504))},
                shorthand="status",
            ),
        )
    }
)

# The faults under which the stored access token is no longer usable.
_DEAD_TOKEN_FAULTS: Final = frozenset({"expired_access_token", "revoked", "aadsts"})


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    provider: str | None = None  # None: every provider of the user
    params: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, provider: str) -> bool:
        return (self.provider is None or self.provider == provider) and provider in FAULTS[
            self.name
        ].providers

    def number(self, key: str) -> float:
        return float(self.params[key])

    def integer(self, key: str) -> int:
        return int(self.params[key])

    def text(self, key: str) -> str:
        return str(self.params[key])

    def texts(self, key: str) -> tuple[str, ...]:
        return tuple(self.params[key])


# ---------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class When:
    """A moment: absolute, or an offset from when the scenario is served."""

    at: datetime | None = None
    offset: timedelta = timedelta(0)

    def resolve(self, now: datetime) -> datetime:
        return self.at if self.at is not None else now + self.offset


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    domain: str
    tenant_id: str  # the Microsoft Entra tenant


@dataclass(frozen=True, slots=True)
class Member:
    email: str
    name: str = ""
    admin: bool = False


@dataclass(frozen=True, slots=True)
class Share:
    grantee: str  # an email, a domain, or "default"
    role: str  # in the calendar provider's own role names


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    subject: str
    sender: str
    received: When


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    subject: str
    start: When
    duration_minutes: int = 60
    attendees: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EacStatus:
    """The user's Einstein Activity Capture row (provider-apis.md S5)."""

    status: str = "ACTIVE"
    configuration: str = "Sales Team Capture"
    title: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Alert:
    """A Dataverse tracelog row on the user's mailbox (provider-apis.md D5)."""

    level: str  # information | warning | error
    code: int
    text: str
    created: When
    modified: When


@dataclass(frozen=True, slots=True)
class DynamicsMailbox:
    """The Dataverse mailbox row's sync state (provider-apis.md D4)."""

    incoming: str = "success"  # not_run | success | failure
    outgoing: str = "success"
    act: str = "success"
    approval: str = "approved"  # empty | approved | pending | rejected
    active: bool = True
    last_error: str = ""
    last_success: When = field(default_factory=lambda: When(offset=timedelta(minutes=-4)))
    alerts: tuple[Alert, ...] = ()


@dataclass(frozen=True, slots=True)
class User:
    email: str
    name: str
    aliases: tuple[str, ...] = ()
    upn: str = ""  # Microsoft userPrincipalName; the email when empty
    mailbox_timezone: str = "UTC"
    working_hours_timezone: str = ""  # Graph workingHours.timeZone.name; mailbox_timezone when empty
    calendar_timezone: str = ""  # mailbox_timezone when empty
    crm_timezone: str = "UTC"
    crm_email: str = ""  # the CRM user's email; the mailbox email when empty
    crm_org: str = ""  # the id of the CRM org the user belongs to; the first org of that CRM when empty
    crm_active: bool = True
    calendar_shares: tuple[Share, ...] = ()
    messages: tuple[Message, ...] = ()
    events: tuple[Event, ...] = ()
    eac_status: EacStatus = field(default_factory=EacStatus)
    dynamics_mailbox: DynamicsMailbox = field(default_factory=DynamicsMailbox)
    faults: tuple[Fault, ...] = ()

    @property
    def principal_name(self) -> str:
        return self.upn or self.email

    @property
    def crm_address(self) -> str:
        return self.crm_email or self.email

    @property
    def calendar_zone(self) -> str:
        return self.calendar_timezone or self.mailbox_timezone

    @property
    def working_hours_zone(self) -> str:
        return self.working_hours_timezone or self.mailbox_timezone

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def last_name(self) -> str:
        return self.name.split(" ", 1)[1] if " " in self.name else ""

    def faults_for(self, provider: str) -> tuple[Fault, ...]:
        return tuple(f for f in self.faults if f.applies_to(provider))


@dataclass(frozen=True, slots=True)
class SalesforceOrg:
    id: str
    name: str = "Salesforce org"
    max_requests: int = 100_000
    used_requests: int = 0
    eac_enabled: bool = True
    session_timeout_minutes: int = 120
    rotate_refresh_tokens: bool = False


@dataclass(frozen=True, slots=True)
class HubSpotPortal:
    id: str
    name: str = "HubSpot portal"
    hub_id: int = 62515
    domain: str = ""
    daily_limit: int = 250_000
    daily_used: int = 0
    interval_max: int = 190  # X-HubSpot-RateLimit-Max, per 10 s window
    interval_remaining: int = 185
    secondly_limit: int = 19
    secondly_remaining: int = 19
    # OAuth calls carry no Daily headers (provider-apis.md §8.7); true sends them, as for a private app.
    daily_headers: bool = False


@dataclass(frozen=True, slots=True)
class DynamicsOrg:
    id: str
    name: str = "Dynamics 365 org"
    url: str = f"{SIMULATOR_PLACEHOLDER}/dynamics"
    throttled_retry_after: float | None = None  # every call answers 429 when set
    throttle_code: str = "0x80072322"
    burst_remaining: int = 5990
    time_remaining_ms: int = 1_195_000


@dataclass(frozen=True, slots=True)
class Orgs:
    salesforce: tuple[SalesforceOrg, ...] = ()
    hubspot: tuple[HubSpotPortal, ...] = ()
    dynamics: tuple[DynamicsOrg, ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    email: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class SyncJobSpec:
    name: str
    tool: str
    interval_minutes: int | None = None
    cron: str | None = None
    duration_minutes: float = 0.0


@dataclass(frozen=True, slots=True)
class GrantSpec:
    role: str
    provider: str
    account: str
    scopes: tuple[str, ...]
    refresh_token: str
    access_token: str = ""  # derived from the refresh token when the scenario gives none
    expires_at: When | None = None  # derived from the provider's token lifetime when None
    instance_url: str = ""
    keeper: str = "chatops"
    id: str = ""


@dataclass(frozen=True, slots=True)
class ConnectionSpec:
    name: str
    owner_email: str
    crm: str
    crm_user_email: str
    mailbox_provider: str
    mailbox_email: str
    calendar_provider: str | None = None
    sync_account: str = ""
    mail_host: str = ""
    calls_per_sync: int = 0
    sync_jobs: tuple[SyncJobSpec, ...] = ()
    grants: tuple[GrantSpec, ...] = ()
    id: str = ""
    expect: str = ""  # the cause a diagnosis should find, or "ok"; not part of the import format
    note: str = ""
    sync_log: tuple[str, ...] = ()  # lines of the sync engine's log; the demo ingests them as sync events


class ScenarioError(ConfigError):
    """A scenario file is malformed; the message names the file, the entry and the field."""


# ---------------------------------------------------------------------------------------------- scenario


def stable_digest(*parts: str, length: int = 24) -> str:
    """A short hex digest that is the same for the same parts in every run."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def stable_uuid(*parts: str) -> str:
    return str(uuid5(NAMESPACE_URL, "chatops-sim:" + ":".join(parts)))


@dataclass(frozen=True, slots=True)
class Scenario:
    """One loaded scenario; immutable. The simulator keeps its own mutable state (issued tokens, usage)."""

    name: str
    description: str
    source: str
    organisation: Organisation
    clients: Mapping[str, Client]
    members: tuple[Member, ...]
    users: tuple[User, ...]
    orgs: Orgs
    contacts: tuple[Contact, ...]
    connections: tuple[ConnectionSpec, ...]
    path: Path | None = None  # the file it was read from, when it was read from one
    # calls per second each provider accepts from all callers together before it answers with its rate-limit
    # error (a token bucket holding one second of calls); a provider not listed has no limit
    rate_limits: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    # answers derived from the (immutable) scenario, kept: the simulator asks them on every call, and each
    # was a scan of every user (bench/fleet.py serves 10,000)
    _derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    @property
    def organisation_name(self) -> str:
        return self.organisation.name

    def user(self, email: str) -> User | None:
        by_email = self._derived.get("by_email")
        if by_email is None:
            by_email = self._derived["by_email"] = {}
            for u in self.users:
                by_email.setdefault(u.email.lower(), u)
        return by_email.get(email.strip().lower())

    def faults_for(self, email: str, provider: str) -> tuple[Fault, ...]:
        user = self.user(email)
        return user.faults_for(provider) if user is not None else ()

    def grants(self) -> Iterator[tuple[ConnectionSpec, GrantSpec]]:
        for connection in self.connections:
            for grant in connection.grants:
                yield connection, grant

    def chat_members(self) -> tuple[Member, ...]:
        """The listed chat members, then every connection owner not listed, in scenario order."""
        members = list(self.members)
        known = {m.email.lower() for m in members}
        for connection in self.connections:
            if connection.owner_email.lower() not in known:
                known.add(connection.owner_email.lower())
                user = self.user(connection.owner_email)
                members.append(Member(connection.owner_email, user.name if user else ""))
        return tuple(members)

    def counterparts(self) -> tuple[Contact, ...]:
        """The CRM contacts: the listed ones, then every outside sender and attendee of the scenario."""
        if "counterparts" in self._derived:
            return self._derived["counterparts"]  # type: ignore[no-any-return]
        known = {
            c.email.lower(): c if c.name else Contact(c.email, display_name(c.email)) for c in self.contacts
        }
        for user in self.users:
            for address in (
                *(m.sender for m in user.messages),
                *(a for e in user.events for a in e.attendees),
            ):
                key = address.lower()
                if key not in known and self.user(key) is None:
                    known[key] = Contact(address, display_name(address))
        self._derived["counterparts"] = tuple(known.values())
        return self._derived["counterparts"]  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ CRM orgs of a user

    def salesforce_org(self, user: User) -> SalesforceOrg:
        return _pick(self.orgs.salesforce, user.crm_org) or SalesforceOrg(id="default")

    def hubspot_portal(self, user: User) -> HubSpotPortal:
        return _pick(self.orgs.hubspot, user.crm_org) or HubSpotPortal(
            id="default", domain=self.organisation.domain
        )

    def dynamics_org(self, user: User) -> DynamicsOrg:
        return _pick(self.orgs.dynamics, user.crm_org) or DynamicsOrg(id="default")

    def org_users(self, provider: str, org_id: str) -> tuple[User, ...]:
        """The users with a grant for this CRM whose org is org_id."""
        key = ("org_users", provider, org_id)
        if key not in self._derived:
            accounts = {g.account.lower() for _, g in self.grants() if g.provider == provider}
            self._derived[key] = tuple(
                u for u in self.users if u.email.lower() in accounts and self.org_id(provider, u) == org_id
            )
        return self._derived[key]  # type: ignore[no-any-return]

    def org_id(self, provider: str, user: User) -> str:
        """The id of the user's org at this CRM."""
        if provider == "salesforce":
            return self.salesforce_org(user).id
        if provider == "hubspot":
            return self.hubspot_portal(user).id
        return self.dynamics_org(user).id

    # ------------------------------------------------------------------ grants as stored

    def grant_scopes(self, grant: GrantSpec) -> tuple[str, ...]:
        """The grant's scopes without those a `missing_scopes` fault removed (the user unticked them)."""
        missing = {
            scope_key(s)
            for f in self.faults_for(grant.account, grant.provider)
            if f.name == "missing_scopes"
            for s in f.texts("scopes")
        }
        return tuple(s for s in grant.scopes if scope_key(s) not in missing)

    def grant_access_token(self, grant: GrantSpec) -> str:
        return grant.access_token or derived_access_token(
            grant.provider, grant.refresh_token or grant.account
        )

    def grant_expiry(self, grant: GrantSpec, now: datetime) -> datetime:
        """When the stored access token expires; in the past when a fault made it unusable."""
        user = self.user(grant.account)
        if grant.expires_at is not None:
            expiry = grant.expires_at.resolve(now)
        elif grant.provider == "salesforce" and user is not None:
            expiry = now + timedelta(minutes=self.salesforce_org(user).session_timeout_minutes)
        else:
            expiry = now + timedelta(seconds=TOKEN_LIFETIME_S.get(grant.provider, 3600))
        if any(f.name in _DEAD_TOKEN_FAULTS for f in self.faults_for(grant.account, grant.provider)):
            expiry = min(expiry, now - timedelta(minutes=15))
        return expiry

    def connection_records(self, base_url: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """The connections in `chatops connections import` format, bound to a running simulator."""
        moment = now or datetime.now(UTC)
        base = base_url.rstrip("/")
        records = []
        for c in self.connections:
            record: dict[str, Any] = {"id": c.id} if c.id else {}
            record.update(
                {
                    "name": c.name,
                    "owner_email": c.owner_email,
                    "crm": c.crm,
                    "crm_user_email": c.crm_user_email,
                    "mailbox_provider": c.mailbox_provider,
                    "mailbox_email": c.mailbox_email,
                    "calendar_provider": c.calendar_provider,
                    "sync_account": c.sync_account,
                    "mail_host": c.mail_host,
                    "calls_per_sync": c.calls_per_sync,
                    "sync_jobs": [_job_record(j) for j in c.sync_jobs],
                    "grants": [self._grant_record(g, moment) for g in c.grants],
                }
            )
            records.append(bind(record, base))
        return records

    def _grant_record(self, grant: GrantSpec, now: datetime) -> dict[str, Any]:
        record: dict[str, Any] = {"id": grant.id} if grant.id else {}
        record.update(
            {
                "role": grant.role,
                "provider": grant.provider,
                "account": grant.account,
                "scopes": list(self.grant_scopes(grant)),
                "refresh_token": grant.refresh_token,
                "access_token": self.grant_access_token(grant),
                "expires_at": iso_z(self.grant_expiry(grant, now)),
                "instance_url": grant.instance_url,
                "keeper": grant.keeper,
            }
        )
        return record


def _pick(orgs: tuple[Any, ...], wanted: str) -> Any:
    if not orgs:
        return None
    return next((o for o in orgs if o.id == wanted), orgs[0])


def _job_record(job: SyncJobSpec) -> dict[str, Any]:
    record: dict[str, Any] = {"name": job.name, "tool": job.tool}
    if job.cron:
        record["cron"] = job.cron
    else:
        record["interval_minutes"] = job.interval_minutes
    record["duration_minutes"] = job.duration_minutes
    return record


def bind(value: Any, base_url: str) -> Any:
    """`{simulator}` replaced by base_url in every string of value."""
    if isinstance(value, str):
        return value.replace(SIMULATOR_PLACEHOLDER, base_url.rstrip("/"))
    if isinstance(value, list):
        return [bind(v, base_url) for v in value]
    if isinstance(value, dict):
        return {k: bind(v, base_url) for k, v in value.items()}
    return value


def bind_text(text: str, base_url: str) -> str:
    """`{simulator}` in one string replaced by base_url."""
    return text.replace(SIMULATOR_PLACEHOLDER, base_url.rstrip("/"))


def display_name(address: str) -> str:
    """A plausible name for an address: "gina.lopez@globex.example" -> "Gina Lopez"."""
    return address.split("@")[0].replace(".", " ").replace("_", " ").title()


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scope_key(scope: str) -> str:
    """A scope's comparable name: "https://graph.microsoft.com/Mail.Read" and "Mail.Read" are the same scope.

    Google's full-access "https://mail.google.com/" keeps its whole URL, since it has no name after the slash.
    """
    text = scope.strip().lower()
    if "://" in text and not text.endswith("/"):
        text = text.rsplit("/", 1)[1]
    return text


def derived_access_token(provider: str, seed: str) -> str:
    """An opaque access token in the provider's usual look, the same for the same seed."""
    digest = stable_digest(provider, seed, "access", length=32)
    return {
        "google": f"ya29.sim-{digest}",
        "microsoft": f"EwB4A8l6sim-{digest}",
        "salesforce": f"00Dsim{digest[:9].upper()}!AQ0-sim-{digest}",
        "hubspot": f"CKsim-{digest}",
        "dynamics": f"EwB4A8l6sim-dyn-{digest}",
    }.get(provider, f"sim-{digest}")


# ---------------------------------------------------------------------------------------------- loading


def builtin_scenarios() -> tuple[str, ...]:
    """The names of the scenarios shipped in adapters/sandbox/scenarios/."""
    folder = files("adapters.sandbox") / "scenarios"
    return tuple(sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")))


def load_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name ("demo"), else a YAML or JSON file by path."""
    builtin = files("adapters.sandbox") / "scenarios" / f"{name_or_path}.yaml"
    if re.fullmatch(r"[a-z0-9_-]+", name_or_path) and builtin.is_file():
        loaded = parse_scenario(builtin.read_text(encoding="utf-8"), source=f"{name_or_path}.yaml")
        on_disk = Path(str(builtin))
        return replace(loaded, path=on_disk) if on_disk.is_file() else loaded
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioError(
            f"{name_or_path}: no such scenario: not a built-in name "
            f"({', '.join(builtin_scenarios())}) and not a file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot be read ({exc})") from exc
    return replace(parse_scenario(text, source=str(path)), path=path)


def parse_scenario(text: str, *, source: str = "<scenario>") -> Scenario:
    """A scenario from YAML or JSON text; source names the file in error messages."""
    try:
        data = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(
            f"{source}: not valid {'JSON' if source.endswith('.json') else 'YAML'} ({exc})"
        ) from exc
    return _Parser(source).scenario(data)


_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Entry:
    """One mapping of the scenario file, named for error messages: "users[2] (chloe@acme.example)"."""

    def __init__(self, source: str, where: str, data: Any, allowed: Iterable[str]) -> None:
        self.source = source
        self.where = where
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{source}: {where}: must be a mapping, not {_kind(data)}")
        self.data: Mapping[str, Any] = data
        allowed = tuple(allowed)
        for key in data:
            if key not in allowed:
                self.fail(str(key), f"unknown field; expected one of {', '.join(allowed)}")

    def fail(self, name: str, problem: str) -> NoReturn:
        raise ScenarioError(f"{self.source}: {self.where}: {name}: {problem}")

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def text(self, name: str, default: str | None = None) -> str:
        value = self.data.get(name)
        if value is None or value == "":
            if default is None:
                self.fail(name, "required field missing")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.fail(name, f"must be text, not {_kind(value)}")
        return str(value)

    def email(self, name: str, default: str | None = None) -> str:
        value = self.text(name, default).strip()
        if value and not _EMAIL.match(value):
            self.fail(name, f"{value!r} is not an email address")
        return value

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str:
        options = tuple(choices)
        value = self.text(name, default)
        if value not in options:
            self.fail(name, f"unknown value {value!r}; expected one of {', '.join(options)}")
        return value

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0) -> int:
        value = self.data.get(name)
        if value is None:
            if default is None:
                self.fail(name, "required field missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(name, f"must be a whole number of at least {minimum}, not {value!r}")
        return value

    def number(self, name: str, default: float | None = None, *, minimum: float = 0.0) -> float:
        value = self.data.get(name)
        if value is None:
            if default is None:
                self.fail(name, "required field missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.fail(name, f"must be a number of at least {minimum:g}, not {value!r}")
        return float(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, f"must be true or false, not {value!r}")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(value.split())
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, "must be a list of text")
        return tuple(value)

    def items(self, name: str) -> list[tuple[int, Any]]:
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(name, f"must be a list, not {_kind(value)}")
        return list(enumerate(value))

    def when(self, name: str, default: When | None = None) -> When | None:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, datetime):
            return When(at=value if value.tzinfo else value.replace(tzinfo=UTC))
        if isinstance(value, date):
            return When(at=datetime(value.year, value.month, value.day, tzinfo=UTC))
        if not isinstance(value, str):
            self.fail(name, f"must be an ISO-8601 time or an offset such as -2h, not {_kind(value)}")
        text = value.strip()
        if text == "now":
            return When()
        match = _RELATIVE.match(text)
        if match:
            sign = -1 if match.group(1) == "-" else 1
            return When(offset=timedelta(seconds=sign * float(match.group(2)) * _UNITS[match.group(3)]))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            self.fail(name, f"{value!r} is neither an ISO-8601 time nor an offset such as -2h or +1d")
        return When(at=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "empty"}.get(
        type(value), type(value).__name__
    )


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def entry(self, where: str, data: Any, allowed: Iterable[str]) -> _Entry:
        return _Entry(self.source, where, data, allowed)

    def scenario(self, data: Any) -> Scenario:
        top = self.entry(
            "scenario",
            data,
            (
                "name",
                "description",
                "organisation",
                "clients",
                "members",
                "users",
                "orgs",
                "contacts",
                "connections",
                "rate_limits",
            ),
        )
        organisation = self.organisation(top.data.get("organisation"))
        users = tuple(self.user(i, raw) for i, raw in top.items("users"))
        emails = [u.email.lower() for u in users]
        for index, email in enumerate(emails):
            if email in emails[:index]:
                raise ScenarioError(
                    f"{self.source}: users[{index}] ({email}): email: another user has this email"
                )
        orgs = self.orgs(top.data.get("orgs"))
        scenario = Scenario(
            name=top.text("name"),
            description=top.text("description", ""),
            source=self.source,
            organisation=organisation,
            clients=self.clients(top.data.get("clients")),
            members=tuple(self.member(i, raw) for i, raw in top.items("members")),
            users=users,
            orgs=orgs,
            contacts=tuple(self.contact(i, raw) for i, raw in top.items("contacts")),
            connections=tuple(self.connection(i, raw) for i, raw in top.items("connections")),
            rate_limits=self.rate_limits(top.data.get("rate_limits")),
        )
        self.cross_check(scenario)
        return scenario

    def rate_limits(self, data: Any) -> Mapping[str, float]:
        entry = self.entry("rate_limits", data if data is not None else {}, PROVIDERS)
        return MappingProxyType({p: entry.number(p, minimum=1.0) for p in PROVIDERS if entry.has(p)})

    def organisation(self, data: Any) -> Organisation:
        entry = self.entry("organisation", data if data is not None else {}, ("name", "domain", "tenant_id"))
        domain = entry.text("domain", "example.com")
        return Organisation(
            name=entry.text("name"),
            domain=domain,
            tenant_id=entry.text("tenant_id", stable_uuid("tenant", domain)),
        )

    def clients(self, data: Any) -> Mapping[str, Client]:
        entry = self.entry("clients", data if data is not None else {}, PROVIDERS)
        clients = {}
        for provider in PROVIDERS:
            raw = entry.data.get(provider) or {}
            item = self.entry(f"clients.{provider}", raw, ("client_id", "client_secret"))
            clients[provider] = Client(
                item.text("client_id", f"sim-{provider}-client-id"),
                item.text("client_secret", f"sim-{provider}-client-secret"),
            )
        return MappingProxyType(clients)

    def member(self, index: int, data: Any) -> Member:
        entry = self.entry(f"members[{index}]", data, ("email", "name", "admin"))
        return Member(entry.email("email"), entry.text("name", ""), entry.boolean("admin", False))

    def contact(self, index: int, data: Any) -> Contact:
        entry = self.entry(f"contacts[{index}]", data, ("email", "name"))
        return Contact(entry.email("email"), entry.text("name", ""))

    # ------------------------------------------------------------------ users

    def user(self, index: int, data: Any) -> User:
        label = data.get("email") if isinstance(data, Mapping) else None
        where = f"users[{index}]" + (f" ({label})" if label else "")
        entry = self.entry(
            where,
            data,
            (
                "email",
                "name",
                "aliases",
                "upn",
                "mailbox_timezone",
                "working_hours_timezone",
                "calendar_timezone",
                "crm_timezone",
                "crm_email",
                "crm_org",
                "crm_active",
                "calendar_shares",
                "messages",
                "events",
                "eac_status",
                "dynamics_mailbox",
                "faults",
            ),
        )
        email = entry.email("email")
        aliases = entry.texts("aliases")
        for alias in aliases:
            if not _EMAIL.match(alias):
                entry.fail("aliases", f"{alias!r} is not an email address")
        return User(
            email=email,
            name=entry.text("name", email.split("@")[0].title()),
            aliases=aliases,
            upn=entry.email("upn", ""),
            mailbox_timezone=entry.text("mailbox_timezone", "UTC"),
            working_hours_timezone=entry.text("working_hours_timezone", ""),
            calendar_timezone=entry.text("calendar_timezone", ""),
            crm_timezone=entry.text("crm_timezone", "UTC"),
            crm_email=entry.email("crm_email", ""),
            crm_org=entry.text("crm_org", ""),
            crm_active=entry.boolean("crm_active", True),
            calendar_shares=tuple(self.share(where, i, raw) for i, raw in entry.items("calendar_shares")),
            messages=tuple(self.message(where, email, i, raw) for i, raw in entry.items("messages")),
            events=tuple(self.event(where, email, i, raw) for i, raw in entry.items("events")),
            eac_status=self.eac(where, entry.data.get("eac_status")),
            dynamics_mailbox=self.dynamics_mailbox(where, entry.data.get("dynamics_mailbox")),
            faults=tuple(self.fault(where, i, raw) for i, raw in entry.items("faults")),
        )

    def share(self, where: str, index: int, data: Any) -> Share:
        entry = self.entry(f"{where}.calendar_shares[{index}]", data, ("grantee", "role"))
        return Share(entry.text("grantee"), entry.choice("role", SHARE_ROLES))

    def message(self, where: str, email: str, index: int, data: Any) -> Message:
        entry = self.entry(f"{where}.messages[{index}]", data, ("id", "subject", "from", "received"))
        received = entry.when("received", When(offset=timedelta(minutes=-30)))
        assert received is not None
        return Message(
            entry.text("id", stable_digest(email, "message", str(index), length=16)),
            entry.text("subject", ""),
            entry.email("from"),
            received,
        )

    def event(self, where: str, email: str, index: int, data: Any) -> Event:
        entry = self.entry(
            f"{where}.events[{index}]", data, ("id", "subject", "start", "duration_minutes", "attendees")
        )
        start = entry.when("start", When(offset=timedelta(days=1)))
        assert start is not None
        return Event(
            entry.text("id", stable_digest(email, "event", str(index), length=16)),
            entry.text("subject", ""),
            start,
            entry.integer("duration_minutes", 60, minimum=1),
            entry.texts("attendees"),
        )

    def eac(self, where: str, data: Any) -> EacStatus:
        if data is None:
            return EacStatus()
        if isinstance(data, str):
            data = {"status": data}
        entry = self.entry(f"{where}.eac_status", data, ("status", "configuration", "title", "description"))
        status = entry.choice("status", EAC_STATUSES, "ACTIVE")
        return EacStatus(
            status,
            entry.text("configuration", "Sales Team Capture"),
            entry.text("title", _EAC_TITLES.get(status, "")),
            entry.text("description", ""),
        )

    def dynamics_mailbox(self, where: str, data: Any) -> DynamicsMailbox:
        if data is None:
            return DynamicsMailbox()
        entry = self.entry(
            f"{where}.dynamics_mailbox",
            data,
            ("incoming", "outgoing", "act", "approval", "active", "last_error", "last_success", "alerts"),
        )
        alerts = []
        for i, raw in entry.items("alerts"):
            alert = self.entry(
                f"{where}.dynamics_mailbox.alerts[{i}]", raw, ("level", "code", "text", "created", "modified")
            )
            created = alert.when("created", When(offset=timedelta(days=-2)))
            assert created is not None
            alerts.append(
                Alert(
                    alert.choice("level", ALERT_LEVELS, "error"),
                    alert.integer("code", 0),
                    alert.text("text"),
                    created,
                    alert.when("modified", created) or created,
                )
            )
        last_success = entry.when("last_success", When(offset=timedelta(minutes=-4)))
        assert last_success is not None
        return DynamicsMailbox(
            incoming=entry.choice("incoming", SYNC_STATUSES, "success"),
            outgoing=entry.choice("outgoing", SYNC_STATUSES, "success"),
            act=entry.choice("act", SYNC_STATUSES, "success"),
            approval=entry.choice("approval", APPROVALS, "approved"),
            active=entry.boolean("active", True),
            last_error=entry.text("last_error", ""),
            last_success=last_success,
            alerts=tuple(alerts),
        )

    def fault(self, where: str, index: int, data: Any) -> Fault:
        here = f"{where}.faults[{index}]"
        if isinstance(data, str):
            data = {data: None}
        if not isinstance(data, Mapping):
            raise ScenarioError(
                f"{self.source}: {here}: must be a fault name or a mapping such as "
                f"{{rate_limited: {{retry_after: 30}}, provider: hubspot}}"
            )
        names = [k for k in data if k != "provider"]
        if len(names) != 1:
            raise ScenarioError(
                f"{self.source}: {here}: fault: give exactly one fault name besides `provider`, "
                f"got {', '.join(map(str, names)) or 'none'}"
            )
        name = str(names[0])
        kind = FAULTS.get(name)
        if kind is None:
            raise ScenarioError(
                f"{self.source}: {here}: fault: unknown fault {name!r}; expected one of {', '.join(FAULTS)}"
            )
        here = f"{here} ({name})"
        provider = data.get("provider")
        if provider is not None and provider not in PROVIDERS:
            raise ScenarioError(
                f"{self.source}: {here}: provider: unknown provider {provider!r}; expected one of "
                f"{', '.join(PROVIDERS)}"
            )
        if provider is not None and provider not in kind.providers:
            raise ScenarioError(
                f"{self.source}: {here}: provider: {name} does not apply to {provider}; it applies "
                f"to {', '.join(kind.providers)}"
            )
        raw = data[name]
        if raw is True:
            raw = None
        if raw is not None and not isinstance(raw, Mapping):
            if not kind.shorthand:
                raise ScenarioError(f"{self.source}: {here}: {name}: takes no value, got {raw!r}")
            raw = {kind.shorthand: raw}
        entry = self.entry(here, raw or {}, kind.params)
        params: dict[str, Any] = {}
        for key, spec in kind.params.items():
            params[key] = self.param(entry, key, spec)
        return Fault(name, provider, MappingProxyType(params))

    def param(self, entry: _Entry, key: str, spec: Param) -> Any:
        if spec.required and not entry.has(key):
            entry.fail(key, "required field missing")
        value: Any
        if spec.kind == "number":
            value = entry.number(key, spec.default)
        elif spec.kind == "int":
            value = entry.integer(key, spec.default)
        elif spec.kind == "texts":
            value = entry.texts(key)
            if spec.required and not value:
                entry.fail(key, "must list at least one value")
        else:
            value = entry.text(key, spec.default)
        if spec.choices and value not in spec.choices:
            entry.fail(key, f"unknown value {value!r}; expected one of {', '.join(map(str, spec.choices))}")
        return value

    # ------------------------------------------------------------------ orgs

    def orgs(self, data: Any) -> Orgs:
        entry = self.entry("orgs", data if data is not None else {}, CRMS)

        def listed(key: str) -> list[tuple[int, Any]]:
            value = entry.data.get(key)
            return [(0, value)] if isinstance(value, Mapping) else entry.items(key)

        return Orgs(
            salesforce=tuple(self.salesforce_org(i, raw) for i, raw in listed("salesforce")),
            hubspot=tuple(self.hubspot_portal(i, raw) for i, raw in listed("hubspot")),
            dynamics=tuple(self.dynamics_org(i, raw) for i, raw in listed("dynamics")),
        )

    def salesforce_org(self, index: int, data: Any) -> SalesforceOrg:
        where = _labelled(f"orgs.salesforce[{index}]", data, "id")
        entry = self.entry(
            where,
            data,
            (
                "id",
                "name",
                "daily_api_requests",
                "eac_enabled",
                "session_timeout_minutes",
                "rotate_refresh_tokens",
            ),
        )
        usage = self.entry(
            f"{where}.daily_api_requests", entry.data.get("daily_api_requests") or {}, ("max", "used")
        )
        maximum = usage.integer("max", 100_000, minimum=1)
        used = usage.integer("used", 0)
        return SalesforceOrg(
            entry.text("id"),
            entry.text("name", "Salesforce org"),
            maximum,
            used,
            entry.boolean("eac_enabled", True),
            entry.integer("session_timeout_minutes", 120, minimum=1),
            entry.boolean("rotate_refresh_tokens", False),
        )

    def hubspot_portal(self, index: int, data: Any) -> HubSpotPortal:
        where = _labelled(f"orgs.hubspot[{index}]", data, "id")
        entry = self.entry(
            where,
            data,
            ("id", "name", "hub_id", "domain", "daily", "ten_secondly", "secondly", "daily_headers"),
        )
        daily = self.entry(f"{where}.daily", entry.data.get("daily") or {}, ("limit", "used"))
        interval = self.entry(
            f"{where}.ten_secondly", entry.data.get("ten_secondly") or {}, ("max", "remaining")
        )
        secondly = self.entry(f"{where}.secondly", entry.data.get("secondly") or {}, ("limit", "remaining"))
        portal_id = entry.text("id")
        return HubSpotPortal(
            id=portal_id,
            name=entry.text("name", "HubSpot portal"),
            hub_id=entry.integer(
                "hub_id", 60_000 + int(stable_digest("hub", portal_id, length=4), 16) % 9_000
            ),
            domain=entry.text("domain", ""),
            daily_limit=daily.integer("limit", 250_000, minimum=1),
            daily_used=daily.integer("used", 0),
            interval_max=interval.integer("max", 190, minimum=1),
            interval_remaining=interval.integer("remaining", 185),
            secondly_limit=secondly.integer("limit", 19, minimum=1),
            secondly_remaining=secondly.integer("remaining", 19),
            daily_headers=entry.boolean("daily_headers", False),
        )

    def dynamics_org(self, index: int, data: Any) -> DynamicsOrg:
        where = _labelled(f"orgs.dynamics[{index}]", data, "id")
        entry = self.entry(
            where, data, ("id", "name", "url", "throttling", "burst_remaining", "time_remaining_ms")
        )
        retry_after: float | None = None
        code = "0x80072322"
        if entry.has("throttling"):
            throttling = self.entry(f"{where}.throttling", entry.data["throttling"], ("retry_after", "code"))
            retry_after = throttling.number("retry_after", 30.0)
            code = throttling.choice("code", DATAVERSE_THROTTLES, code)
        return DynamicsOrg(
            entry.text("id"),
            entry.text("name", "Dynamics 365 org"),
            entry.text("url", f"{SIMULATOR_PLACEHOLDER}/dynamics"),
            retry_after,
            code,
            entry.integer("burst_remaining", 5990),
            entry.integer("time_remaining_ms", 1_195_000),
        )

    # ------------------------------------------------------------------ connections

    def connection(self, index: int, data: Any) -> ConnectionSpec:
        where = _labelled(f"connections[{index}]", data, "name")
        entry = self.entry(
            where,
            data,
            (
                "id",
                "name",
                "owner_email",
                "crm",
                "crm_user_email",
                "mailbox_provider",
                "mailbox_email",
                "calendar_provider",
                "sync_account",
                "mail_host",
                "calls_per_sync",
                "sync_jobs",
                "grants",
                "expect",
                "note",
                "sync_log",
            ),
        )
        crm = entry.choice("crm", CRMS)
        mailbox_provider = entry.choice("mailbox_provider", MAILBOX_PROVIDERS)
        calendar_provider = (
            entry.choice("calendar_provider", CALENDAR_PROVIDERS) if entry.has("calendar_provider") else None
        )
        mail_host = entry.text("mail_host", "")
        if mailbox_provider == "imap" and not mail_host:
            entry.fail("mail_host", "required field missing for an imap mailbox")
        crm_user_email = entry.email("crm_user_email")
        jobs = tuple(self.job(where, i, raw) for i, raw in entry.items("sync_jobs"))
        grants = tuple(self.grant(where, i, raw) for i, raw in entry.items("grants"))
        expected_provider = {"crm": crm, "mail": mailbox_provider, "calendar": calendar_provider}
        roles: list[str] = []
        for i, grant in enumerate(grants):
            if grant.role in roles:
                raise ScenarioError(f"{self.source}: {where}.grants[{i}]: role: a second {grant.role} grant")
            roles.append(grant.role)
            if grant.provider != expected_provider[grant.role]:
                raise ScenarioError(
                    f"{self.source}: {where}.grants[{i}]: provider: a {grant.role} grant of this "
                    f"connection must be {expected_provider[grant.role] or 'absent'}, "
                    f"not {grant.provider}"
                )
        return ConnectionSpec(
            id=entry.text("id", ""),
            name=entry.text("name"),
            owner_email=entry.email("owner_email", crm_user_email),
            crm=crm,
            crm_user_email=crm_user_email,
            mailbox_provider=mailbox_provider,
            mailbox_email=entry.email("mailbox_email"),
            calendar_provider=calendar_provider,
            sync_account=entry.email("sync_account", ""),
            mail_host=mail_host,
            calls_per_sync=entry.integer("calls_per_sync", 0),
            sync_jobs=jobs,
            grants=grants,
            expect=entry.choice("expect", EXPECTATIONS) if entry.has("expect") else "",
            note=entry.text("note", ""),
            sync_log=entry.texts("sync_log"),
        )

    def job(self, where: str, index: int, data: Any) -> SyncJobSpec:
        entry = self.entry(
            f"{where}.sync_jobs[{index}]",
            data,
            ("name", "tool", "interval_minutes", "cron", "duration_minutes"),
        )
        interval = entry.integer("interval_minutes", minimum=1) if entry.has("interval_minutes") else None
        cron = entry.text("cron", "") or None
        if (interval is None) == (cron is None):
            entry.fail("interval_minutes", "give exactly one of interval_minutes or cron")
        return SyncJobSpec(
            entry.text("name"),
            entry.text("tool", "sync"),
            interval,
            cron,
            entry.number("duration_minutes", 0.0),
        )

    def grant(self, where: str, index: int, data: Any) -> GrantSpec:
        entry = self.entry(
            f"{where}.grants[{index}]",
            data,
            (
                "id",
                "role",
                "provider",
                "account",
                "scopes",
                "refresh_token",
                "access_token",
                "expires_at",
                "instance_url",
                "keeper",
            ),
        )
        role = entry.choice("role", ROLES)
        provider = entry.choice("provider", PROVIDERS)
        keeper = entry.choice("keeper", KEEPERS, "chatops")
        default_instance = {
            "salesforce": f"{SIMULATOR_PLACEHOLDER}/salesforce",
            "dynamics": f"{SIMULATOR_PLACEHOLDER}/dynamics",
        }.get(provider, "")
        return GrantSpec(
            role=role,
            provider=provider,
            account=entry.email("account"),
            scopes=entry.texts("scopes") or DEFAULT_SCOPES.get((provider, role), ()),
            refresh_token=entry.text("refresh_token", None if keeper == "chatops" else ""),
            access_token=entry.text("access_token", ""),
            expires_at=entry.when("expires_at"),
            instance_url=entry.text("instance_url", default_instance),
            keeper=keeper,
            id=entry.text("id", ""),
        )

    def cross_check(self, scenario: Scenario) -> None:
        """Rules that span entries: grant accounts are users; a refresh token belongs to one account."""
        owners: dict[str, tuple[str, str]] = {}
        names: set[str] = set()
        for index, connection in enumerate(scenario.connections):
            where = f"connections[{index}] ({connection.name})"
            if connection.name in names:
                raise ScenarioError(f"{self.source}: {where}: name: another connection has this name")
            names.add(connection.name)
            for g_index, grant in enumerate(connection.grants):
                here = f"{where}.grants[{g_index}]"
                if scenario.user(grant.account) is None:
                    raise ScenarioError(
                        f"{self.source}: {here}: account: {grant.account} is not one of the scenario's users"
                    )
                if not grant.refresh_token:
                    continue
                owner = (
                    grant.provider if grant.provider not in ("microsoft", "dynamics") else "microsoft",
                    grant.account.lower(),
                )
                if owners.setdefault(grant.refresh_token, owner) != owner:
                    raise ScenarioError(
                        f"{self.source}: {here}: refresh_token: already used by another account or provider"
                    )
        for index, user in enumerate(scenario.users):
            if not user.crm_org:
                continue
            orgs = scenario.orgs
            known = (
                {o.id for o in orgs.salesforce} | {o.id for o in orgs.hubspot} | {o.id for o in orgs.dynamics}
            )
            if user.crm_org not in known:
                raise ScenarioError(
                    f"{self.source}: users[{index}] ({user.email}): crm_org: unknown org "
                    f"{user.crm_org!r}; expected one of {', '.join(sorted(known)) or '(none)'}"
                )


def _labelled(where: str, data: Any, key: str) -> str:
    label = data.get(key) if isinstance(data, Mapping) else None
    return f"{where} ({label})" if label else where


SHARE_ROLES: Final = (
    # Google Calendar ACL roles (provider-apis.md G9)
    "none",
    "freeBusyReader",
    "reader",
    "writer",
    "owner",
    # Graph calendarPermission roles (provider-apis.md M4)
    "freeBusyRead",
    "limitedRead",
    "read",
    "write",
    "delegateWithoutPrivateEventAccess",
    "delegateWithPrivateEventAccess",
    "custom",
)
EAC_STATUSES: Final = (
    "ACTIVE",
    "DISABLED",
    "INITIALIZING",
    "NEEDSATTENTION",
    "NEEDSATTENTIONGLOBAL",
    "NEEDSATTENTIONHYBRID",
    "PENDING",
    "PROCESSING",
)
_EAC_TITLES: Final = {
    "NEEDSATTENTION": "Reconnect your email account",
    "NEEDSATTENTIONGLOBAL": "Ask your admin to reconnect the org's email connection",
    "NEEDSATTENTIONHYBRID": "Reconnect your email account and ask your admin to reconnect the org",
}
SYNC_STATUSES: Final = ("not_run", "success", "failure")
APPROVALS: Final = ("empty", "approved", "pending", "rejected")
ALERT_LEVELS: Final = ("information", "warning", "error")
DATAVERSE_THROTTLES: Final = ("0x80072322", "0x80072321", "0x80072326")
