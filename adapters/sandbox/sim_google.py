"""Simulated Google: OAuth token, tokeninfo and revoke (G1-G3), Gmail (G4-G6) and Calendar (G7-G9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from email.utils import format_datetime
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from adapters.sandbox import sim_consent
from adapters.sandbox.scenario import (
    TOKEN_LIFETIME_S,
    Event,
    Fault,
    Message,
    User,
    display_name,
    scope_key,
    stable_digest,
)
from adapters.sandbox.sim_base import (
    AccessToken,
    Caller,
    Reply,
    Route,
    TokenStatus,
    authenticate,
    client_credentials,
    epoch,
    fake_jwt,
    form,
    google_sub,
    json_answer,
    network_faults,
    state_of,
)

PROVIDER: Final = "google"
_AUTH: Final = "https://www.googleapis.com/auth/"
_MAIL_READ: Final = ("https://mail.google.com/", f"{_AUTH}gmail.modify", f"{_AUTH}gmail.readonly")
SCOPES_PROFILE: Final = (*_MAIL_READ, f"{_AUTH}gmail.compose", f"{_AUTH}gmail.metadata")
SCOPES_SEND_AS: Final = (*_MAIL_READ, f"{_AUTH}gmail.settings.basic")
SCOPES_MESSAGES: Final = (*_MAIL_READ, f"{_AUTH}gmail.metadata")
SCOPES_SETTINGS: Final = tuple(
    f"{_AUTH}{s}"
    for s in ("calendar.readonly", "calendar", "calendar.settings.readonly", "calendar.settings")
)
SCOPES_CALENDAR_LIST: Final = tuple(
    f"{_AUTH}{s}"
    for s in (
        "calendar.readonly",
        "calendar",
        "calendar.app.created",
        "calendar.calendarlist",
        "calendar.calendarlist.readonly",
    )
)
SCOPES_EVENTS: Final = tuple(
    f"{_AUTH}{s}" for s in ("calendar.readonly", "calendar", "calendar.events", "calendar.events.readonly")
)
SCOPES_ACL: Final = tuple(f"{_AUTH}{s}" for s in ("calendar", "calendar.acls", "calendar.acls.readonly"))
_EMAIL_SCOPES: Final = frozenset({"email", "userinfo.email"})
_REALM: Final = 'Bearer realm="https://accounts.google.com/"'

# The method names Google puts in ErrorInfo metadata, per API path tail (provider-apis.md: "as seen in the
# wild").
_METHODS: Final = {
    "profile": ("gmail.googleapis.com", "caribou.api.proto.MailboxService.GetProfile"),
    "sendAs": ("gmail.googleapis.com", "caribou.api.proto.MailboxService.ListSendAs"),
    "messages": ("gmail.googleapis.com", "caribou.api.proto.MailboxService.ListMessages"),
}


def api_error(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    status: str = "",
    details: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Google's v1 error envelope (provider-apis.md "Gmail and Calendar error bodies")."""
    error: dict[str, object] = {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
    }
    if status:
        error["status"] = status
    if details:
        error["details"] = details
    return json_answer({"error": error}, code, headers)


def _retry_after(fault: Fault) -> str:
    seconds = fault.number("retry_after")
    return str(int(seconds)) if seconds == int(seconds) else str(seconds)


