"""Salesforce: OAuth refresh, limits and Sforce-Limit-Info, SOQL on User/Contact/Lead, EAC status, Tasks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from adapters.providers.errors import expect_json, field, raise_for_status, translate
from adapters.providers.oauth import refresh_token, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, PermissionDenied, ProviderError
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

PROVIDER: Final = Provider.SALESFORCE.value
KEEPER_LABEL: Final = "Einstein Activity Capture"

# `api` is the narrowest scope that reaches REST (SOQL on User/Contact/Lead, /limits, Task writes);
# Salesforce has no read-only REST scope. `refresh_token` (alias `offline_access`) is what lets us refresh.
# We read the user through SOQL (S4), not /userinfo (S2), so `openid`/`email`/`id` are not needed.
CRM_SCOPES: Final = frozenset({"api", "refresh_token"})

LIMIT_HEADER: Final = "Sforce-Limit-Info"
DAILY_API_REQUESTS: Final = "DailyApiRequests"

# The personal-settings page; Salesforce Help documents the way from there ("Connected Accounts >
# Email and Calendar Accounts") but publishes no deep link, so we don't guess one.
USER_SETTINGS_PATH: Final = "/lightning/settings/personal/PersonalInformation/home"
# The org-level EAC setup page (an admin must fix an org-level connection; NEEDSATTENTIONGLOBAL/HYBRID).
EAC_SETUP_PATH: Final = "/lightning/setup/ActivitySyncEngineSettingsMain/home"

_EAC_STATES: Final[Mapping[str, SyncState]] = {
    "ACTIVE": SyncState.OK,
    "DISABLED": SyncState.DISABLED,
    "INITIALIZING": SyncState.PENDING,
    "PENDING": SyncState.PENDING,
    "PROCESSING": SyncState.PENDING,
    "NEEDSATTENTION": SyncState.FAILING,
    "NEEDSATTENTIONGLOBAL": SyncState.FAILING,  # the org-level connection is broken
    "NEEDSATTENTIONHYBRID": SyncState.FAILING,  # both org-level and user-level connections are broken
}
_ORG_LEVEL_STATES: Final = frozenset({"NEEDSATTENTIONGLOBAL", "NEEDSATTENTIONHYBRID"})

# "api-usage=10018/100000; api-bursts=1/750" and the older "per-app-api-usage=17/250(appName=x)".
_LIMIT_PART = re.compile(
    r"^\s*(?P<key>[a-z-]+)\s*=\s*(?P<used>\d+)\s*/\s*(?P<limit>\d+)\s*(?:\(appName=(?P<app>[^)]*)\))?\s*$")
# Salesforce record ids: 15 characters (case-sensitive) or 18 (case-insensitive suffix).
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
# SOQL escape sequences (SOQL and SOSL reference, "Quoted String Escape Sequences").
_SOQL_ESCAPES: Final = str.maketrans({
    "\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
})


def soql_literal(value: str) -> str:
    """A quoted SOQL string literal: backslash and quote are escaped with a backslash, not doubled."""
    return "'" + value.translate(_SOQL_ESCAPES) + "'"


def limit_info(value: str | None) -> tuple[QuotaUsage, ...]:
    """The usage a `Sforce-Limit-Info` header reports; unknown or malformed parts are skipped.

    `api-usage` counts the org's calls over a rolling 24 hours (not since midnight), so `resets_at`
    stays None: there is no reset instant, old calls age out one by one. `used` may exceed `limit`
    because Salesforce lets an org run over its daily allocation for a while (`api-bursts`).
    """
    if not value:
        return ()
    usage: list[QuotaUsage] = []
    for part in value.split(";"):
        match = _LIMIT_PART.match(part)
        if match is None:
            continue
        key, used, limit = match["key"], int(match["used"]), int(match["limit"])
        if key == "api-usage":
            usage.append(QuotaUsage(DAILY_API_REQUESTS, used, limit, UsageWindow.DAILY))
        elif key == "api-bursts":  # hours over the daily limit used / the monthly entitlement
            usage.append(QuotaUsage("api-bursts", used, limit, UsageWindow.BURST,
                                    label="monthly allowance of hours over the daily limit"))
        elif key == "per-app-api-usage":
            usage.append(QuotaUsage(f"{DAILY_API_REQUESTS} ({match['app'] or 'this app'})", used, limit))
    return tuple(usage)


def endpoints(settings: ProviderSettings, *, instance_urls: Iterable[str] = ()) -> tuple[Endpoint, ...]:
    """The login host and each known instance (My Domain) host the sync depends on."""
    named = [("Salesforce login", settings.salesforce_url)]
    named += [("Salesforce instance", url) for url in instance_urls if url]
    seen: dict[tuple[str, int], Endpoint] = {}
    for name, url in named:
        endpoint = _endpoint(name, url)
        seen.setdefault((endpoint.host, endpoint.port), endpoint)
    return tuple(seen.values())


def _endpoint(name: str, url: str) -> Endpoint:
    parts = urlsplit(url)
    plain = parts.scheme == "http"  # only the local simulator is reached without TLS
    return Endpoint(
        name=name,
        host=parts.hostname or "",
        port=parts.port or (80 if plain else 443),
        kind=ProbeKind.HTTP if plain else ProbeKind.HTTPS,
        provider=Provider.SALESFORCE,
        expected_issuers=() if plain else ("DigiCert",),
    )


class SalesforceClient:
    """OAuthApi and CrmApi for Salesforce; REST goes to the grant's instance_url."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock

    # ------------------------------------------------------------------ OAuthApi

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return CRM_SCOPES if role is GrantRole.CRM else frozenset()

    async def refresh(self, grant: Grant) -> TokenSet:
        """S1 at the login host; the answer's instance_url becomes the REST base.

        Salesforce sends no `expires_in` (the org's session timeout, 15 min to 24 h, decides), so
        expires_at is None; `issued_at` is epoch milliseconds as a string and says nothing about expiry.
        """
        if not grant.refresh_token:
            raise AuthError(PROVIDER, "no refresh token is stored for this grant", code="no_refresh_token")
        body = await refresh_token(
            self._http,
            token_url=f"{self._settings.salesforce_url}/services/oauth2/token",
            client_id=self._settings.salesforce_client_id,
            client_secret=self._settings.salesforce_client_secret.get_secret_value(),
            refresh_token=grant.refresh_token.reveal(),
            provider=PROVIDER,
        )
        instance_url = body.get("instance_url", "")
        if not isinstance(instance_url, str) or (instance_url and not instance_url.startswith(("https://", "http://"))):
            raise BadResponse(PROVIDER, "answered a refresh without a usable instance_url", code="shape")
        token = token_set(body, now=self._clock.now(), scopes_fallback=grant.scopes)
        return replace(token, instance_url=instance_url.rstrip("/") or grant.instance_url)

    # ------------------------------------------------------------------ CrmApi

    async def user(self, grant: Grant, token: str, email: str) -> CrmUser | None:
        """S4: the User with this email, preferring an active one (integration users may share it)."""
        records = await self._query(grant, token, (
            "SELECT Id, Username, Email, Name, TimeZoneSidKey, IsActive FROM User "
            f"WHERE Email = {soql_literal(email)} LIMIT 10"
        ))
        users = [_crm_user(record) for record in records]
        return next((u for u in users if u.active), users[0] if users else None)

    async def usage(self, grant: Grant, token: str) -> tuple[QuotaUsage, ...]:
        """S3 `DailyApiRequests` (and per-app sub-limits), plus `api-bursts` from the header.

        Without "View Setup and Configuration" /limits answers 403; the `Sforce-Limit-Info` header of that
        same answer still carries the org's usage, so that is returned instead.
        """
        response = await self._request("GET", f"{self._rest(grant)}/limits", token)
        from_header = limit_info(response.headers.get(LIMIT_HEADER))
        try:
            body = expect_json(response, PROVIDER)
        except PermissionDenied:
            if from_header:
                return from_header
            raise
        return _limits(body) + tuple(u for u in from_header if u.window is UsageWindow.BURST)

    async def mail_sync_status(self, grant: Grant, token: str, user: CrmUser) -> MailSyncStatus | None:
        """S5: the user's Einstein Activity Capture connection; None when EAC is off in the org."""
        try:
            records = await self._query(grant, token, (
                "SELECT UserId, EmailAddress, ConnectivityStatus, ConfigurationName, GlobalOauthTermsState, "
                "IsTermsOfServiceAccepted, RecommendedActionTitle, RecommendedActionDescription "
                f"FROM ActivityUsrConnectionStatus WHERE UserId = {soql_literal(user.id)} LIMIT 1"
            ))
        except ProviderError as exc:
            # EAC disabled (or API version < 54.0): the sObject does not exist for this org.
            if type(exc) is ProviderError and exc.code == "INVALID_TYPE":
                return None
            raise
        instance = grant.instance_url or self._settings.salesforce_url
        if not records:
            return MailSyncStatus(
                incoming=SyncState.NOT_CONFIGURED, outgoing=SyncState.NOT_CONFIGURED,
                appointments=SyncState.NOT_CONFIGURED,
                last_error=(f"{user.email or user.id} is not assigned to an Einstein Activity Capture "
                            "configuration."),
                reconnect_url=f"{instance}{EAC_SETUP_PATH}", keeper_label=KEEPER_LABEL,
            )
        return _eac_status(records[0], instance)

    async def find_contact(self, grant: Grant, token: str, email: str) -> str | None:
        """The id of a Contact, else an unconverted Lead, with this email."""
        literal = soql_literal(email)
        for soql in (
            f"SELECT Id FROM Contact WHERE Email = {literal} LIMIT 1",
            f"SELECT Id FROM Lead WHERE Email = {literal} AND IsConverted = false LIMIT 1",
        ):
            records = await self._query(grant, token, soql)
            if records:
                return _record_id(field(records, 0, "Id", provider=PROVIDER))
        return None

    async def create_test_activity(self, grant: Grant, token: str, user: CrmUser, subject: str) -> str:
        """A Task owned by the user; Status and Priority are left to the org's picklist defaults."""
        response = await self._request(
            "POST", f"{self._rest(grant)}/sobjects/Task", token,
            json={
                "Subject": subject[:255],
                "OwnerId": _record_id(user.id),
                "Description": "Created by chatops to test that activities can be written; safe to delete.",
            },
        )
        body = expect_json(response, PROVIDER)
        return _record_id(field(body, "id", provider=PROVIDER))

    async def delete_activity(self, grant: Grant, token: str, activity_id: str) -> None:
        url = f"{self._rest(grant)}/sobjects/Task/{_record_id(activity_id)}"
        response = await self._request("DELETE", url, token)
        raise_for_status(response, PROVIDER)  # 204 No Content: nothing to parse

    # ------------------------------------------------------------------ plumbing

    def _rest(self, grant: Grant) -> str:
        instance = (grant.instance_url or self._settings.salesforce_url).rstrip("/")
        return f"{instance}/services/data/{self._settings.salesforce_api_version}"

    async def _request(self, method: str, url: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise translate(exc, PROVIDER) from exc

    async def _query(self, grant: Grant, token: str, soql: str) -> list[Mapping[str, Any]]:
        response = await self._request("GET", f"{self._rest(grant)}/query", token, params={"q": soql})
        records = field(expect_json(response, PROVIDER), "records", provider=PROVIDER)
        if not isinstance(records, list):
            raise BadResponse(PROVIDER, "answered a query whose records are not a list", code="shape")
        return [record for record in records if isinstance(record, Mapping)]


def _record_id(value: Any) -> str:
    if not isinstance(value, str) or not _RECORD_ID.match(value):
        raise BadResponse(PROVIDER, "used a record id that is not a Salesforce id", code="shape")
    return value


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _crm_user(record: Mapping[str, Any]) -> CrmUser:
    active = record.get("IsActive")
    return CrmUser(
        id=_record_id(field(record, "Id", provider=PROVIDER)),
        email=_text(record, "Email"),
        username=_text(record, "Username"),
        timezone=_text(record, "TimeZoneSidKey") or None,  # an IANA id such as "Europe/Berlin"
        active=active if isinstance(active, bool) else True,
        name=_text(record, "Name"),
    )


def _limit_pair(value: Any, name: str) -> QuotaUsage | None:
    if not isinstance(value, Mapping):
        return None
    limit, remaining = value.get("Max"), value.get("Remaining")
    if type(limit) is not int or type(remaining) is not int:
        return None
    return QuotaUsage(name, used=limit - remaining, limit=limit, window=UsageWindow.DAILY)


def _limits(body: Any) -> tuple[QuotaUsage, ...]:
    daily = field(body, DAILY_API_REQUESTS, provider=PROVIDER)
    overall = _limit_pair(daily, DAILY_API_REQUESTS)
    if overall is None:
        raise BadResponse(PROVIDER, "answered /limits without DailyApiRequests Max and Remaining",
                          code="shape")
    per_app = (
        _limit_pair(value, f"{DAILY_API_REQUESTS} ({name})")
        for name, value in daily.items() if name not in ("Max", "Remaining")
    )
    # Per-connected-app entries with Max 0 mean "no app quota set": not a limit.
    return (overall, *(usage for usage in per_app if usage is not None and usage.limit > 0))


def _eac_status(record: Mapping[str, Any], instance: str) -> MailSyncStatus:
    status = _text(record, "ConnectivityStatus")
    state = _EAC_STATES.get(status, SyncState.NOT_CONFIGURED if not status else SyncState.PENDING)
    notes: list[str] = []
    if state is not SyncState.OK:
        notes += [part for key in ("RecommendedActionTitle", "RecommendedActionDescription")
                  if (part := _text(record, key))]
        terms = _text(record, "GlobalOauthTermsState")
        if terms in ("DECLINED", "PENDING"):
            notes.append(f"Einstein Activity Capture terms of service: {terms.lower()}.")
        if status and status not in _EAC_STATES:
            notes.append(f"Unknown connection status {status!r}.")
    path = EAC_SETUP_PATH if status in _ORG_LEVEL_STATES else USER_SETTINGS_PATH
    return MailSyncStatus(
        incoming=state, outgoing=state, appointments=state,  # EAC keeps one connection for mail and events
        last_error=" ".join(_join_sentences(notes)),
        reconnect_url=f"{instance.rstrip('/')}{path}",
        keeper_label=KEEPER_LABEL,
    )


def _join_sentences(parts: Sequence[str]) -> list[str]:
    return [part if part.endswith((".", "!", "?")) else f"{part}." for part in parts]
