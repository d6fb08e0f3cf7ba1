"""HubSpot: OAuth refresh and token metadata, owners, rate-limit headers, daily usage, contacts and tasks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx

from adapters.providers.errors import expect_json, field, raise_for_status, translate
from adapters.providers.oauth import refresh_token, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, PermissionDenied, ProviderError, RateLimited
from chatops.model import Grant, GrantRole, Provider
from chatops.ports import (
    Clock,
    CrmUser,
    Endpoint,
    MailSyncStatus,
    ProbeKind,
    QuotaUsage,
    TokenSet,
    UsageWindow,
)

PROVIDER: Final = Provider.HUBSPOT.value

# `oauth` is mandatory for every HubSpot OAuth app (and is H5's documented scope); `crm.objects.owners.read`
# maps the user's email to an owner (H4); `crm.objects.contacts.read` answers "is this address a contact".
CRM_SCOPES: Final = frozenset({"oauth", "crm.objects.owners.read", "crm.objects.contacts.read"})
# Only the optional write probe (create_test_activity) needs this; it is not asked for by default.
WRITE_PROBE_SCOPES: Final = frozenset({"crm.objects.contacts.write"})

DAILY: Final = "X-HubSpot-RateLimit-Daily"
SECONDLY: Final = "X-HubSpot-RateLimit-Secondly"
INTERVAL: Final = "X-HubSpot-RateLimit-Max"  # the rolling window of -Interval-Milliseconds (10 s)
_HEADER_PAIRS: Final = (
    (DAILY, "X-HubSpot-RateLimit-Daily-Remaining", UsageWindow.DAILY, "daily API limit"),
    (SECONDLY, "X-HubSpot-RateLimit-Secondly-Remaining", UsageWindow.SECONDLY, "per-second API limit"),
    (INTERVAL, "X-HubSpot-RateLimit-Remaining", UsageWindow.SECONDLY, "10-second API limit"),
)
_NUMERIC_ID = re.compile(r"^\d{1,20}$")
# The camelCase rendering of the token response on one HubSpot reference page (provider-apis.md H1).
_CAMEL_TOKEN_KEYS: Final = {
    "accessToken": "access_token", "refreshToken": "refresh_token", "expiresIn": "expires_in",
    "tokenType": "token_type",
}


def rate_limit_usage(headers: httpx.Headers | Mapping[str, str]) -> tuple[QuotaUsage, ...]:
    """Usage from X-HubSpot-RateLimit-* headers; pairs that are absent or not integers are skipped.

    OAuth-authenticated calls carry no `-Daily` pair (no daily limit applies to them), only the interval
    pair. The daily count resets at midnight in the portal's time zone, which the headers don't say, so
    resets_at stays None.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    usage: list[QuotaUsage] = []
    for limit_name, remaining_name, window, label in _HEADER_PAIRS:
        limit, remaining = _int(lowered.get(limit_name.lower())), _int(lowered.get(remaining_name.lower()))
        if limit is not None and remaining is not None:
            usage.append(QuotaUsage(limit_name, used=limit - remaining, limit=limit, window=window, label=label))
    return tuple(usage)


def endpoints(settings: ProviderSettings) -> tuple[Endpoint, ...]:
    """The API host (OAuth and CRM share it)."""
    parts = urlsplit(settings.hubspot_url)
    plain = parts.scheme == "http"
    # No expected issuers: HubSpot documents no CA for api.hubapi.com (it sits behind a CDN), and a wrong
    # guess would raise false "TLS intercepted" findings.
    return (Endpoint(
        name="HubSpot API", host=parts.hostname or "", port=parts.port or (80 if plain else 443),
        kind=ProbeKind.HTTP if plain else ProbeKind.HTTPS, provider=Provider.HUBSPOT,
    ),)


