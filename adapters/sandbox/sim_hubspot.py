"""Simulated HubSpot: OAuth refresh and token metadata (H1-H3), owners (H4) and daily API usage (H5)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from adapters.sandbox import sim_consent
from adapters.sandbox.scenario import TOKEN_LIFETIME_S, Fault, HubSpotPortal, User, scope_key, stable_digest
from adapters.sandbox.sim_base import (
    AccessToken,
    Caller,
    Reply,
    Route,
    SimState,
    TokenStatus,
    authenticate,
    bearer,
    client_credentials,
    epoch,
    form,
    hubspot_owner_id,
    hubspot_user_id,
    iso_millis,
    json_answer,
    network_faults,
    request_id,
    state_of,
)

PROVIDER: Final = "hubspot"
SCOPES_OWNERS: Final = ("crm.objects.owners.read",)
SCOPES_USAGE: Final = ("oauth",)
APP_ID: Final = 456_789
_AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def api_error(status: int, message: str, category: str, **extra: Any) -> web.Response:
    """HubSpot's standard error body (provider-apis.md "HubSpot error bodies")."""
    headers = extra.pop("headers", None)
    return json_answer(
        {"status": "error", "message": message, "correlationId": request_id(), "category": category, **extra},
        status,
        headers,
    )


_RATE_MESSAGES: Final = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limit_body(policy: str, portal: HubSpotPortal, retry_after: float | None) -> web.Response:
    """A 429 with errorType RATE_LIMIT and policyName, in the two shapes seen on the wire."""
    body: dict[str, Any] = {
        "status": "error",
        "message": _RATE_MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": request_id(),
        "policyName": policy,
    }
    if policy == "TEN_SECONDLY_ROLLING":
        body["groupName"] = f"publicapi:oauth-api-calls-ten-secondly:{portal.hub_id}"
    else:
        body["requestId"] = request_id()
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = (
            str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        )
    return json_answer(body, 429, headers)


class ApiSurface:
    provider = PROVIDER

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        if status == TokenStatus.EXPIRED and token is not None:
            now = state_of(request).clock.now()
            hours = int((now - token.expires_at).total_seconds() // 3600)
            return api_error(
                401,
                f"The OAuth token used to make this call expired {hours} hour(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expire time": [token.expires_at.astimezone(UTC).isoformat()]},
            )
        return api_error(401, _AUTH_MESSAGE, "INVALID_AUTHENTICATION")

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        return api_error(
            403,
            "This app hasn't been granted all required scopes to make this call. Read more about required "
            "scopes here: https://developers.hubspot.com/scopes.",
            "MISSING_SCOPES",
            errors=[
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": list(needed)},
                }
            ],
            links={"scopes": "https://developers.hubspot.com/scopes"},
        )

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        state = state_of(request)
        token = state.access.get(bearer(request))
        user = state.user(token.user) if token is not None else None
        portal = state.scenario.hubspot_portal(user) if user is not None else HubSpotPortal(id="default")
        return rate_limit_body(fault.text("policy"), portal, fault.number("retry_after"))

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse:
        if status == 500:
            return api_error(500, "internal error", "INTERNAL_ERROR")
        return api_error(status, "The service is temporarily unavailable.", "SERVICE_UNAVAILABLE")


API: Final = ApiSurface()


def _used(state: SimState, portal: HubSpotPortal) -> int:
    return state.hubspot_used.setdefault(portal.id, portal.daily_used)


def rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    """After-hook of API answers: the interval headers, and Daily ones only for non-OAuth tokens (§8.7)."""
    state = state_of(request)
    token = state.access.get(bearer(request))
    user = state.user(token.user) if token is not None and token.provider == PROVIDER else None
    if user is None:
        return
    portal = state.scenario.hubspot_portal(user)
    response.headers.update(
        {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(portal.interval_max),
            "X-HubSpot-RateLimit-Remaining": str(portal.interval_remaining),
            "X-HubSpot-RateLimit-Secondly": str(portal.secondly_limit),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(portal.secondly_remaining),
        }
    )
    if portal.daily_headers:
        response.headers["X-HubSpot-RateLimit-Daily"] = str(portal.daily_limit)
        response.headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
            max(0, portal.daily_limit - _used(state, portal))
        )