class ApiSurface:
    """How Gmail and Calendar say no."""

    provider = PROVIDER

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse:
        # The same answer for a missing, unknown, expired or revoked token: Google does not say which.
        return json_answer(
            {
                "error": {
                    "code": 401,
                    "message": (
                        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                        "login cookie or other valid authentication credential. See "
                        "https://developers.google.com/identity/sign-in/web/devconsole-project."
                    ),
                    "errors": [
                        {
                            "message": "Invalid Credentials",
                            "domain": "global",
                            "reason": "authError",
                            "location": "Authorization",
                            "locationType": "header",
                        }
                    ],
                    "status": "UNAUTHENTICATED",
                }
            },
            401,
            {"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
        )

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse:
        tail = request.path.rstrip("/").rsplit("/", 1)[-1]
        service, method = _METHODS.get(
            tail,
            ("calendar-json.googleapis.com", "calendar.v3.CalendarService." + tail[:1].upper() + tail[1:]),
        )
        message = "Request had insufficient authentication scopes."
        return json_answer(
            {
                "error": {
                    "code": 403,
                    "message": message,
                    "errors": [
                        {
                            "message": "Insufficient Permission",
                            "domain": "global",
                            "reason": "insufficientPermissions",
                        }
                    ],
                    "status": "PERMISSION_DENIED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                            "domain": "googleapis.com",
                            "metadata": {"service": service, "method": method},
                        }
                    ],
                }
            },
            403,
            {"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{" ".join(needed)}"'},
        )

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        message = (
            "Too many concurrent requests for user"
            if request.path.find("/gmail/") >= 0
            else "Rate Limit Exceeded"
        )
        return api_error(
            429,
            message,
            "rateLimitExceeded",
            domain="usageLimits",
            status="RESOURCE_EXHAUSTED",
            headers={"Retry-After": _retry_after(fault)},
        )

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse:
        if status == 500:
            return api_error(500, "Backend Error", "backendError", status="INTERNAL")
        return api_error(
            status, "The service is currently unavailable.", "backendError", status="UNAVAILABLE"
        )


def oauth_server_error(request: web.Request, status: int) -> web.StreamResponse:
    """The OAuth endpoints answer 5xx with the OAuth error shape."""
    return json_answer({"error": "internal_failure", "error_description": "Backend Error"}, status)


API: Final = ApiSurface()

_QUOTA_MESSAGES: Final = {
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "rateLimitExceeded": "Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
    "dailyLimitExceeded": "Daily Limit Exceeded",
}


async def _caller(request: web.Request, scopes: tuple[str, ...], *, gmail: bool) -> Caller:
    """The caller, after the Google-only faults: 403 quota reasons and a Gmail-less account."""
    caller = await authenticate(request, API, scopes=scopes)
    quota = caller.fault("google_403_rate_limit")
    if quota is not None:
        reason = quota.text("reason")
        raise Reply(
            api_error(403, _QUOTA_MESSAGES[reason], reason, domain="usageLimits", status="PERMISSION_DENIED")
        )
    if gmail and caller.fault("mailbox_not_enabled") is not None:
        raise Reply(
            api_error(400, "Mail service not enabled", "failedPrecondition", status="FAILED_PRECONDITION")
        )
    if gmail:
        user_id = request.match_info.get("user_id", "me")
        if user_id != "me" and user_id.lower() != caller.user.email.lower():
            raise Reply(
                api_error(
                    403, f"Delegation denied for {caller.user.email}", "forbidden", status="PERMISSION_DENIED"
                )
            )
    return caller


# ---------------------------------------------------------------------------------------------- OAuth (G1-G3)


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return json_answer({"error": error, "error_description": description}, status)


async def token(request: web.Request) -> web.StreamResponse:
    """G1: refresh; Google keeps the refresh token (no new one in the answer)."""
    state = state_of(request)
    fields = await form(request)
    grant_type = fields.get("grant_type", "")
    if not grant_type:
        return _oauth_error("invalid_request", "Required parameter is missing: grant_type")
    if grant_type == "authorization_code":  # a Reconnect consent (sim_consent.py)
        return await sim_consent.redeem(request, (PROVIDER,), fields, error=_oauth_error, answer=_consented,
                                        server_error=oauth_server_error)
    if grant_type != "refresh_token":
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    client_id, secret = client_credentials(request, fields)
    client = state.scenario.clients[PROVIDER]
    if client_id != client.client_id:
        return _oauth_error("invalid_client", "The OAuth client was not found.", 401)
    if secret != client.client_secret:
        return _oauth_error("invalid_client", "Unauthorized", 401)
    value = fields.get("refresh_token", "")
    if not value:
        return _oauth_error("invalid_request", "Missing required parameter: refresh_token")
    refresh = state.refresh.get(value)
    if refresh is None or PROVIDER not in refresh.scopes:
        return _oauth_error("invalid_grant", "Bad Request")
    await network_faults(request, state.faults(refresh.user, PROVIDER), oauth_server_error)
    if state.is_revoked(refresh.user, PROVIDER, refresh.family):
        return _oauth_error("invalid_grant", "Token has been expired or revoked.")
    scopes = refresh.scopes[PROVIDER]
    lifetime = TOKEN_LIFETIME_S[PROVIDER]
    issued = state.issue_access(
        refresh.user, PROVIDER, scopes, refresh.family, client_id, timedelta(seconds=lifetime), "ya29.sim-"
    )
    body: dict[str, object] = {
        "access_token": issued.value,
        "expires_in": lifetime,
        "scope": " ".join(scopes),
        "token_type": "Bearer",
    }
    if "openid" in {scope_key(s) for s in scopes}:
        now = state.clock.now()
        body["id_token"] = fake_jwt(
            {
                "iss": "https://accounts.google.com",
                "azp": client_id,
                "aud": client_id,
                "sub": google_sub(refresh.user),
                "email": refresh.user,
                "email_verified": True,
                "iat": epoch(now),
                "exp": epoch(now) + lifetime,
            }
        )
    return json_answer(body)