class HubSpotClient:
    """OAuthApi and CrmApi for HubSpot (OAuth v1 token endpoints, CRM v3)."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._base = settings.hubspot_url

    # ------------------------------------------------------------------ OAuthApi

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return CRM_SCOPES if role is GrantRole.CRM else frozenset()

    async def refresh(self, grant: Grant) -> TokenSet:
        """H1 with the stored refresh token; the granted scopes come from the answer or from H2.

        Since 18 August 2025 the v1 token answer lists `scopes` (and `hub_id`) itself; older answers carry
        neither, and then H2 (token metadata) supplies the scopes and the user's email.
        """
        if not grant.refresh_token:
            raise AuthError(PROVIDER, "no refresh token is stored for this grant", code="no_refresh_token")
        current = grant.refresh_token.reveal()
        body = await refresh_token(
            self._http,
            token_url=f"{self._base}/oauth/v1/token",
            client_id=self._settings.hubspot_client_id,
            client_secret=self._settings.hubspot_client_secret.get_secret_value(),
            refresh_token=current,
            provider=PROVIDER,
        )
        body = {_CAMEL_TOKEN_KEYS.get(key, key): value for key, value in body.items()}
        token = token_set(body, now=self._clock.now(), scopes_fallback=grant.scopes)
        listed = body.get("scopes")
        if isinstance(listed, list):  # no H2 call: that one puts the token in a URL path
            scopes, account = frozenset(str(s) for s in listed), ""
        else:
            scopes, account = await self._token_metadata(token.access_token)
        return TokenSet(
            access_token=token.access_token,
            expires_at=token.expires_at,
            scopes=scopes,
            refresh_token=token.refresh_token if token.refresh_token not in (None, current) else None,
            account=account or token.account,
            instance_url=token.instance_url,
        )

    # ------------------------------------------------------------------ CrmApi

    async def user(self, grant: Grant, token: str, email: str) -> CrmUser | None:
        """H4: the owner with this email; a deactivated (archived) owner is returned with active=False."""
        for archived in (False, True):
            body = await self._json("GET", "/crm/v3/owners", token, params={
                "email": email, "limit": 100, "archived": str(archived).lower(),
            })
            results = field(body, "results", provider=PROVIDER)
            for owner in results if isinstance(results, list) else ():
                if isinstance(owner, Mapping) and _owner_matches(owner, email):
                    return _crm_user(owner, active=not archived)
        return None

    async def usage(self, grant: Grant, token: str) -> tuple[QuotaUsage, ...]:
        """H5 daily usage where the portal reports it, plus the rate-limit headers of that answer.

        H5 covers legacy private apps only; for an OAuth app it may be refused or empty, and then a
        one-owner read supplies the headers instead.
        """
        response = await self._request("GET", "/account-info/v3/api-usage/daily/private-apps", token)
        try:
            body = self._expect(response)
        except ProviderError as exc:
            if type(exc) not in (ProviderError, PermissionDenied):  # auth, rate limit, outage: real answers
                raise
            response = await self._request("GET", "/crm/v3/owners", token, params={"limit": 1})
            self._expect(response)
            return rate_limit_usage(response.headers)
        return self._daily_usage(body) + rate_limit_usage(response.headers)

    async def mail_sync_status(self, grant: Grant, token: str, user: CrmUser) -> MailSyncStatus | None:
        """None: HubSpot keeps each user's inbox connection in its own settings UI and exposes its state
        through no public API, so the mailbox-side checks are the evidence for HubSpot."""
        return None

    async def find_contact(self, grant: Grant, token: str, email: str) -> str | None:
        """CRM search on `email`, or on `hs_additional_emails` (two filter groups are OR-ed)."""
        body = await self._json("POST", "/crm/v3/objects/contacts/search", token, json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]},
                {"filters": [{"propertyName": "hs_additional_emails", "operator": "EQ", "value": email}]},
            ],
            "properties": ["email"],
            "limit": 1,
        })
        results = field(body, "results", provider=PROVIDER)
        if not isinstance(results, list) or not results:
            return None
        return _numeric_id(field(results, 0, "id", provider=PROVIDER))

    async def create_test_activity(self, grant: Grant, token: str, user: CrmUser, subject: str) -> str:
        """A completed task owned by the user (needs crm.objects.contacts.write, see WRITE_PROBE_SCOPES)."""
        body = await self._json("POST", "/crm/v3/objects/tasks", token, json={"properties": {
            "hs_timestamp": self._clock.now().astimezone(UTC).isoformat(timespec="milliseconds"),
            "hs_task_subject": subject,
            "hs_task_body": "Created by chatops to test that activities can be written; safe to delete.",
            "hs_task_status": "COMPLETED",
            "hubspot_owner_id": _numeric_id(user.id),
        }})
        return _numeric_id(field(body, "id", provider=PROVIDER))

    async def delete_activity(self, grant: Grant, token: str, activity_id: str) -> None:
        response = await self._request("DELETE", f"/crm/v3/objects/tasks/{_numeric_id(activity_id)}", token)
        self._raise_for_status(response)  # 204 No Content

    # ------------------------------------------------------------------ plumbing

    async def _token_metadata(self, access_token: str) -> tuple[frozenset[str], str]:
        """H2: (scopes, user email). The token is part of the path, so it is scrubbed from any error."""
        try:
            response = await self._http.get(
                f"{self._base}/oauth/v1/access-tokens/{quote(access_token, safe='')}",
                headers={"Accept": "application/json"},
            )
            body = self._expect(response)
        except httpx.HTTPError as exc:
            raise _scrubbed(translate(exc, PROVIDER), access_token) from None
        except ProviderError as exc:
            raise _scrubbed(exc, access_token) from None
        scopes = field(body, "scopes", provider=PROVIDER)
        if not isinstance(scopes, list):
            raise BadResponse(PROVIDER, "answered token metadata whose scopes are not a list", code="shape")
        user = body.get("user")
        return frozenset(str(s) for s in scopes), user if isinstance(user, str) else ""

    async def _request(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token}"}
        try:
            return await self._http.request(method, f"{self._base}{path}", headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise translate(exc, PROVIDER) from exc

    async def _json(self, method: str, path: str, token: str, **kwargs: Any) -> Any:
        return self._expect(await self._request(method, path, token, **kwargs))

    def _expect(self, response: httpx.Response) -> Any:
        try:
            return expect_json(response, PROVIDER)
        except ProviderError as exc:
            raise _explained(exc, response) from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        try:
            raise_for_status(response, PROVIDER)
        except ProviderError as exc:
            raise _explained(exc, response) from None

    def _daily_usage(self, body: Any) -> tuple[QuotaUsage, ...]:
        results = body.get("results") if isinstance(body, Mapping) else None
        usage: list[QuotaUsage] = []
        for item in results if isinstance(results, list) else ():
            if not isinstance(item, Mapping):
                continue
            limit, used = item.get("usageLimit"), item.get("currentUsage")
            if type(limit) is not int or type(used) is not int:
                continue
            usage.append(QuotaUsage(
                name=str(item.get("name") or "private-apps-api-calls-daily"), used=used, limit=limit,
                window=UsageWindow.DAILY, resets_at=self._next_reset(item.get("resetsAt")),
            ))
        return tuple(usage)

    def _next_reset(self, value: Any) -> datetime | None:
        # The documented sample has resetsAt *before* collectedAt (the last reset, not the next one).
        at = _parse_time(value)
        if at is None:
            return None
        now = self._clock.now()
        while at <= now:
            at += timedelta(days=1)
        return at


def _explained(exc: ProviderError, response: httpx.Response) -> ProviderError:
    """The same error with HubSpot's policyName (429) or missing scopes (403) added to its detail."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return exc
    if not isinstance(body, Mapping):
        return exc
    if isinstance(exc, RateLimited) and body.get("policyName"):
        return RateLimited(
            exc.provider, f"{exc.detail} (policy {body['policyName']})", status=exc.status,
            code=exc.code, retry_after=exc.retry_after,
        )
    if isinstance(exc, PermissionDenied) and exc.code == "MISSING_SCOPES":
        needed = sorted(_required_scopes(body))
        if needed:
            return PermissionDenied(exc.provider, f"{exc.detail} (needs {', '.join(needed)})",
                                    status=exc.status, code=exc.code)
    return exc