async def _api_caller(
    request: web.Request, scopes: tuple[str, ...], *, counted: bool
) -> tuple[Caller, HubSpotPortal]:
    caller = await authenticate(request, API, scopes=scopes, rate_limited=counted)
    state = state_of(request)
    portal = state.scenario.hubspot_portal(caller.user)
    if counted:
        if _used(state, portal) >= portal.daily_limit:
            raise Reply(rate_limit_body("DAILY", portal, None))  # DAILY: stop until midnight, no Retry-After
        state.hubspot_used[portal.id] += 1
    return caller, portal


# ---------------------------------------------------------------------------------------------- H1


def _legacy_error(status: str, message: str) -> web.Response:
    return json_answer(
        {"status": status, "message": message, "correlationId": request_id(), "requestId": request_id()}, 400
    )


def _rfc_error(error: str, status: str, message: str) -> web.Response:
    """The newer token endpoints add RFC 6749 fields and keep status/message."""
    return json_answer(
        {
            "error": error,
            "error_description": message,
            "status": status,
            "message": message,
            "correlationId": request_id(),
        },
        400,
    )


def _oauth_server_error(request: web.Request, status: int) -> web.StreamResponse:
    return api_error(status, "internal error", "INTERNAL_ERROR")


async def token(request: web.Request) -> web.StreamResponse:
    """H1: form body only; the same refresh token comes back with a 30-minute access token."""
    legacy = "/oauth/v1/" in request.path

    def fail(error: str, status: str, message: str) -> web.Response:
        return _legacy_error(status, message) if legacy else _rfc_error(error, status, message)

    state = state_of(request)
    fields = await form(request)
    if fields.get("grant_type") == "authorization_code":  # a Reconnect consent (sim_consent.py)
        return await sim_consent.redeem(
            request, (PROVIDER,), fields, answer=_consented, server_error=_oauth_server_error,
            error=lambda error, message, _: fail(
                error, "BAD_CLIENT_ID" if error == "invalid_client" else "BAD_AUTH_CODE", message))
    if fields.get("grant_type") != "refresh_token":
        return fail("unsupported_grant_type", "BAD_GRANT_TYPE", "missing or unknown grant type")
    client_id, secret = client_credentials(request, fields)
    client = state.scenario.clients[PROVIDER]
    if client_id != client.client_id:
        return fail("invalid_client", "BAD_CLIENT_ID", "missing or unknown client id")
    if secret != client.client_secret:
        return fail("invalid_client", "BAD_CLIENT_ID", "client_secret does not match the client id")
    refresh = state.refresh.get(fields.get("refresh_token", ""))
    if refresh is None or PROVIDER not in refresh.scopes:
        return fail("invalid_grant", "BAD_REFRESH_TOKEN", "missing or invalid refresh token")
    await network_faults(request, state.faults(refresh.user, PROVIDER), _oauth_server_error)
    if state.is_revoked(refresh.user, PROVIDER, refresh.family):
        return fail("invalid_grant", "BAD_REFRESH_TOKEN", "refresh token is invalid, expired or revoked")
    lifetime = TOKEN_LIFETIME_S[PROVIDER]
    issued = state.issue_access(
        refresh.user,
        PROVIDER,
        refresh.scopes[PROVIDER],
        refresh.family,
        client_id,
        timedelta(seconds=lifetime),
        "CKsim-",
    )
    return json_answer(
        {
            "token_type": "bearer",
            "refresh_token": refresh.value,
            "access_token": issued.value,
            "expires_in": lifetime,
        }
    )


def _consented(request: web.Request, redeemed: sim_consent.Redeemed) -> web.StreamResponse:
    """H1's answer to an authorization code: the same shape as a refresh's."""
    lifetime = int((redeemed.access.expires_at - state_of(request).clock.now()).total_seconds())
    return json_answer({"token_type": "bearer", "refresh_token": redeemed.refresh.value,
                        "access_token": redeemed.access.value, "expires_in": lifetime})


# ---------------------------------------------------------------------------------------------- H2, H3


