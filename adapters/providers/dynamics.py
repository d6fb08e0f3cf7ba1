"""Dynamics 365 / Dataverse: identity-platform token, systemusers, mailbox sync state and alerts, tasks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from adapters.providers.errors import expect_json, field, raise_for_status, translate
from adapters.providers.oauth import refresh_token, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, ConfigError, PermissionDenied, ProviderError
from chatops.model import Grant, GrantRole, Provider
from chatops.ports import (
    Clock,
    CrmUser,
    Endpoint,
    MailSyncStatus,
    ProbeKind,
    QuotaUsage,
    SyncState,
    TokenSet,
    UsageWindow,
)

PROVIDER: Final = Provider.DYNAMICS.value
KEEPER_LABEL: Final = "Server-side synchronization"
API_PATH: Final = "/api/data/v9.2"

# Dataverse has a single delegated scope. Scopes are qualified by the org URL
# ("https://acme.crm.dynamics.com/user_impersonation"), which required_scopes(role) cannot know, so
# TokenSet.scopes carries the short names of the org's scopes. `offline_access` is requested but never
# echoed back by the identity platform, so it is not required.
CRM_SCOPES: Final = frozenset({"user_impersonation"})

ODATA_HEADERS: Final[Mapping[str, str]] = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
}
FORMATTED: Final = "@OData.Community.Display.V1.FormattedValue"

# Service protection limits per user, per web server, over a sliding 5 minutes (api-limits). The
# remaining-budget headers give no limit; Microsoft documents them "for debugging purposes" only.
BURST_HEADER: Final = "x-ms-ratelimit-burst-remaining-xrm-requests"
TIME_HEADER: Final = "x-ms-ratelimit-time-remaining-xrm-requests"
REQUESTS_PER_WINDOW: Final = 6000
EXECUTION_SECONDS_PER_WINDOW: Final = 1200

# mailbox option sets (provider-apis.md D4)
_SSS_MAIL: Final = 2  # incoming/outgoingemaildeliverymethod: Server-Side Synchronization or Email Router
_SSS_ACT: Final = 1  # actdeliverymethod: Server-Side Synchronization
_RUN_STATES: Final[Mapping[int, SyncState]] = {0: SyncState.PENDING, 1: SyncState.OK, 2: SyncState.FAILING}
_APPROVED: Final = 1
_APPROVAL_LABELS: Final[Mapping[int, str]] = {0: "Empty", 1: "Approved", 2: "Pending Approval", 3: "Rejected"}
_TRACE_ERROR, _TRACE_WARNING = 3, 2
_MAILBOX_COLUMNS: Final = (
    "mailboxid,name,emailaddress,emailrouteraccessapproval,incomingemaildeliverymethod,"
    "outgoingemaildeliverymethod,actdeliverymethod,incomingemailstatus,outgoingemailstatus,actstatus,"
    "mailboxstatus,enabledforincomingemail,enabledforoutgoingemail,enabledforact,"
    "lastsuccessfulsynccompletedon,statecode"
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def odata_literal(value: str) -> str:
    """A quoted OData string literal: a single quote is doubled (httpx then percent-encodes the rest)."""
    return "'" + value.replace("'", "''") + "'"


def rate_limit_usage(headers: httpx.Headers | Mapping[str, str]) -> tuple[QuotaUsage, ...]:
    """Service-protection budget from the x-ms-ratelimit-* headers; () when they are absent.

    The time header is seconds with a thousands separator ("1,200.00"), so it is not a plain float.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    usage: list[QuotaUsage] = []
    for name, limit, label in ((BURST_HEADER, REQUESTS_PER_WINDOW, "requests per 5 minutes"),
                               (TIME_HEADER, EXECUTION_SECONDS_PER_WINDOW, "execution time per 5 minutes")):
        remaining = _number(lowered.get(name))
        if remaining is None:
            continue
        limit = max(limit, remaining)  # the documented limits can change; never report negative use
        usage.append(QuotaUsage(name, used=limit - remaining, limit=limit, window=UsageWindow.BURST, label=label))
    return tuple(usage)