def _required_scopes(body: Mapping[str, Any]) -> set[str]:
    needed: set[str] = set()
    for error in body.get("errors") or ():
        context = error.get("context") if isinstance(error, Mapping) else None
        if not isinstance(context, Mapping):
            continue
        for key in ("requiredGranularScopes", "requiredScopes"):  # newer and older bodies
            values = context.get(key)
            if isinstance(values, list):
                needed.update(str(v) for v in values)
    return needed


def _scrubbed(exc: ProviderError, secret: str) -> ProviderError:
    if not secret or secret not in exc.detail:
        return exc
    detail = exc.detail.replace(secret, "[token]")
    if isinstance(exc, RateLimited):
        return RateLimited(exc.provider, detail, status=exc.status, code=exc.code,
                           retry_after=exc.retry_after)
    return type(exc)(exc.provider, detail, status=exc.status, code=exc.code)


def _owner_matches(owner: Mapping[str, Any], email: str) -> bool:
    if owner.get("type", "PERSON") != "PERSON":  # queues can carry an email too
        return False
    found = owner.get("email")
    return isinstance(found, str) and found.strip().lower() == email.strip().lower()


def _crm_user(owner: Mapping[str, Any], *, active: bool) -> CrmUser:
    # `id` (a string) is the owner id that records are assigned to; `userId` (an int) is the user id
    # used by settings APIs. CrmUser.id must be the owner id.
    owner_id = _numeric_id(field(owner, "id", provider=PROVIDER))
    names = (owner.get("firstName"), owner.get("lastName"))
    return CrmUser(
        id=owner_id,
        email=str(owner.get("email") or ""),
        name=" ".join(n for n in names if isinstance(n, str) and n),
        active=active and not owner.get("archived", False),
    )


def _numeric_id(value: Any) -> str:
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or not _NUMERIC_ID.match(text):
        raise BadResponse(PROVIDER, "used an object id that is not a HubSpot id", code="shape")
    return text


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
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