def _not_found(request: web.Request) -> web.Response:
    return api_error(404, "Token not found", "OBJECT_NOT_FOUND")


def _identity(state: SimState, email: str) -> tuple[User, HubSpotPortal]:
    user = state.user(email)
    assert user is not None
    return user, state.scenario.hubspot_portal(user)


def _scope_list(scopes: tuple[str, ...]) -> list[str]:
    return [scope_key(s) for s in scopes]


async def access_token_info(request: web.Request) -> web.StreamResponse:
    """H2: integers are integers; expires_in counts down."""
    state = state_of(request)
    found = state.access.get(request.match_info["token"])
    if found is None or found.provider != PROVIDER:
        return _not_found(request)
    await network_faults(request, state.faults(found.user, PROVIDER), API.server_error)
    if state.token_status(found) != TokenStatus.OK:
        return _not_found(request)
    user, portal = _identity(state, found.user)
    uid = hubspot_user_id(user.email)
    return json_answer(
        {
            "token": found.value,
            "user": user.crm_address,
            "hub_domain": portal.domain or state.scenario.organisation.domain,
            "scopes": _scope_list(found.scopes),
            "signed_access_token": {
                "expiresAt": int(found.expires_at.timestamp() * 1000),
                "scopes": "AAEAAAAAAA==",
                "hubId": portal.hub_id,
                "userId": uid,
                "appId": APP_ID,
                "installingUserId": uid,
                "isUserLevel": False,
                "isPrivateDistribution": False,
                "isServiceAccount": False,
                "hublet": "na1",
                "signature": "sim",
            },
            "hub_id": portal.hub_id,
            "app_id": APP_ID,
            "expires_in": max(0, int((found.expires_at - state.clock.now()).total_seconds())),
            "user_id": uid,
            "token_type": "access",
            "is_private_distribution": False,
        }
    )


async def refresh_token_info(request: web.Request) -> web.StreamResponse:
    """H3."""
    state = state_of(request)
    found = state.refresh.get(request.match_info["token"])
    if found is None or PROVIDER not in found.scopes:
        return _not_found(request)
    await network_faults(request, state.faults(found.user, PROVIDER), API.server_error)
    if state.is_revoked(found.user, PROVIDER, found.family):
        return _not_found(request)
    user, portal = _identity(state, found.user)
    return json_answer(
        {
            "token": found.value,
            "user": user.crm_address,
            "hub_domain": portal.domain or state.scenario.organisation.domain,
            "scopes": _scope_list(found.scopes[PROVIDER]),
            "hub_id": portal.hub_id,
            "client_id": state.scenario.clients[PROVIDER].client_id,
            "user_id": hubspot_user_id(user.email),
            "token_type": "refresh",
        }
    )


async def delete_refresh_token(request: web.Request) -> web.StreamResponse:
    """DELETE a refresh token: 204 and no body. Only the refresh token goes; its access tokens run out."""
    state = state_of(request)
    found = state.refresh.get(request.match_info["token"])
    if found is None or PROVIDER not in found.scopes:
        return _not_found(request)
    await network_faults(request, state.faults(found.user, PROVIDER), API.server_error)
    state.revoke(PROVIDER, found, family=False)
    return web.Response(status=204)


async def introspect(request: web.Request) -> web.StreamResponse:
    """H2's successor: {"active": false} for anything unknown, expired or revoked."""
    state = state_of(request)
    fields = await form(request)
    client_id, secret = client_credentials(request, fields)
    client = state.scenario.clients[PROVIDER]
    if (client_id, secret) != (client.client_id, client.client_secret):
        return json_answer(
            {
                "error": "invalid_client",
                "error_description": "client authentication failed",
                "status": "BAD_CLIENT_ID",
                "message": "client authentication failed",
            },
            401,
        )
    value = fields.get("token", "")
    access = state.access.get(value)
    refresh = state.refresh.get(value)
    now = state.clock.now()
    body: dict[str, Any]
    if access is not None and access.provider == PROVIDER and state.token_status(access) == TokenStatus.OK:
        user, portal = _identity(state, access.user)
        body = {
            "active": True,
            "token_type": "access_token",
            "scope": " ".join(_scope_list(access.scopes)),
            "exp": epoch(access.expires_at),
            "iat": epoch(access.issued_at),
        }
    elif (
        refresh is not None
        and PROVIDER in refresh.scopes
        and not state.is_revoked(refresh.user, PROVIDER, refresh.family)
    ):
        user, portal = _identity(state, refresh.user)
        body = {
            "active": True,
            "token_type": "refresh_token",
            "scope": " ".join(_scope_list(refresh.scopes[PROVIDER])),
            "iat": epoch(now),
        }
    else:
        return json_answer({"active": False})
    body.update(
        {
            "client_id": client.client_id,
            "hub_id": portal.hub_id,
            "user_id": hubspot_user_id(user.email),
            "user": user.crm_address,
        }
    )
    return json_answer(body)