def _consented(request: web.Request, redeemed: sim_consent.Redeemed) -> web.StreamResponse:
    """G1's answer to an authorization code: a refresh token (access_type=offline) and, for openid, an ID token."""
    code, now = redeemed.code, state_of(request).clock.now()
    lifetime = int((redeemed.access.expires_at - now).total_seconds())
    body: dict[str, object] = {"access_token": redeemed.access.value, "expires_in": lifetime,
                               "refresh_token": redeemed.refresh.value, "scope": " ".join(code.scopes),
                               "token_type": "Bearer"}
    if "openid" in {scope_key(s) for s in code.scopes}:
        body["id_token"] = fake_jwt({"iss": "https://accounts.google.com", "azp": code.client_id, "aud": code.client_id,
                                     "sub": google_sub(code.user), "email": code.user, "email_verified": True,
                                     "iat": epoch(now), "exp": epoch(now) + lifetime})
    return json_answer(body)


async def tokeninfo(request: web.Request) -> web.StreamResponse:
    """G2: every number and boolean as a string (provider-apis.md §8.1)."""
    state = state_of(request)
    fields = await form(request)
    found = state.access.get(fields.get("access_token", ""))
    if found is None or found.provider != PROVIDER:
        return _oauth_error("invalid_token", "Invalid Value")
    await network_faults(request, state.faults(found.user, PROVIDER), oauth_server_error)
    if state.token_status(found) != TokenStatus.OK:
        return _oauth_error("invalid_token", "Invalid Value")
    remaining = int((found.expires_at - state.clock.now()).total_seconds())
    body = {
        "azp": found.client_id,
        "aud": found.client_id,
        "sub": google_sub(found.user),
        "scope": " ".join(found.scopes),
        "exp": str(epoch(found.expires_at)),
        "expires_in": str(remaining),
    }
    if {scope_key(s) for s in found.scopes} & _EMAIL_SCOPES:
        body.update({"email": found.user, "email_verified": "true"})
    body["access_type"] = "offline"
    return json_answer(body)


async def revoke(request: web.Request) -> web.StreamResponse:
    """G3: revoking an access or refresh token ends the whole grant."""
    state = state_of(request)
    fields = await form(request)
    found = state.find_token(fields.get("token", ""), PROVIDER)
    if found is None:
        return _oauth_error("invalid_token", "Token expired or revoked")
    await network_faults(request, state.faults(found.user, PROVIDER), oauth_server_error)
    state.revoke(PROVIDER, found)
    return web.Response(status=200)


# ---------------------------------------------------------------------------------------------- Gmail (G4-G6)


def _received_messages(request: web.Request, user: User) -> list[tuple[str, str]]:
    """(id, threadId) of the messages already received, newest first."""
    now = state_of(request).clock.now()
    dated = [(m.received.resolve(now), m.id) for m in user.messages if m.received.resolve(now) <= now]
    return [(message_id, message_id) for _, message_id in sorted(dated, reverse=True)]


async def profile(request: web.Request) -> web.StreamResponse:
    """G4: historyId is a string (provider-apis.md §8.2)."""
    caller = await _caller(request, SCOPES_PROFILE, gmail=True)
    total = len(caller.user.messages)
    if total:
        total += int(stable_digest("messages-total", caller.user.email, length=6), 16) % 40_000
    return json_answer(
        {
            "emailAddress": caller.user.email,
            "messagesTotal": total,
            "threadsTotal": total * 2 // 5 + (1 if total else 0),
            "historyId": str(9_000_000 + int(stable_digest("history", caller.user.email, length=5), 16)),
        }
    )


