"""Google: OAuth refresh and tokeninfo, Gmail profile, send-as and messages, Calendar zone, ACL and events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from email.utils import parseaddr
from typing import Any, Final
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from adapters.providers.errors import field
from adapters.providers.http import call_json
from adapters.providers.oauth import refresh_token, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, ProviderError
from chatops.model import Grant, GrantRole, Provider
from chatops.ports import (
    CalendarInfo,
    CalendarShare,
    Clock,
    Endpoint,
    EventRef,
    Mailbox,
    MessageRef,
    ProbeKind,
    TokenSet,
)

PROVIDER: Final = Provider.GOOGLE.value
SCOPE_PREFIX: Final = "https://www.googleapis.com/auth/"

# Least privilege, per call (provider-apis.md §1 scope columns, checked against the method references):
# gmail.readonly is the narrowest scope that covers all three Gmail reads, users.getProfile (G4),
# users.settings.sendAs.list (G5) and users.messages.list/get (G6); gmail.metadata would do for G4 and G6
# but not for sendAs, and the sync engines themselves need message bodies anyway.
GMAIL_READONLY: Final = f"{SCOPE_PREFIX}gmail.readonly"
# calendar.readonly covers settings.get (G7), calendarList.get (G8) and events.list (next_event).
CALENDAR_READONLY: Final = f"{SCOPE_PREFIX}calendar.readonly"
# acl.list (G9) is NOT covered by calendar.readonly: it takes calendar, calendar.acls or
# calendar.acls.readonly (Calendar API reference, acl/list). The read-only ACL scope is the narrowest.
CALENDAR_ACLS_READONLY: Final = f"{SCOPE_PREFIX}calendar.acls.readonly"
# openid + email: who the grant belongs to. tokeninfo (G2) reports `email` only when the email scope was
# granted, and that is how a grant made with the wrong Google account shows up. Google echoes the
# `email` scope back as userinfo.email, so that is the spelling compared.
OPENID: Final = "openid"
USERINFO_EMAIL: Final = f"{SCOPE_PREFIX}userinfo.email"

_IDENTITY: Final = frozenset({OPENID, USERINFO_EMAIL})
_REQUIRED: Final[Mapping[GrantRole, frozenset[str]]] = {
    GrantRole.MAIL: frozenset({GMAIL_READONLY}) | _IDENTITY,
    GrantRole.CALENDAR: frozenset({CALENDAR_READONLY, CALENDAR_ACLS_READONLY}) | _IDENTITY,
    GrantRole.CRM: frozenset(),
}
# Short spellings Google accepts at consent for the identity scopes, as it reports them afterwards.
_ALIASES: Final[Mapping[str, str]] = {
    "email": USERINFO_EMAIL, "profile": f"{SCOPE_PREFIX}userinfo.profile",
}
# A broader scope grants everything a narrower one does; a grant made by a sync tool that asked for
# gmail.modify must not be reported as "missing gmail.readonly".
_IMPLIES: Final[Mapping[str, frozenset[str]]] = {
    "https://mail.google.com/": frozenset({GMAIL_READONLY}),
    f"{SCOPE_PREFIX}gmail.modify": frozenset({GMAIL_READONLY}),
    f"{SCOPE_PREFIX}calendar": frozenset({CALENDAR_READONLY, CALENDAR_ACLS_READONLY}),
    f"{SCOPE_PREFIX}calendar.acls": frozenset({CALENDAR_ACLS_READONLY}),
}

# acl roles (G9): which let the grantee see event details, which let it change events.
_READS_DETAILS: Final = frozenset({"reader", "writer", "owner"})
_WRITES: Final = frozenset({"writer", "owner"})
_SHARE_SCOPE_TYPES: Final = frozenset({"user", "group", "domain", "default"})

MAX_PAGES: Final = 10  # ACL pages of 250 rules; events pages Google may leave empty (see next_event)
GOOGLE_ISSUERS: Final = ("Google Trust Services", "GTS")


def scopes_of(granted: frozenset[str]) -> frozenset[str]:
    """Granted scopes in the spelling required_scopes uses, plus the narrower scopes broader ones imply."""
    canonical = frozenset(_ALIASES.get(scope, scope) for scope in granted)
    implied = frozenset().union(*(_IMPLIES.get(scope, frozenset()) for scope in canonical))
    return canonical | implied


def endpoints(settings: ProviderSettings) -> tuple[Endpoint, ...]:
    """The token host and the API host (Gmail and Calendar) the sync depends on, from the configured URLs."""
    seen: dict[tuple[str, int], Endpoint] = {}
    named = (("Google sign-in", settings.google_oauth_url), ("Google APIs", settings.google_api_url))
    for name, url in named:
        endpoint = _endpoint(name, url)
        seen.setdefault((endpoint.host, endpoint.port), endpoint)
    return tuple(seen.values())


def _endpoint(name: str, url: str) -> Endpoint:
    parts = urlsplit(url)
    plain = parts.scheme == "http"  # only the local simulator is reached without TLS
    return Endpoint(
        name=name, host=parts.hostname or "", port=parts.port or (80 if plain else 443),
        kind=ProbeKind.HTTP if plain else ProbeKind.HTTPS, provider=Provider.GOOGLE,
        expected_issuers=() if plain else GOOGLE_ISSUERS,
    )


class GoogleClient:
    """OAuthApi, MailApi and CalendarApi for Google accounts (Gmail API v1, Calendar API v3)."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._gmail = f"{settings.google_api_url}/gmail/v1/users/me"
        self._calendar = f"{settings.google_api_url}/calendar/v3"

    # ------------------------------------------------------------------ OAuthApi

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return _REQUIRED[role]

    async def refresh(self, grant: Grant) -> TokenSet:
        """G1, then G2 tokeninfo when the answer does not list the granted scopes.

        Google does not rotate refresh tokens; if an answer carries one that differs from the stored one,
        it is returned so it gets stored.
        """
        if not grant.refresh_token:
            raise AuthError(PROVIDER, "no refresh token is stored for this grant", code="no_refresh_token")
        current = grant.refresh_token.reveal()
        body = await refresh_token(
            self._http,
            token_url=f"{self._settings.google_oauth_url}/token",
            client_id=self._settings.google_client_id,
            client_secret=self._settings.google_client_secret.get_secret_value(),
            refresh_token=current,
            provider=PROVIDER,
        )
        token = token_set(body, now=self._clock.now(), scopes_fallback=frozenset())
        scopes, account = token.scopes, ""
        if not scopes:
            scopes, account = await self._tokeninfo(token.access_token)
        return TokenSet(
            access_token=token.access_token,
            expires_at=token.expires_at,
            scopes=scopes_of(scopes or grant.scopes),
            refresh_token=token.refresh_token if token.refresh_token not in (None, current) else None,
            account=account,
        )

    async def _tokeninfo(self, access_token: str) -> tuple[frozenset[str], str]:
        """G2: (granted scopes, email). POSTed as a form so the token never sits in a URL or a log line."""
        body = await self._json("POST", f"{self._settings.google_oauth_url}/tokeninfo", None,
                                data={"access_token": access_token})
        scope = body.get("scope")
        email = body.get("email")
        return (frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
                email if isinstance(email, str) else "")

    # ------------------------------------------------------------------ MailApi

    async def mailbox(self, grant: Grant, token: str) -> Mailbox:
        """G4 and G5: the primary address is the send-as entry marked isPrimary (else the profile's
        address); aliases are the other send-as addresses Gmail lets the user send from (verificationStatus
        `accepted`, or absent: only custom "from" aliases carry one)."""
        profile = await self._json("GET", f"{self._gmail}/profile", token)
        address = _text(profile, "emailAddress", required=True)
        listing = await self._json("GET", f"{self._gmail}/settings/sendAs", token)
        entries = _items(listing, "sendAs")
        primary = next((e for e in entries if e.get("isPrimary") is True), None)
        primary_address = _text(primary, "sendAsEmail") if primary is not None else ""
        primary_address = primary_address or address
        aliases: list[str] = []
        for entry in entries:
            alias = _text(entry, "sendAsEmail")
            status = entry.get("verificationStatus")
            if not alias or entry is primary or status not in (None, "accepted"):
                continue
            if alias.lower() != primary_address.lower() and alias.lower() not in (a.lower() for a in aliases):
                aliases.append(alias)
        return Mailbox(
            primary_address=primary_address,
            aliases=tuple(aliases),
            timezone=None,  # Gmail keeps no time zone; the Calendar one comes from calendar()
            display_name=_text(primary, "displayName") if primary is not None else "",
        )

    async def newest_message(self, grant: Grant, token: str) -> MessageRef | None:
        """G6 (maxResults=1), then messages.get with format=metadata for its date and sender.

        An empty mailbox answers without a `messages` key at all.
        """
        listing = await self._json("GET", f"{self._gmail}/messages", token, params={"maxResults": "1"})
        messages = _items(listing, "messages")
        if not messages:
            return None
        message_id = _text(messages[0], "id", required=True)
        try:
            meta = await self._json(
                "GET", f"{self._gmail}/messages/{quote(message_id, safe='')}", token,
                params={"format": "metadata", "metadataHeaders": "From"},
            )
        except ProviderError as exc:
            if exc.status != 404:  # deleted between the two calls: the id alone still proves the read
                raise
            return MessageRef(id=message_id)
        return MessageRef(id=message_id, received_at=_epoch_ms(meta.get("internalDate")),
                          sender=_sender(meta))

    # ------------------------------------------------------------------ CalendarApi

    async def calendar(self, grant: Grant, token: str) -> CalendarInfo:
        """G7 (the user's Calendar time zone) and G8 (the primary calendar's id and accessRole).

        Google may omit a setting left at its default, which surfaces as 404; the primary calendar's own
        `timeZone` stands in then.
        """
        try:
            setting = await self._json("GET", f"{self._calendar}/users/me/settings/timezone", token)
            zone = _text(setting, "value") or None
        except ProviderError as exc:
            if exc.status != 404:
                raise
            zone = None
        entry = await self._json("GET", f"{self._calendar}/users/me/calendarList/primary", token)
        calendar_id = _text(entry, "id", required=True)
        return CalendarInfo(
            id=calendar_id,
            timezone=zone or _text(entry, "timeZone") or None,
            owner=calendar_id if "@" in calendar_id else grant.account,  # a primary calendar's id: its owner
            access_role=_text(entry, "accessRole"),
        )

    async def shares(self, grant: Grant, token: str) -> tuple[CalendarShare, ...]:
        """G9: every ACL rule of the primary calendar (only its owner may list them; others get 403)."""
        shares: list[CalendarShare] = []
        params = {"maxResults": "250"}
        for _ in range(MAX_PAGES):
            body = await self._json("GET", f"{self._calendar}/calendars/primary/acl", token, params=params)
            for rule in _items(body, "items"):
                share = _share(rule)
                if share is not None:
                    shares.append(share)
            page = body.get("nextPageToken")
            if not isinstance(page, str) or not page:
                break
            params = {"maxResults": "250", "pageToken": page}
        return tuple(shares)

    async def next_event(self, grant: Grant, token: str, after: datetime) -> EventRef | None:
        """The first event of the primary calendar ending after `after` (timeMin bounds the end time).

        Google may answer a small page with no items but a nextPageToken (its docs call these incomplete
        pages), so empty pages are followed, up to MAX_PAGES.
        """
        params = {
            "singleEvents": "true", "orderBy": "startTime", "timeMin": _rfc3339(after), "maxResults": "1",
        }
        for _ in range(MAX_PAGES):
            body = await self._json("GET", f"{self._calendar}/calendars/primary/events", token, params=params)
            items = _items(body, "items")
            if items:
                return _event(items[0], _text(body, "timeZone") or None)
            page = body.get("nextPageToken")
            if not isinstance(page, str) or not page:
                return None
            params = {**params, "pageToken": page}
        return None

    # ------------------------------------------------------------------ plumbing

    async def _json(self, method: str, url: str, token: str | None, **kwargs: Any) -> Mapping[str, Any]:
        body, _ = await call_json(self._http, method, url, provider=PROVIDER, token=token, **kwargs)
        if not isinstance(body, Mapping):
            what = urlsplit(url).path
            raise BadResponse(PROVIDER, f"did not answer {what} with a JSON object", code="shape")
        return body