# ---------------------------------------------------------------------------------------------- H4, H5


def _owner(user: User) -> dict[str, Any]:
    uid = hubspot_user_id(user.email)
    return {
        "id": hubspot_owner_id(user.email),
        "email": user.crm_address,
        "type": "PERSON",
        "firstName": user.first_name,
        "lastName": user.last_name,
        "userId": uid,
        "userIdIncludingInactive": uid,
        "createdAt": "2019-12-25T13:01:35.228Z",
        "updatedAt": "2024-05-02T10:11:12.345Z",
        "archived": not user.crm_active,
        "teams": [{"id": "368389", "name": "Sales", "primary": True}],
    }


async def owners(request: web.Request) -> web.StreamResponse:
    """H4: owner id is a string, userId an integer (provider-apis.md §8.7); paging absent on the last page."""
    caller, portal = await _api_caller(request, SCOPES_OWNERS, counted=True)
    state = state_of(request)
    archived = request.query.get("archived", "false").lower() == "true"
    wanted = request.query.get("email", "").strip().lower()
    raw_limit = request.query.get("limit", "100")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 500:
        return api_error(
            400,
            f"Invalid input JSON on line 1: limit {raw_limit!r} must be between 1 and 500",
            "VALIDATION_ERROR",
        )
    limit = int(raw_limit)
    people = [u for u in state.scenario.org_users(PROVIDER, portal.id) if u.crm_active != archived]
    if wanted:
        people = [u for u in people if u.crm_address.lower() == wanted]
    start = _cursor(request.query.get("after", ""))
    page = people[start : start + limit]
    body: dict[str, Any] = {"results": [_owner(u) for u in page]}
    if start + limit < len(people):
        after = base64.b64encode(str(start + limit).encode()).decode()
        body["paging"] = {"next": {"after": after, "link": f"{request.url.with_query({'after': after})}"}}
    return json_answer(body)


def _cursor(after: str) -> int:
    try:
        return int(base64.b64decode(after).decode()) if after else 0
    except ValueError:
        raise Reply(api_error(400, f"Invalid paging cursor '{after}'", "VALIDATION_ERROR")) from None