async def send_as(request: web.Request) -> web.StreamResponse:
    """G5: the primary address, then every alias as a verified custom "from" address."""
    caller = await _caller(request, SCOPES_SEND_AS, gmail=True)
    user = caller.user
    entries: list[dict[str, object]] = [
        {
            "sendAsEmail": user.email,
            "displayName": user.name,
            "replyToAddress": "",
            "signature": "",
            "isPrimary": True,
            "isDefault": True,
        }
    ]
    for alias in user.aliases:
        entries.append(
            {
                "sendAsEmail": alias,
                "displayName": user.name,
                "replyToAddress": "",
                "isPrimary": False,
                "isDefault": False,
                "treatAsAlias": True,
                "verificationStatus": "accepted",
            }
        )
    return json_answer({"sendAs": entries})


async def messages(request: web.Request) -> web.StreamResponse:
    """G6: only id and threadId per message; an empty mailbox has no `messages` key."""
    caller = await _caller(request, SCOPES_MESSAGES, gmail=True)
    raw = request.query.get("maxResults", "100")
    if not raw.isdigit():
        return api_error(
            400,
            f"Invalid value at 'max_results' (TYPE_UINT32), \"{raw}\"",
            "invalid",
            status="INVALID_ARGUMENT",
        )
    limit = min(int(raw), 500) or 100
    found = _received_messages(request, caller.user)
    if not found:
        return json_answer({"resultSizeEstimate": 0})
    body: dict[str, object] = {"messages": [{"id": i, "threadId": t} for i, t in found[:limit]]}
    if len(found) > limit:
        body["nextPageToken"] = stable_digest("page", caller.user.email, str(limit), length=20)
    body["resultSizeEstimate"] = len(found)
    return json_answer(body)


# ------------------------------------------------------------------------------------------- Calendar (G7-G9)


def _etag(seed: str) -> str:
    return f'"{1_716_239_022_000_000 + int(stable_digest("etag", seed, length=6), 16)}"'


_SETTINGS: Final = {"locale": "en", "weekStart": "0", "format24HourTime": "false", "defaultEventLength": "60"}


async def setting(request: web.Request) -> web.StreamResponse:
    """G7: one calendar setting; `timezone` is the account's zone (the mailbox zone of the scenario)."""
    caller = await _caller(request, SCOPES_SETTINGS, gmail=False)
    name = request.match_info["setting"]
    value = caller.user.mailbox_timezone if name == "timezone" else _SETTINGS.get(name)
    if value is None:
        return api_error(404, "Not Found", "notFound", status="NOT_FOUND")
    return json_answer(
        {"kind": "calendar#setting", "etag": _etag(caller.user.email + name), "id": name, "value": value}
    )


def _is_primary(calendar_id: str, user: User) -> bool:
    return calendar_id == "primary" or calendar_id.lower() == user.email.lower()


async def calendar_list_entry(request: web.Request) -> web.StreamResponse:
    """G8: the primary calendar's own zone (can differ from the G7 setting) and the caller's role on it."""
    caller = await _caller(request, SCOPES_CALENDAR_LIST, gmail=False)
    user = caller.user
    if not _is_primary(request.match_info["calendar_id"], user):
        return api_error(404, "Not Found", "notFound", status="NOT_FOUND")
    return json_answer(
        {
            "kind": "calendar#calendarListEntry",
            "etag": _etag(user.email + "primary"),
            "id": user.email,
            "summary": user.email,
            "timeZone": user.calendar_zone,
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "notificationSettings": {"notifications": [{"type": "eventCreation", "method": "email"}]},
            "primary": True,
            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
        }
    )