def endpoints(settings: ProviderSettings, *, org_urls: Iterable[str] = ()) -> tuple[Endpoint, ...]:
    """Microsoft sign-in (the token) and the configured org, plus any org URLs the grants name."""
    named = [("Microsoft sign-in", settings.microsoft_login_url)]
    named += [("Dynamics 365 org", url) for url in (settings.dynamics_url, *org_urls) if url]
    seen: dict[tuple[str, int], Endpoint] = {}
    for name, url in named:
        parts = urlsplit(url)
        plain = parts.scheme == "http"
        endpoint = Endpoint(
            name=name, host=parts.hostname or "", port=parts.port or (80 if plain else 443),
            kind=ProbeKind.HTTP if plain else ProbeKind.HTTPS, provider=Provider.DYNAMICS,
            expected_issuers=() if plain else ("Microsoft", "DigiCert"),
        )
        seen.setdefault((endpoint.host, endpoint.port), endpoint)
    return tuple(seen.values())


class DynamicsClient:
    """OAuthApi and CrmApi for Dynamics 365 (Dataverse Web API v9.2); the grant's instance_url is the org."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------------ OAuthApi

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return CRM_SCOPES if role is GrantRole.CRM else frozenset()

    async def refresh(self, grant: Grant) -> TokenSet:
        """D1: the identity platform, scoped to the org; AADSTS codes become AuthError codes."""
        if not grant.refresh_token:
            raise AuthError(PROVIDER, "no refresh token is stored for this grant", code="no_refresh_token")
        org = self._org(grant)
        body = await refresh_token(
            self._http,
            token_url=f"{self._settings.microsoft_login_url}/{self._settings.microsoft_tenant}/oauth2/v2.0/token",
            client_id=self._settings.dynamics_client_id,
            client_secret=self._settings.dynamics_client_secret.get_secret_value(),
            refresh_token=grant.refresh_token.reveal(),
            provider=PROVIDER,
            scope=f"{org}/user_impersonation offline_access",
        )
        token = token_set(body, now=self._clock.now(), scopes_fallback=grant.scopes)
        return replace(token, scopes=short_scopes(token.scopes, org), instance_url=org)

    # ------------------------------------------------------------------ CrmApi

    async def user(self, grant: Grant, token: str, email: str) -> CrmUser | None:
        """The systemuser whose Primary Email (internalemailaddress, what server-side sync uses) matches."""
        body = await self._get(grant, token, "/systemusers", {
            "$filter": f"internalemailaddress eq {odata_literal(email)}",
            "$select": "systemuserid,fullname,internalemailaddress,domainname,isdisabled,accessmode",
            "$top": "10",
        })
        rows = _rows(body)
        if not rows:
            return None
        row = next((r for r in rows if r.get("isdisabled") is False), rows[0])
        user_id = _guid(field(row, "systemuserid", provider=PROVIDER))
        return CrmUser(
            id=user_id,
            email=_text(row, "internalemailaddress"),
            username=_text(row, "domainname"),
            timezone=await self._timezone(grant, token, user_id),
            active=row.get("isdisabled") is not True,
            name=_text(row, "fullname"),
        )

    async def usage(self, grant: Grant, token: str) -> tuple[QuotaUsage, ...]:
        """The budget headers of a WhoAmI call (D2), or () where the org sends none."""
        response = await self._request(grant, token, "GET", "/WhoAmI")
        expect_json(response, PROVIDER)
        return rate_limit_usage(response.headers)

    async def mail_sync_status(self, grant: Grant, token: str, user: CrmUser) -> MailSyncStatus | None:
        """D4 for the user's mailbox, with the newest alert (D5) as last_error; None without a mailbox."""
        body = await self._get(grant, token, "/mailboxes", {
            "$filter": f"_regardingobjectid_value eq {_guid(user.id)}",
            "$select": _MAILBOX_COLUMNS,
            "$top": "1",
        })
        rows = _rows(body)
        if not rows:
            return None
        mailbox = rows[0]
        mailbox_id = _guid(field(mailbox, "mailboxid", provider=PROVIDER))
        approval = mailbox.get("emailrouteraccessapproval")
        approved = approval == _APPROVED
        states = [
            _channel(mailbox, "incomingemaildeliverymethod", _SSS_MAIL, "enabledforincomingemail",
                     "incomingemailstatus"),
            _channel(mailbox, "outgoingemaildeliverymethod", _SSS_MAIL, "enabledforoutgoingemail",
                     "outgoingemailstatus"),
            _channel(mailbox, "actdeliverymethod", _SSS_ACT, "enabledforact", "actstatus"),
        ]
        if mailbox.get("statecode") == 1:  # an inactive mailbox is not processed at all
            states = [SyncState.DISABLED] * 3
        elif not approved:  # server-side sync skips unapproved addresses, whatever the last run said
            states = [SyncState.FAILING if s in (SyncState.OK, SyncState.PENDING) else s for s in states]
        errors: list[str] = []
        if not approved:
            label = mailbox.get(f"emailrouteraccessapproval{FORMATTED}") or _APPROVAL_LABELS.get(
                approval if isinstance(approval, int) else -1, "unknown")
            address = _text(mailbox, "emailaddress") or user.email
            errors.append(
                f"The email address {address} is not approved for server-side synchronization ({label}).")
        if SyncState.FAILING in states or mailbox.get("mailboxstatus") == 2:
            alert = await self._latest_alert(grant, token, mailbox_id)
            if alert:
                errors.append(alert)
        incoming, outgoing, appointments = states
        return MailSyncStatus(
            incoming=incoming, outgoing=outgoing, appointments=appointments,
            last_error=" ".join(errors),
            last_success_at=_parse_time(mailbox.get("lastsuccessfulsynccompletedon")),
            reconnect_url=f"{self._org(grant)}/main.aspx?pagetype=entityrecord&etn=mailbox&id={mailbox_id}",
            keeper_label=KEEPER_LABEL,
        )

    async def find_contact(self, grant: Grant, token: str, email: str) -> str | None:
        body = await self._get(grant, token, "/contacts", {
            "$filter": f"emailaddress1 eq {odata_literal(email)}", "$select": "contactid", "$top": "1",
        })
        rows = _rows(body)
        return _guid(field(rows, 0, "contactid", provider=PROVIDER)) if rows else None

    async def create_test_activity(self, grant: Grant, token: str, user: CrmUser, subject: str) -> str:
        """A task owned by the user; `return=representation` makes Dataverse answer 201 with the id."""
        response = await self._request(
            grant, token, "POST", "/tasks", params={"$select": "activityid"},
            headers={"Prefer": "return=representation"},
            json={
                "subject": subject[:200],  # task.subject is 200 characters at most
                "description": "Created by chatops to test that activities can be written; safe to delete.",
                "ownerid@odata.bind": f"/systemusers({_guid(user.id)})",
            },
        )
        return _guid(field(expect_json(response, PROVIDER), "activityid", provider=PROVIDER))

    async def delete_activity(self, grant: Grant, token: str, activity_id: str) -> None:
        response = await self._request(grant, token, "DELETE", f"/tasks({_guid(activity_id)})")
        raise_for_status(response, PROVIDER)  # 204 No Content

    # ------------------------------------------------------------------ plumbing

    def _org(self, grant: Grant) -> str:
        org = (grant.instance_url or self._settings.dynamics_url).rstrip("/")
        if not org:
            raise ConfigError("no Dynamics 365 org URL: set CHATOPS_DYNAMICS_URL or reconnect the grant")
        return org

    async def _request(
        self, grant: Grant, token: str, method: str, path: str, *,
        headers: Mapping[str, str] | None = None, **kwargs: Any,
    ) -> httpx.Response:
        sent = {**ODATA_HEADERS, "Authorization": f"Bearer {token}"}
        for key, value in (headers or {}).items():
            sent[key] = f"{value},{sent[key]}" if key == "Prefer" else value
        try:
            url = f"{self._org(grant)}{API_PATH}{path}"
            return await self._http.request(method, url, headers=sent, **kwargs)
        except httpx.HTTPError as exc:
            raise translate(exc, PROVIDER) from exc

    async def _get(self, grant: Grant, token: str, path: str, params: Mapping[str, str]) -> Any:
        return expect_json(await self._request(grant, token, "GET", path, params=params), PROVIDER)

    async def _timezone(self, grant: Grant, token: str, user_id: str) -> str | None:
        """The user's Windows time-zone name ("W. Europe Standard Time") via usersettings.timezonecode.

        Best effort: without read access to another user's settings the time zone is simply unknown.
        """
        try:
            settings = await self._get(
                grant, token, f"/usersettingscollection({user_id})", {"$select": "timezonecode"})
            code = settings.get("timezonecode") if isinstance(settings, Mapping) else None
            if type(code) is not int:
                return None
            body = await self._get(grant, token, "/timezonedefinitions", {
                "$filter": f"timezonecode eq {code}", "$select": "standardname", "$top": "1",
            })
        except ProviderError as exc:
            if type(exc) in (ProviderError, PermissionDenied):
                return None
            raise
        rows = _rows(body)
        name = rows[0].get("standardname") if rows else None
        return name if isinstance(name, str) and name else None

    async def _latest_alert(self, grant: Grant, token: str, mailbox_id: str) -> str:
        """The newest Error (else Warning) alert of the mailbox. Ordered by modifiedon: a recurring alert
        keeps its first createdon and only bumps modifiedon."""
        try:
            body = await self._get(grant, token, "/tracelogs", {
                "$filter": f"_regardingobjectid_value eq {mailbox_id}",
                "$orderby": "modifiedon desc",
                "$top": "20",
                "$select": "level,tracecode,text,errordetails,tracestatus,createdon,modifiedon",
            })
        except PermissionDenied:  # alerts need read on tracelog; the mailbox state still stands
            return ""
        rows = _rows(body)
        for level in (_TRACE_ERROR, _TRACE_WARNING):
            for row in rows:
                if row.get("level") == level:
                    return " ".join((_text(row, "text") or _text(row, "errordetails")).split())
        return ""