async def usage(request: web.Request) -> web.StreamResponse:
    """H5: the portal's daily usage. Not throttled by a `rate_limited` fault, so the quota check can read
    how close the portal is to its daily limit while the burst limit bites."""
    _, portal = await _api_caller(request, SCOPES_USAGE, counted=False)
    state = state_of(request)
    now = state.clock.now()
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    return json_answer(
        {
            "results": [
                {
                    "name": "private-apps-api-calls-daily",
                    "usageLimit": portal.daily_limit,
                    "currentUsage": _used(state, portal),
                    "collectedAt": iso_millis(now),
                    "fetchStatus": "SUCCESS",
                    "resetsAt": midnight.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            ]
        }
    )


# ----------------------------------------------------------------------- extras (not in provider-apis.md yet)

SCOPES_CONTACTS_READ: Final = ("crm.objects.contacts.read",)
SCOPES_CONTACTS_WRITE: Final = ("crm.objects.contacts.write",)
_OPERATORS: Final = frozenset({"EQ", "NEQ", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY"})
_DEFAULT_PROPERTIES: Final = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text() or "null")
    except ValueError as exc:
        raise Reply(api_error(400, f"Invalid input JSON on line 1: {exc}", "VALIDATION_ERROR")) from None
    if not isinstance(body, dict):
        raise Reply(api_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR"))
    return body


def _matches(contact: dict[str, Any], spec: Any) -> bool:
    if not isinstance(spec, dict) or spec.get("operator") not in _OPERATORS:
        operator = spec.get("operator") if isinstance(spec, dict) else spec
        raise Reply(api_error(400, f"Unsupported filter operator {operator!r}", "VALIDATION_ERROR"))
    value = contact.get(str(spec.get("propertyName", "")))
    text = str(value).lower() if value is not None else None
    operator = spec["operator"]
    if operator == "HAS_PROPERTY":
        return bool(text)
    if operator == "NOT_HAS_PROPERTY":
        return not text
    wanted = [str(v).lower() for v in spec.get("values") or [spec.get("value")]]
    found = text is not None and text in wanted
    return found if operator in ("EQ", "IN") else not found


async def search_contacts(request: web.Request) -> web.StreamResponse:
    """CRM search: filters AND-ed within a group, groups OR-ed; email compares case-insensitively."""
    _, portal = await _api_caller(request, SCOPES_CONTACTS_READ, counted=True)
    body = await _json_body(request)
    state = state_of(request)
    rows = []
    for contact in state.scenario.counterparts():
        first, _, last = contact.name.partition(" ")
        record_id = str(
            100_000 + int(stable_digest("hubspot-contact", portal.id, contact.email.lower(), length=6), 16)
        )
        rows.append(
            {
                "hs_object_id": record_id,
                "email": contact.email,
                "firstname": first,
                "lastname": last,
                "hs_additional_emails": None,
                "createdate": "2024-01-09T10:00:00.000Z",
                "lastmodifieddate": "2024-05-02T10:11:12.345Z",
            }
        )
    groups = body.get("filterGroups") or []
    if groups:
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            return api_error(400, "filterGroups must be a list of objects", "VALIDATION_ERROR")
        rows = [r for r in rows if any(all(_matches(r, f) for f in (g.get("filters") or [])) for g in groups)]
    wanted = [str(p) for p in body.get("properties") or ()] or list(_DEFAULT_PROPERTIES)
    names = [*wanted, *(p for p in ("createdate", "hs_object_id", "lastmodifieddate") if p not in wanted)]
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 1 <= limit <= 200:
        return api_error(400, "limit must be between 1 and 200", "VALIDATION_ERROR")
    after = int(str(body.get("after", "0"))) if str(body.get("after", "0")).isdigit() else 0
    page = rows[after : after + limit]
    answer: dict[str, Any] = {
        "total": len(rows),
        "results": [
            {
                "id": r["hs_object_id"],
                "properties": {n: r.get(n) for n in names},
                "createdAt": r["createdate"],
                "updatedAt": r["lastmodifieddate"],
                "archived": False,
            }
            for r in page
        ],
    }
    if after + limit < len(rows):
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return json_answer(answer)


async def create_task(request: web.Request) -> web.StreamResponse:
    """A task (the write probe); hs_timestamp is required, as HubSpot requires it."""
    await _api_caller(request, SCOPES_CONTACTS_WRITE, counted=True)
    body = await _json_body(request)
    properties = body.get("properties")
    if not isinstance(properties, dict) or not properties.get("hs_timestamp"):
        return api_error(
            400,
            'Property values were not valid: [{"isValid":false,"message":"hs_timestamp is '
            'required","error":"REQUIRED_PROPERTY","name":"hs_timestamp"}]',
            "VALIDATION_ERROR",
        )
    state = state_of(request)
    now = iso_millis(state.clock.now())
    task_id = str(60_000_000_000 + len(state.records) + int(stable_digest("task", now, length=6), 16))
    stored = {
        **{k: None if v is None else str(v) for k, v in properties.items()},
        "hs_createdate": now,
        "hs_lastmodifieddate": now,
        "hs_object_id": task_id,
    }
    state.records[f"hubspot-task:{task_id}"] = {"attributes": {"type": "hubspot-task"}, **stored}
    return json_answer(
        {"id": task_id, "properties": stored, "createdAt": now, "updatedAt": now, "archived": False}, 201
    )


async def delete_task(request: web.Request) -> web.StreamResponse:
    """Archive a task: 204 whether or not it existed, as HubSpot answers."""
    await _api_caller(request, SCOPES_CONTACTS_WRITE, counted=True)
    state_of(request).records.pop(f"hubspot-task:{request.match_info['task_id']}", None)
    return web.Response(status=204)


async def not_found(request: web.Request) -> web.StreamResponse:
    return api_error(404, "Resource not found", "OBJECT_NOT_FOUND")


_API: Final = "https://api.hubapi.com"

ROUTES: Final = (
    Route("POST", "hubspot", "/oauth/v1/token", "H1", f"{_API}/oauth/v1/token", token),
    Route("POST", "hubspot", "/oauth/2026-03/token", "H1", f"{_API}/oauth/2026-03/token", token),
    Route("POST", "hubspot", "/oauth/v3/token", "H1", "/oauth/v3/token", token, doc_root=_API),
    Route(
        "GET",
        "hubspot",
        "/oauth/v1/access-tokens/{token}",
        "H2",
        f"{_API}/oauth/v1/access-tokens/{{token}}",
        access_token_info,
    ),
    Route(
        "POST",
        "hubspot",
        "/oauth/2026-03/token/introspect",
        "H2",
        f"{_API}/oauth/2026-03/token/introspect",
        introspect,
    ),
    Route(
        "GET",
        "hubspot",
        "/oauth/v1/refresh-tokens/{token}",
        "H3",
        f"{_API}/oauth/v1/refresh-tokens/{{token}}",
        refresh_token_info,
    ),
    Route(
        "GET",
        "hubspot",
        "/crm/v3/owners",
        "H4",
        f"{_API}/crm/v3/owners?email=ana%40acme.com&limit=100&archived=false",
        owners,
        after=rate_headers,
    ),
    Route(
        "GET",
        "hubspot",
        "/account-info/v3/api-usage/daily/private-apps",
        "H5",
        f"{_API}/account-info/v3/api-usage/daily/private-apps",
        usage,
        after=rate_headers,
    ),
    Route(
        "GET",
        "hubspot",
        "/account-info/2026-03/api-usage/daily/private-apps",
        "H5",
        "/account-info/2026-03/api-usage/daily/private-apps",
        usage,
        doc_root=_API,
        after=rate_headers,
    ),
)

# Endpoints the HubSpot client calls that provider-apis.md does not list yet;
# served too (see EXTRA_ROUTES in simulator.py).
EXTRA_ROUTES: Final = (
    Route(
        "DELETE",
        "hubspot",
        "/oauth/v1/refresh-tokens/{token}",
        "extra",
        "https://developers.hubspot.com/docs/api-reference/legacy/authentication/oauth-tokens/v1/delete-refresh-token",
        delete_refresh_token,
        note="HubSpotConsent.revoke deletes the refresh token of a consent given by the wrong account",
    ),
    Route(
        "POST",
        "hubspot",
        "/crm/v3/objects/contacts/search",
        "extra",
        "https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/search/post-crm-v3-objects-contacts-search",
        search_contacts,
        after=rate_headers,
        note="HubSpotClient.find_contact looks the newest message's sender up by email",
    ),
    Route(
        "POST",
        "hubspot",
        "/crm/v3/objects/tasks",
        "extra",
        "https://developers.hubspot.com/docs/api-reference/crm-tasks-v3/basic/post-crm-v3-objects-tasks",
        create_task,
        after=rate_headers,
        note="HubSpotClient.create_test_activity writes the test task (write probe only)",
    ),
    Route(
        "DELETE",
        "hubspot",
        "/crm/v3/objects/tasks/{task_id}",
        "extra",
        "https://developers.hubspot.com/docs/api-reference/crm-tasks-v3/basic/delete-crm-v3-objects-tasks-taskId",
        delete_task,
        after=rate_headers,
        note="HubSpotClient.delete_activity removes the test task again",
    ),
)