async def acl(request: web.Request) -> web.StreamResponse:
    """G9: the owner's own rule, then every share of the scenario (a grantee without "@" is a domain)."""
    caller = await _caller(request, SCOPES_ACL, gmail=False)
    user = caller.user
    if not _is_primary(request.match_info["calendar_id"], user):
        return api_error(404, "Not Found", "notFound", status="NOT_FOUND")
    rules = [(f"user:{user.email}", {"type": "user", "value": user.email}, "owner")]
    for share in user.calendar_shares:
        if share.grantee == "default":
            rules.append(("default", {"type": "default"}, share.role))
        elif "@" in share.grantee:
            rules.append((f"user:{share.grantee}", {"type": "user", "value": share.grantee}, share.role))
        else:
            rules.append((f"domain:{share.grantee}", {"type": "domain", "value": share.grantee}, share.role))
    items = [
        {
            "kind": "calendar#aclRule",
            "etag": _etag(user.email + rule_id),
            "id": rule_id,
            "scope": scope,
            "role": role,
        }
        for rule_id, scope, role in rules
    ]
    return json_answer(
        {
            "kind": "calendar#acl",
            "etag": _etag(user.email + "acl"),
            "nextSyncToken": stable_digest("sync", user.email, length=24),
            "items": items,
        }
    )


# ----------------------------------------------------------------------- extras (not in provider-apis.md yet)


def _find_message(request: web.Request, user: User) -> tuple[datetime, Message] | None:
    now = state_of(request).clock.now()
    wanted = request.match_info["message_id"]
    for message in user.messages:
        received = message.received.resolve(now)
        if message.id == wanted and received <= now:
            return received, message
    return None


async def message(request: web.Request) -> web.StreamResponse:
    """users.messages.get: with format=metadata, only the headers metadataHeaders names."""
    caller = await _caller(request, SCOPES_MESSAGES, gmail=True)
    found = _find_message(request, caller.user)
    if found is None:
        return api_error(404, "Requested entity was not found.", "notFound", status="NOT_FOUND")
    received, item = found
    user = caller.user
    headers = [
        {"name": "From", "value": f"{display_name(item.sender)} <{item.sender}>"},
        {"name": "To", "value": f"{user.name} <{user.email}>"},
        {"name": "Subject", "value": item.subject},
        {"name": "Date", "value": format_datetime(received)},
    ]
    wanted = {h.lower() for h in request.query.getall("metadataHeaders", [])}
    if request.query.get("format") == "metadata" and wanted:
        headers = [h for h in headers if h["name"].lower() in wanted]
    return json_answer(
        {
            "id": item.id,
            "threadId": item.id,
            "labelIds": ["INBOX", "CATEGORY_PERSONAL"],
            "snippet": "",
            "payload": {"mimeType": "multipart/alternative", "headers": headers},
            "sizeEstimate": 4096,
            "historyId": str(9_000_000 + int(stable_digest("history", item.id, length=5), 16)),
            "internalDate": str(int(received.timestamp() * 1000)),  # epoch milliseconds, as a string
        }
    )


