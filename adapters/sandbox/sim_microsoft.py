"""Simulated Microsoft: the identity platform token endpoint (M1, D1) and Microsoft Graph (M2-M6)."""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from adapters.sandbox import sim_consent
from adapters.sandbox.scenario import (
    AADSTS_ERRORS,
    GRAPH_SCOPE,
    REVOKED_AADSTS,
    Fault,
    User,
    bind_text,
    scope_key,
    stable_digest,
)
from adapters.sandbox.sim_base import (
    AccessToken,
    Caller,
    RefreshToken,
    Reply,
    Route,
    TokenStatus,
    aad_time,
    authenticate,
    client_credentials,
    epoch,
    fake_jwt,
    form,
    graph_time,
    json_answer,
    network_faults,
    object_id,
    origin,
    request_id,
    state_of,
)

PROVIDER: Final = "microsoft"
_OIDC: Final = frozenset({"openid", "profile", "email", "offline_access"})
_LIFETIME_S: Final = (3600, 5400)  # "random, 60-90 minutes" (provider-apis.md M1)

SCOPES_ME: Final = (
    "User.Read",
    "User.ReadWrite",
    "User.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
)
SCOPES_MAILBOX_SETTINGS: Final = ("MailboxSettings.Read", "MailboxSettings.ReadWrite")
SCOPES_CALENDAR: Final = ("Calendars.ReadBasic", "Calendars.Read", "Calendars.ReadWrite")
SCOPES_MAIL: Final = ("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite")

_NOT_ENABLED: Final = {
    "not_supported": "REST API is not yet supported for this mailbox.",
    "inactive": "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
}
_WWW_AUTHENTICATE: Final = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)
_UNAUTHORIZED_TEXT: Final = {
    TokenStatus.MISSING: "Access token is empty.",
    TokenStatus.UNKNOWN: "CompactToken parsing failed with error code: 80049217",
    TokenStatus.EXPIRED: "Lifetime validation failed, the token is expired.",
    TokenStatus.REVOKED: "Access token has expired or is not yet valid.",
    TokenStatus.REJECTED: "Access token validation failure. Invalid audience.",
}

# The few Windows zone names the simulator converts event times into for `Prefer: outlook.timezone`;
# any IANA name works too.
WINDOWS_ZONES: Final = {
    "UTC": "UTC",
    "GMT Standard Time": "Europe/London",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago",
    "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix",
    "Pacific Standard Time": "America/Los_Angeles",
    "Tokyo Standard Time": "Asia/Tokyo",
    "India Standard Time": "Asia/Kolkata",
    "AUS Eastern Standard Time": "Australia/Sydney",
}


# ------------------------------------------------------------------------------------------ identity platform