def _text(body: Mapping[str, Any] | None, key: str, *, required: bool = False) -> str:
    if body is None:
        return ""
    value = field(body, key, provider=PROVIDER) if required else body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadResponse(PROVIDER, f"answered with {key!r} that is not a non-empty string", code="shape")
    return value


def _items(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """An optional list of objects: Google drops list fields that would be empty."""
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadResponse(PROVIDER, f"answered with {key!r} that is not a list", code="shape")
    return [item for item in value if isinstance(item, Mapping)]


def _share(rule: Mapping[str, Any]) -> CalendarShare | None:
    scope = rule.get("scope")
    role = rule.get("role")
    if not isinstance(scope, Mapping) or not isinstance(role, str):
        return None
    kind = scope.get("type")
    if kind not in _SHARE_SCOPE_TYPES:
        return None
    value = scope.get("value")
    grantee = "default" if kind == "default" else (value if isinstance(value, str) and value else "")
    if not grantee:
        return None
    return CalendarShare(grantee=grantee, role=role, can_read_details=role in _READS_DETAILS,
                         can_write=role in _WRITES)


def _event(item: Mapping[str, Any], calendar_zone: str | None) -> EventRef:
    event_id = _text(item, "id", required=True)
    raw_start = item.get("start")
    start: Mapping[str, Any] = raw_start if isinstance(raw_start, Mapping) else {}
    raw_zone = start.get("timeZone")
    zone = raw_zone if isinstance(raw_zone, str) else calendar_zone
    starts_at: datetime | None = None
    if isinstance(start.get("dateTime"), str):  # RFC 3339 with an offset
        starts_at = _parse_datetime(start["dateTime"])
    elif isinstance(start.get("date"), str):  # an all-day event: midnight where the calendar is
        starts_at = _all_day(start["date"], zone)
    attendees = tuple(a["email"] for a in item.get("attendees") or ()
                      if isinstance(a, Mapping) and isinstance(a.get("email"), str))
    return EventRef(id=event_id, starts_at=starts_at, timezone=zone, attendees=attendees)


def _parse_datetime(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _all_day(text: str, zone: str | None) -> datetime | None:
    try:
        day = date.fromisoformat(text)
        tz = ZoneInfo(zone) if zone else UTC
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return datetime.combine(day, time(), tzinfo=tz)


def _epoch_ms(value: Any) -> datetime | None:
    """Gmail's internalDate: epoch milliseconds as a string."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _sender(message: Mapping[str, Any]) -> str:
    payload = message.get("payload")
    headers: Sequence[Any] = payload.get("headers") or () if isinstance(payload, Mapping) else ()
    for header in headers:
        if isinstance(header, Mapping) and str(header.get("name", "")).lower() == "from":
            return parseaddr(str(header.get("value", "")))[1]
    return ""


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