def short_scopes(scopes: Iterable[str], org: str) -> frozenset[str]:
    """Scopes of this org by their short name ("user_impersonation"); other resources' scopes unchanged.

    Tolerates the double slash ("https://org//user_impersonation") some resources echo.
    """
    out: set[str] = set()
    for scope in scopes:
        resource, _, name = scope.rpartition("/")
        out.add(name if resource and resource.rstrip("/").lower() == org.lower() else scope)
    return frozenset(out)


def _channel(mailbox: Mapping[str, Any], method: str, sss: int, enabled: str, status: str) -> SyncState:
    if mailbox.get(method) != sss:  # Outlook, a forward mailbox or none: not server-side sync's job
        return SyncState.NOT_CONFIGURED
    if mailbox.get(enabled) is False:
        return SyncState.DISABLED
    value = mailbox.get(status)
    return _RUN_STATES.get(value, SyncState.PENDING) if type(value) is int else SyncState.PENDING


def _rows(body: Any) -> list[Mapping[str, Any]]:
    rows = field(body, "value", provider=PROVIDER)
    if not isinstance(rows, list):
        raise BadResponse(PROVIDER, "answered a collection whose value is not a list", code="shape")
    return [row for row in rows if isinstance(row, Mapping)]


def _guid(value: Any) -> str:
    if not isinstance(value, str) or not _GUID.match(value):
        raise BadResponse(PROVIDER, "used a record id that is not a GUID", code="shape")
    return value.lower()


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return value if isinstance(value, str) else ""


def _number(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return round(float(value.replace(",", "").strip()))
    except ValueError:
        return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