def _rfc3339(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Reply(api_error(400, f"Bad Request: invalid {name}", "badRequest")) from None
    if moment.tzinfo is None:
        raise Reply(api_error(400, f"Bad Request: {name} needs a time zone offset", "badRequest"))
    return moment


def _google_event(user: User, event: Event, start: datetime, zone: str) -> dict[str, object]:
    try:
        tz: tzinfo = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = UTC
    end = start + timedelta(minutes=event.duration_minutes)
    return {
        "kind": "calendar#event",
        "etag": _etag(user.email + event.id),
        "id": event.id,
        "status": "confirmed",
        "summary": event.subject,
        "creator": {"email": user.email, "self": True},
        "organizer": {"email": user.email, "self": True},
        "start": {"dateTime": start.astimezone(tz).isoformat(), "timeZone": zone},
        "end": {"dateTime": end.astimezone(tz).isoformat(), "timeZone": zone},
        "iCalUID": f"{event.id}@google.com",
        "sequence": 0,
        "attendees": [{"email": a, "responseStatus": "needsAction"} for a in event.attendees],
        "reminders": {"useDefault": True},
        "eventType": "default",
    }


async def calendar_events(request: web.Request) -> web.StreamResponse:
    """events.list: timeMin bounds the end time, timeMax the start; orderBy=startTime needs singleEvents."""
    caller = await _caller(request, SCOPES_EVENTS, gmail=False)
    user = caller.user
    if not _is_primary(request.match_info["calendar_id"], user):
        return api_error(404, "Not Found", "notFound", status="NOT_FOUND")
    query = request.query
    if query.get("orderBy") == "startTime" and query.get("singleEvents") != "true":
        return api_error(
            400, "The requested ordering is not available for the particular query.", "badRequest"
        )
    low = _rfc3339(query["timeMin"], "timeMin") if "timeMin" in query else None
    high = _rfc3339(query["timeMax"], "timeMax") if "timeMax" in query else None
    raw = query.get("maxResults", "250")
    limit = min(int(raw), 2500) if raw.isdigit() and int(raw) > 0 else 250
    offset = int(query["pageToken"]) if query.get("pageToken", "").isdigit() else 0
    now = state_of(request).clock.now()
    chosen = []
    for event in user.events:
        start = event.start.resolve(now)
        end = start + timedelta(minutes=event.duration_minutes)
        if (low is None or end > low) and (high is None or start < high):
            chosen.append((start, event))
    chosen.sort(key=lambda pair: pair[0])
    zone = user.calendar_zone
    body: dict[str, object] = {
        "kind": "calendar#events",
        "etag": _etag(user.email + "events"),
        "summary": user.email,
        "timeZone": zone,
        "accessRole": "owner",
        "defaultReminders": [{"method": "popup", "minutes": 10}],
        "items": [_google_event(user, e, start, zone) for start, e in chosen[offset : offset + limit]],
    }
    if offset + limit < len(chosen):
        body["nextPageToken"] = str(offset + limit)
    return json_answer(body)


async def not_found(request: web.Request) -> web.StreamResponse:
    if request.path.startswith("/google-oauth"):
        return web.Response(status=404, content_type="text/html", text="<html><body>Not Found</body></html>")
    return api_error(404, "Not Found", "notFound", status="NOT_FOUND")


_GMAIL: Final = "https://gmail.googleapis.com/gmail/v1/users/me"
_CALENDAR: Final = "https://www.googleapis.com/calendar/v3"

ROUTES: Final = (
    Route("POST", "google-oauth", "/token", "G1", "https://oauth2.googleapis.com/token", token),
    Route(
        "GET",
        "google-oauth",
        "/tokeninfo",
        "G2",
        "https://oauth2.googleapis.com/tokeninfo?access_token=TOKEN",
        tokeninfo,
    ),
    Route(
        "POST",
        "google-oauth",
        "/tokeninfo",
        "G2",
        "https://oauth2.googleapis.com/tokeninfo?access_token=TOKEN",
        tokeninfo,
    ),
    Route("POST", "google-oauth", "/revoke", "G3", "https://oauth2.googleapis.com/revoke", revoke),
    Route("GET", "google", "/gmail/v1/users/{user_id}/profile", "G4", f"{_GMAIL}/profile", profile),
    Route(
        "GET",
        "google",
        "/gmail/v1/users/{user_id}/settings/sendAs",
        "G5",
        f"{_GMAIL}/settings/sendAs",
        send_as,
    ),
    Route(
        "GET",
        "google",
        "/gmail/v1/users/{user_id}/messages",
        "G6",
        f"{_GMAIL}/messages?maxResults=1",
        messages,
    ),
    Route(
        "GET",
        "google",
        "/calendar/v3/users/me/settings/{setting}",
        "G7",
        f"{_CALENDAR}/users/me/settings/timezone",
        setting,
    ),
    Route(
        "GET",
        "google",
        "/calendar/v3/users/me/calendarList/{calendar_id}",
        "G8",
        f"{_CALENDAR}/users/me/calendarList/primary",
        calendar_list_entry,
    ),
    Route(
        "GET",
        "google",
        "/calendar/v3/calendars/{calendar_id}/acl",
        "G9",
        f"{_CALENDAR}/calendars/primary/acl",
        acl,
    ),
)

# Endpoints the Google client calls that provider-apis.md does not list yet;
# served too (see EXTRA_ROUTES in simulator.py).
EXTRA_ROUTES: Final = (
    Route(
        "GET",
        "google",
        "/gmail/v1/users/{user_id}/messages/{message_id}",
        "extra",
        "https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get",
        message,
        note="GoogleClient.newest_message reads the newest message's From and date (format=metadata)",
    ),
    Route(
        "GET",
        "google",
        "/calendar/v3/calendars/{calendar_id}/events",
        "extra",
        "https://developers.google.com/workspace/calendar/api/v3/reference/events/list",
        calendar_events,
        note="GoogleClient.next_event reads the next event (singleEvents, orderBy=startTime, timeMin)",
    ),
)