def aad_error(
    request: web.Request, code: int, error: str, status: int, text: str, *, suberror: str = ""
) -> web.Response:
    """The identity platform's error body: AADSTS code, trace and correlation ids (provider-apis.md M1)."""
    now = state_of(request).clock.now()
    trace, correlation, stamp = request_id(), request_id(), aad_time(now)
    body: dict[str, Any] = {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\n"
        f"Timestamp: {stamp}",
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    if suberror:
        body["suberror"] = suberror
    return json_answer(body, status)


def _aad_fault(
    request: web.Request, code: int, refresh: RefreshToken | None, client_id: str, tenant: str, resource: str
) -> web.Response:
    known = AADSTS_ERRORS[code]
    issued = refresh.issued_at if refresh is not None else state_of(request).clock.now()
    text = known.text.format(
        issued=issued.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
        now=aad_time(state_of(request).clock.now()),
        client=client_id,
        tenant=tenant,
        resource=resource,
    )
    return aad_error(request, code, known.error, known.status, text, suberror=known.suberror)


def login_server_error(request: web.Request, status: int) -> web.StreamResponse:
    """The token endpoint's own 5xx answer: AADSTS90033, a transient error."""
    return aad_error(
        request, 90033, "temporarily_unavailable", status, "A transient error has occurred. Please try again."
    )


def _target(requested: list[str], refresh: RefreshToken) -> str:
    """Which resource the refresh asks for: Dataverse (an org URL or user_impersonation) or Graph."""
    for scope in requested:
        lowered = scope.lower()
        if (
            "/dynamics" in lowered
            or ".crm" in lowered
            or "dynamics.com" in lowered
            or scope_key(scope) == "user_impersonation"
        ):
            return "dynamics"
        if "graph.microsoft.com" in lowered or (
            "://" not in scope and lowered not in _OIDC and lowered != ".default"
        ):
            return PROVIDER
    return refresh.provider


def _echo_scopes(scopes: tuple[str, ...], target: str, org_url: str) -> str:
    """Granted scopes as Microsoft echoes them: resource-qualified, without offline_access."""
    echoed = []
    for scope in scopes:
        key = scope_key(scope)
        if key == "offline_access":
            continue
        if key in _OIDC or "://" in scope:
            echoed.append(scope)
        elif target == "dynamics":
            echoed.append(f"{org_url}/{scope}")
        else:
            echoed.append(f"{GRAPH_SCOPE}{scope}")
    return " ".join(echoed)


def _known_tenants(request: web.Request) -> set[str]:
    scenario = state_of(request).scenario
    domains = {u.email.rsplit("@", 1)[1].lower() for u in scenario.users}
    return {
        "common",
        "organizations",
        scenario.organisation.tenant_id.lower(),
        scenario.organisation.domain.lower(),
        *domains,
    }


async def token(request: web.Request) -> web.StreamResponse:
    """M1 and D1: refresh; every answer carries a new refresh token (the old one keeps working, see below)."""
    state = state_of(request)
    tenant = request.match_info["tenant"]
    fields = await form(request)
    if tenant.lower() not in _known_tenants(request):
        return aad_error(
            request,
            90002,
            "invalid_request",
            400,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud. Check with your subscription administrator, this may happen "
            "if there are no active subscriptions for the tenant.",
        )
    grant_type = fields.get("grant_type", "")
    if not grant_type:
        return aad_error(
            request,
            900144,
            "invalid_request",
            400,
            "The request body must contain the following parameter: 'grant_type'.",
        )
    if grant_type == "authorization_code":  # a Reconnect consent (sim_consent.py), Graph or Dynamics
        return await sim_consent.redeem(request, (PROVIDER, "dynamics"), fields, error=_code_error(request),
                                        answer=_consented, server_error=login_server_error)
    if grant_type != "refresh_token":
        return aad_error(
            request, 70003, "unsupported_grant_type", 400, "The app requested an unsupported grant type."
        )
    client_id, secret = client_credentials(request, fields)
    clients = {state.scenario.clients[p].client_id: state.scenario.clients[p] for p in (PROVIDER, "dynamics")}
    client = clients.get(client_id)
    if client is None:
        return _aad_fault(request, 700016, None, client_id, tenant, "")
    if secret != client.client_secret:
        return _aad_fault(request, 7000215, None, client_id, tenant, "")
    value = fields.get("refresh_token", "")
    if not value:
        return aad_error(
            request,
            900144,
            "invalid_request",
            400,
            "The request body must contain the following parameter: 'refresh_token'.",
        )
    refresh = state.refresh.get(value)
    if refresh is None or not ({PROVIDER, "dynamics"} & set(refresh.scopes)):
        return _aad_fault(request, 9002313, None, client_id, tenant, "")
    requested = fields.get("scope", "").split()
    target = _target(requested, refresh)
    user = state.user(refresh.user)
    assert user is not None  # every scenario refresh token belongs to a scenario user
    org_url = bind_text(state.scenario.dynamics_org(user).url, origin(request))
    resource = org_url if target == "dynamics" else "https://graph.microsoft.com"
    faults = state.faults(refresh.user, target)
    await network_faults(request, faults, login_server_error)
    chosen = next((f for f in faults if f.name == "aadsts"), None)
    if chosen is not None and refresh.family not in state.consented:  # a fresh consent fixed what it broke
        return _aad_fault(request, chosen.integer("code"), refresh, client_id, tenant, resource)
    if state.is_revoked(refresh.user, target, refresh.family):
        return _aad_fault(request, REVOKED_AADSTS, refresh, client_id, tenant, resource)
    scopes = refresh.scopes.get(target) or _user_scopes(request, user, target)
    if not scopes:  # this refresh token was never consented for that resource
        return _aad_fault(request, 65001, refresh, client_id, tenant, resource)
    lifetime = random.randrange(*_LIFETIME_S)
    prefix = "EwB4A8l6sim-dyn-" if target == "dynamics" else "EwB4A8l6sim-"
    issued = state.issue_access(
        refresh.user, target, scopes, refresh.family, client_id, timedelta(seconds=lifetime), prefix
    )
    # Microsoft says to store the new refresh token and drop the old one, but does not revoke the old one at
    # once: it stays valid until it expires on its own. The simulator keeps both working, as the service does.
    rotated = state.issue_refresh(refresh, "1.AQEA-sim-")
    body: dict[str, Any] = {
        "token_type": "Bearer",
        "scope": _echo_scopes(scopes, target, org_url),
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": issued.value,
        "refresh_token": rotated.value,
    }
    if "openid" in {scope_key(s) for s in scopes}:
        now = state.clock.now()
        body["id_token"] = fake_jwt(
            {
                "aud": client_id,
                "iss": f"https://login.microsoftonline.com/{state.scenario.organisation.tenant_id}/v2.0",
                "iat": epoch(now),
                "nbf": epoch(now),
                "exp": epoch(now) + 3600,
                "name": user.name,
                "oid": object_id(user.email),
                "preferred_username": user.principal_name,
                "email": user.email,
                "tid": state.scenario.organisation.tenant_id,
                "ver": "2.0",
            }
        )
    return json_answer(body)


def _code_error(request: web.Request) -> sim_consent.ErrorAnswer:
    """A refused code redemption as the identity platform words it (AADSTS501481: the PKCE verifier)."""

    def answer(error: str, description: str, status: int) -> web.StreamResponse:
        if "verifier" in description:
            return aad_error(request, 501481, error, status, "The Code_Verifier does not match the code_challenge "
                             "supplied in the authorization request.")
        number = {"invalid_client": 7000215, "invalid_request": 900144}.get(error, 70000)
        return aad_error(request, number, error, status, description)

    return answer


def _consented(request: web.Request, redeemed: sim_consent.Redeemed) -> web.StreamResponse:
    """M1's answer to an authorization code: scopes echoed resource-qualified, a refresh token, an ID token."""
    state, code = state_of(request), redeemed.code
    user = state.user(code.user)
    assert user is not None  # only scenario users can approve a consent
    now = state.clock.now()
    org_url = bind_text(state.scenario.dynamics_org(user).url, origin(request))
    lifetime = int((redeemed.access.expires_at - now).total_seconds())
    body: dict[str, Any] = {"token_type": "Bearer", "scope": _echo_scopes(code.scopes, code.provider, org_url),
                            "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": redeemed.access.value,
                            "refresh_token": redeemed.refresh.value}
    if "openid" in {scope_key(s) for s in code.scopes}:
        tenant = state.scenario.organisation.tenant_id
        body["id_token"] = fake_jwt({
            "aud": code.client_id, "iss": f"https://login.microsoftonline.com/{tenant}/v2.0", "iat": epoch(now),
            "nbf": epoch(now), "exp": epoch(now) + 3600, "name": user.name, "oid": object_id(user.email),
            "preferred_username": user.principal_name, "email": user.email, "tid": tenant, "ver": "2.0"})
    return json_answer(body)


def _user_scopes(request: web.Request, user: User, provider: str) -> tuple[str, ...]:
    """The scopes of any grant the user gave this resource (one Microsoft refresh token serves them all)."""
    state = state_of(request)
    for _, grant in state.scenario.grants():
        if grant.account.lower() == user.email.lower() and grant.provider == provider:
            return state.scenario.grant_scopes(grant)
    return ()


# ---------------------------------------------------------------------------------------------- Graph answers


def graph_error(
    code: str,
    message: str,
    status: int,
    *,
    inner: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Graph's error envelope (provider-apis.md "Graph error bodies")."""
    rid = request_id()
    inner_error = {
        **(inner or {}),
        "date": graph_time(datetime.now(UTC)),
        "request-id": rid,
        "client-request-id": rid,
    }
    return json_answer(
        {"error": {"code": code, "message": message, "innerError": inner_error}},
        status,
        {"request-id": rid, "client-request-id": rid, **(headers or {})},
    )


class GraphSurface:
    provider = PROVIDER

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        return graph_error(
            "InvalidAuthenticationToken",
            _UNAUTHORIZED_TEXT[status],
            401,
            headers={"WWW-Authenticate": _WWW_AUTHENTICATE},
        )

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        return graph_error("ErrorAccessDenied", "Access is denied. Check credentials and try again.", 403)

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        # Graph may send a decimal such as 2.128 (provider-apis.md §8.4).
        seconds = fault.number("retry_after")
        return graph_error(
            "TooManyRequests",
            "Please retry again later.",
            429,
            inner={"code": "429", "message": "Please retry after", "status": "429"},
            headers={"Retry-After": str(int(seconds)) if seconds == int(seconds) else str(seconds)},
        )

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse:
        if status == 500:
            return graph_error("UnknownError", "", 500)
        return graph_error(
            "ServiceNotAvailable", "The service is temporarily unavailable. Please retry later.", status
        )


GRAPH: Final = GraphSurface()


async def _caller(request: web.Request, scopes: tuple[str, ...], *, mailbox: bool) -> Caller:
    caller = await authenticate(request, GRAPH, scopes=scopes)
    fault = caller.fault("mailbox_not_enabled")
    if mailbox and fault is not None:  # a 404, not a 403 (provider-apis.md §8.5)
        raise Reply(graph_error("MailboxNotEnabledForRESTAPI", _NOT_ENABLED[fault.text("variant")], 404))
    return caller


def _metadata(request: web.Request, fragment: str) -> str:
    return f"{origin(request)}/graph/v1.0/$metadata#{fragment}"


def _select(
    request: web.Request, available: dict[str, Any], entity: str, *, always: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The properties $select asks for (all when absent); an unknown name is Graph's 400."""
    raw = request.query.get("$select", "")
    if not raw:
        return {k: v for k, v in available.items() if k not in _SELECT_ONLY}, []
    names = [n.strip() for n in raw.split(",") if n.strip()]
    lowered = {k.lower(): k for k in available}
    chosen: dict[str, Any] = {k: available[k] for k in always if k in available}
    for name in names:
        key = lowered.get(name.lower())
        if key is None:
            raise Reply(
                graph_error(
                    "BadRequest",
                    f"Could not find a property named '{name}' on type 'microsoft.graph.{entity}'.",
                    400,
                )
            )
        chosen[key] = available[key]
    return chosen, names


# Returned only when $select names them (provider-apis.md M2).
_SELECT_ONLY: Final = frozenset({"proxyAddresses"})


# ---------------------------------------------------------------------------------------------- M2, M3


def _address(user: User, email: str) -> dict[str, str]:
    name = (
        user.name
        if email.lower() in (user.email.lower(), *(a.lower() for a in user.aliases))
        else email.split("@")[0].replace(".", " ").title()
    )
    return {"name": name, "address": email}


async def me(request: web.Request) -> web.StreamResponse:
    """M2: identity, primary SMTP and aliases (proxyAddresses only on $select)."""
    caller = await _caller(request, SCOPES_ME, mailbox=False)
    user = caller.user
    available: dict[str, Any] = {
        "businessPhones": [],
        "displayName": user.name,
        "givenName": user.first_name,
        "jobTitle": None,
        "mail": user.email,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": user.last_name,
        "userPrincipalName": user.principal_name,
        "id": object_id(user.email),
        "proxyAddresses": [f"SMTP:{user.email}", *(f"smtp:{a}" for a in user.aliases)],
    }
    chosen, names = _select(request, available, "user")
    context = f"users({','.join(names)})/$entity" if names else "users/$entity"
    return json_answer({"@odata.context": _metadata(request, context), **chosen})


def _mailbox_settings(user: User) -> dict[str, Any]:
    return {
        "archiveFolder": "AQMkADAwATM0MDAAMS0yNQ" + stable_digest("archive", user.email, length=12),
        "timeZone": user.mailbox_timezone,
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "scheduledStartDateTime": {"dateTime": "2024-05-20T07:00:00.0000000", "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": "2024-05-21T07:00:00.0000000", "timeZone": "UTC"},
            "internalReplyMessage": "",
            "externalReplyMessage": "",
        },
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": user.working_hours_zone},
        },
        "userPurpose": {"value": "user"},
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
    }


async def mailbox_settings(request: web.Request) -> web.StreamResponse:
    """M3: timeZone is a Windows zone name as the scenario gives it."""
    caller = await _caller(request, SCOPES_MAILBOX_SETTINGS, mailbox=True)
    chosen, _ = _select(request, _mailbox_settings(caller.user), "mailboxSettings")
    return json_answer({"@odata.context": _metadata(request, "Me/mailboxSettings"), **chosen})


async def mailbox_setting(request: web.Request) -> web.StreamResponse:
    """M3, one property: a plain value comes wrapped in {"value": ...}."""
    caller = await _caller(request, SCOPES_MAILBOX_SETTINGS, mailbox=True)
    name = request.match_info["property"]
    settings = _mailbox_settings(caller.user)
    key = next((k for k in settings if k.lower() == name.lower()), None)
    if key is None:
        return graph_error("BadRequest", f"Resource not found for the segment '{name}'.", 400)
    value = settings[key]
    context = _metadata(request, f"users('{object_id(caller.user.email)}')/mailboxSettings/{key}")
    return json_answer(
        {"@odata.context": context, **value}
        if isinstance(value, dict)
        else {"@odata.context": context, "value": value}
    )


# ---------------------------------------------------------------------------------------------- M4


_ALLOWED_ROLES: Final = [
    "freeBusyRead",
    "limitedRead",
    "read",
    "write",
    "delegateWithoutPrivateEventAccess",
    "delegateWithPrivateEventAccess",
]


async def calendar_permissions(request: web.Request) -> web.StreamResponse:
    """M4: one entry per share, then "My Organization" (no address; id is base64 of "Default")."""
    caller = await _caller(request, SCOPES_CALENDAR, mailbox=True)
    user = caller.user
    domain = state_of(request).scenario.organisation.domain.lower()
    default_role = "freeBusyRead"
    entries: list[dict[str, Any]] = []
    for share in user.calendar_shares:
        if share.grantee == "default":
            default_role = share.role
            continue
        entries.append(
            {
                "id": base64.b64encode(f"ExchangePublishedUser.{share.grantee}".encode()).decode(),
                "isRemovable": True,
                "isInsideOrganization": share.grantee.lower().endswith("@" + domain),
                "role": share.role,
                "allowedRoles": _ALLOWED_ROLES,
                "emailAddress": _address(user, share.grantee),
            }
        )
    entries.append(
        {
            "id": "RGVmYXVsdA==",
            "isRemovable": False,
            "isInsideOrganization": True,
            "role": default_role,
            "allowedRoles": ["none", "freeBusyRead", "limitedRead", "read", "write"],
            "emailAddress": {"name": "My Organization"},
        }
    )
    context = _metadata(request, f"users('{object_id(user.email)}')/calendar/calendarPermissions")
    return json_answer({"@odata.context": context, "value": entries})


# ---------------------------------------------------------------------------------------------- M5


def _top(request: web.Request, default: int) -> int:
    raw = request.query.get("$top", str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise Reply(graph_error("BadRequest", f"Invalid value '{raw}' for query parameter '$top'.", 400))
    return min(int(raw), 1000)


def _graph_id(kind: str, seed: str) -> str:
    encoded = base64.urlsafe_b64encode(stable_digest(kind, seed, length=48).encode()).decode()
    return "AAMkAG" + encoded.rstrip("=")


async def messages(request: web.Request) -> web.StreamResponse:
    """M5: newest first; an empty mailbox answers "value": [] without a nextLink."""
    caller = await _caller(request, SCOPES_MAIL, mailbox=True)
    user = caller.user
    now = state_of(request).clock.now()
    top = _top(request, 10)
    received = sorted(
        ((m.received.resolve(now), m) for m in user.messages if m.received.resolve(now) <= now),
        key=lambda pair: pair[0],
        reverse=True,
    )
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    for when, message in received[:top]:
        etag = stable_digest("etag", message.id, length=5)
        available = {
            "@odata.etag": f'W/"CQAAABYAAAAiIsqMbYjsT5e/T7KzowPTAAB{etag}"',
            "id": _graph_id("message", user.email + message.id),
            "receivedDateTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "subject": message.subject,
            "isRead": True,
            "bodyPreview": "",
            "from": {"emailAddress": _address(user, message.sender)},
            "sender": {"emailAddress": _address(user, message.sender)},
            "toRecipients": [{"emailAddress": {"name": user.name, "address": user.email}}],
        }
        row, names = _select(request, available, "message", always=("@odata.etag", "id"))
        rows.append(row)
    fragment = f"users('{object_id(user.email)}')/messages" + (f"({','.join(names)})" if names else "")
    body: dict[str, Any] = {"@odata.context": _metadata(request, fragment), "value": rows}
    if len(received) > top:
        body["@odata.nextLink"] = f"{origin(request)}{request.path}?%24top={top}&%24skip={top}"
    return json_answer(body)


# ---------------------------------------------------------------------------------------------- M6


def _zone(name: str) -> tuple[str, ZoneInfo]:
    """The zone `Prefer: outlook.timezone` asks for; UTC for a name the simulator does not know."""
    try:
        return name, ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC", ZoneInfo("UTC")


def _graph_datetime(moment: datetime, zone: ZoneInfo) -> str:
    """Seven fractional digits and no offset: the zone goes in the sibling timeZone field."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.0000000")


_PREFER_ZONE: Final = re.compile(r'outlook\.timezone\s*=\s*"([^"]+)"', re.IGNORECASE)
_START_FILTER: Final = re.compile(r"^start/dateTime\s+(ge|gt)\s+'([^']+)'$", re.IGNORECASE)


def _parse_time(text: str, *, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Reply(
            graph_error("ErrorInvalidParameter", f"The value '{text}' of parameter '{what}' is invalid.", 400)
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _event_rows(
    request: web.Request, caller: Caller, window: tuple[datetime, datetime] | None
) -> web.Response:
    user = caller.user
    now = state_of(request).clock.now()
    match = _PREFER_ZONE.search(request.headers.get("Prefer", ""))
    zone_name, zone = _zone(match.group(1)) if match else ("UTC", ZoneInfo("UTC"))
    after: datetime | None = None
    flt = request.query.get("$filter", "")
    if flt:
        found = _START_FILTER.match(flt.strip())
        if found is None:
            return graph_error("BadRequest", "Invalid filter clause", 400)
        after = _parse_time(found.group(2), what="$filter")
    top = _top(request, 10)
    events = sorted(((e.start.resolve(now), e) for e in user.events), key=lambda pair: pair[0])
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    for start, event in events:
        end = start + timedelta(minutes=event.duration_minutes)
        if window is not None and not (start < window[1] and end > window[0]):
            continue
        if after is not None and start < after:
            continue
        available = {
            "@odata.etag": f'W/"ZlnW4RIAV06KYYwlrfNZvQAAKGW{stable_digest("etag", event.id, length=4)}"',
            "id": _graph_id("event", user.email + event.id),
            "subject": event.subject,
            "start": {"dateTime": _graph_datetime(start, zone), "timeZone": zone_name},
            "end": {"dateTime": _graph_datetime(end, zone), "timeZone": zone_name},
            "originalStartTimeZone": user.calendar_zone,
            "originalEndTimeZone": user.calendar_zone,
            "organizer": {"emailAddress": {"name": user.name, "address": user.email}},
            "attendees": [
                {
                    "type": "required",
                    "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                    "emailAddress": _address(user, a),
                }
                for a in event.attendees
            ],
        }
        row, names = _select(request, available, "event", always=("@odata.etag", "id"))
        rows.append(row)
        if len(rows) == top:
            break
    segment = "calendarView" if window is not None else "events"
    fragment = f"users('{object_id(user.email)}')/{segment}" + (f"({','.join(names)})" if names else "")
    return json_answer({"@odata.context": _metadata(request, fragment), "value": rows})


async def events(request: web.Request) -> web.StreamResponse:
    """M6: start/end in UTC unless `Prefer: outlook.timezone` names a zone; originalStartTimeZone as made."""
    caller = await _caller(request, SCOPES_CALENDAR, mailbox=True)
    return _event_rows(request, caller, None)


async def calendar_view(request: web.Request) -> web.StreamResponse:
    """M6's calendarView: the events overlapping startDateTime..endDateTime."""
    caller = await _caller(request, SCOPES_CALENDAR, mailbox=True)
    query = {k.lower(): v for k, v in request.query.items()}
    if "startdatetime" not in query or "enddatetime" not in query:
        return graph_error(
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query "
            "string parameters StartDateTime and EndDateTime.",
            400,
        )
    window = (
        _parse_time(query["startdatetime"], what="startDateTime"),
        _parse_time(query["enddatetime"], what="endDateTime"),
    )
    return _event_rows(request, caller, window)


# ----------------------------------------------------------------------- extras (not in provider-apis.md yet)


async def calendar(request: web.Request) -> web.StreamResponse:
    """GET /me/calendar: the primary calendar resource (Graph calendars carry no time zone)."""
    caller = await _caller(request, SCOPES_CALENDAR, mailbox=True)
    user = caller.user
    return json_answer(
        {
            "@odata.context": _metadata(request, f"users('{object_id(user.email)}')/calendar/$entity"),
            "id": _graph_id("calendar", user.email),
            "name": "Calendar",
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": True,
            "changeKey": stable_digest("changekey", user.email, length=16),
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": {"name": user.name, "address": user.email},
        }
    )


async def not_found(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/microsoft-login"):
        return aad_error(
            request,
            900561,
            "invalid_request",
            404,
            "The endpoint only accepts POST, OPTIONS requests. Received a GET request.",
        )
    return graph_error("ResourceNotFound", "Resource could not be discovered.", 404)


_GRAPH: Final = "https://graph.microsoft.com/v1.0"

ROUTES: Final = (
    Route(
        "POST",
        "microsoft-login",
        "/{tenant}/oauth2/v2.0/token",
        "M1 D1",
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        token,
    ),
    Route(
        "GET",
        "graph",
        "/v1.0/me",
        "M2",
        f"{_GRAPH}/me?$select=id,displayName,mail,userPrincipalName,proxyAddresses",
        me,
    ),
    Route("GET", "graph", "/v1.0/me/mailboxSettings", "M3", f"{_GRAPH}/me/mailboxSettings", mailbox_settings),
    Route(
        "GET",
        "graph",
        "/v1.0/me/mailboxSettings/{property}",
        "M3",
        "/me/mailboxSettings/timeZone",
        mailbox_setting,
        doc_root=_GRAPH,
    ),
    Route(
        "GET",
        "graph",
        "/v1.0/me/calendar/calendarPermissions",
        "M4",
        f"{_GRAPH}/me/calendar/calendarPermissions",
        calendar_permissions,
    ),
    Route(
        "GET",
        "graph",
        "/v1.0/me/messages",
        "M5",
        f"{_GRAPH}/me/messages?$top=1&$select=id,receivedDateTime,subject",
        messages,
    ),
    Route(
        "GET",
        "graph",
        "/v1.0/me/events",
        "M6",
        f"{_GRAPH}/me/events?$top=10&$select=subject,start,end,organizer,originalStartTimeZone",
        events,
    ),
    Route(
        "GET",
        "graph",
        "/v1.0/me/calendarView",
        "M6",
        "/me/calendarView?startDateTime=...&endDateTime=...",
        calendar_view,
        doc_root=_GRAPH,
    ),
)

# Endpoints the Microsoft client calls that provider-apis.md does not list yet;
# served too (see EXTRA_ROUTES in simulator.py).
EXTRA_ROUTES: Final = (
    Route(
        "GET",
        "graph",
        "/v1.0/me/calendar",
        "extra",
        "https://learn.microsoft.com/en-us/graph/api/calendar-get",
        calendar,
        note="MicrosoftClient.calendar reads the primary calendar's id and owner",
    ),
)
