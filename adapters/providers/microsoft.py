"""Microsoft 365: token refresh (AADSTS codes), Graph /me and proxyAddresses, mailboxSettings, calendar."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from adapters.providers.http import PerKeyLimit, call_json
from adapters.providers.oauth import refresh_token, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse
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

PROVIDER: Final = Provider.MICROSOFT.value

# Delegated Graph permissions, least privilege per call (provider-apis.md §2 and the Graph method pages):
USER_READ: Final = "User.Read"  # M2 GET /me with $select (mail, userPrincipalName, proxyAddresses)
MAIL_READ: Final = "Mail.Read"  # M5 the newest message; the sync engines read bodies, so not Mail.ReadBasic
# M3 timeZone, and the proof that an Exchange Online mailbox exists.
MAILBOX_SETTINGS_READ: Final = "MailboxSettings.Read"
CALENDARS_READ: Final = "Calendars.Read"  # /me/calendar, M4 calendarPermissions, M6 events
# Never echoed back in `scope`, so never compared; asked for on every refresh because without it the
# identity platform stops issuing (rotated) refresh tokens.
OFFLINE_ACCESS: Final = "offline_access"

_REQUIRED: Final[Mapping[GrantRole, frozenset[str]]] = {
    GrantRole.MAIL: frozenset({USER_READ, MAIL_READ, MAILBOX_SETTINGS_READ}),
    GrantRole.CALENDAR: frozenset({CALENDARS_READ, MAILBOX_SETTINGS_READ}),  # the zone is in mailboxSettings
    GrantRole.CRM: frozenset(),  # Dynamics grants go through DynamicsClient
}
_KNOWN: Final = frozenset({USER_READ, MAIL_READ, MAILBOX_SETTINGS_READ, CALENDARS_READ})
# A ReadWrite permission includes its Read one; a grant made for a tool that writes is not "missing" it.
_IMPLIES: Final[Mapping[str, str]] = {
    "Mail.ReadWrite": MAIL_READ, "MailboxSettings.ReadWrite": MAILBOX_SETTINGS_READ,
    "Calendars.ReadWrite": CALENDARS_READ,
}
_CANONICAL: Final[Mapping[str, str]] = {s.lower(): s for s in (*_KNOWN, *_IMPLIES, OFFLINE_ACCESS)}

# calendarPermission roles (M4): which let the grantee see event details, which let it change events.
# limitedRead shows only free/busy, subject and location; custom is unknowable from here.
_READS_DETAILS: Final = frozenset({
    "read", "write", "delegateWithoutPrivateEventAccess", "delegateWithPrivateEventAccess",
})
_WRITES: Final = frozenset({"write", "delegateWithoutPrivateEventAccess", "delegateWithPrivateEventAccess"})

MAX_PAGES: Final = 10
# Graph's Outlook resources take 4 concurrent requests per app per mailbox; past that, 429 MailboxConcurrency
# (learn.microsoft.com/graph/throttling-limits). Several connections may share a mailbox, so it is per mailbox.
MAILBOX_CONCURRENCY: Final = 4
MICROSOFT_ISSUERS: Final = ("Microsoft", "DigiCert")
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Graph sends seven fractional digits


def scopes_of(granted: Iterable[str]) -> frozenset[str]:
    """Graph scopes in the short spelling required_scopes uses, plus the Read scopes ReadWrite ones imply.

    The token endpoint answers "https://graph.microsoft.com/Mail.Read"; consent screens and our request
    say "Mail.Read". Permission names are case-insensitive, so known ones are given their usual casing.
    """
    short = {_CANONICAL.get(name.lower(), name) for name in (_short(scope) for scope in granted) if name}
    return frozenset(short | {_IMPLIES[s] for s in short if s in _IMPLIES})


def _short(scope: str) -> str:
    scope = scope.strip()
    return scope.rsplit("/", 1)[1] if "://" in scope and not scope.endswith("/") else scope


def endpoints(settings: ProviderSettings) -> tuple[Endpoint, ...]:
    """The sign-in host and the Graph host the sync depends on, from the configured URLs."""
    seen: dict[tuple[str, int], Endpoint] = {}
    for name, url in (("Microsoft sign-in", settings.microsoft_login_url),
                      ("Microsoft Graph", settings.microsoft_graph_url)):
        endpoint = _endpoint(name, url)
        seen.setdefault((endpoint.host, endpoint.port), endpoint)
    return tuple(seen.values())


def _endpoint(name: str, url: str) -> Endpoint:
    parts = urlsplit(url)
    plain = parts.scheme == "http"  # only the local simulator is reached without TLS
    return Endpoint(
        name=name, host=parts.hostname or "", port=parts.port or (80 if plain else 443),
        kind=ProbeKind.HTTP if plain else ProbeKind.HTTPS, provider=Provider.MICROSOFT,
        expected_issuers=() if plain else MICROSOFT_ISSUERS,
    )


class MicrosoftClient:
    """OAuthApi, MailApi and CalendarApi for Microsoft 365 mailboxes (identity platform v2.0, Graph v1.0)."""

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock
        self._graph = f"{settings.microsoft_graph_url}/v1.0"
        self._mailboxes = PerKeyLimit(MAILBOX_CONCURRENCY)

    # ------------------------------------------------------------------ OAuthApi

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return _REQUIRED[role]

    def request_scopes(self, grant: Grant) -> str:
        """The `scope` of a refresh: offline_access, the role's scopes, and the other Graph scopes we use
        that this grant already holds.

        A refresh may ask only for scopes consented before (more is AADSTS65001), so a calendar-only grant
        is not asked for Mail.Read; a mail grant that was also consented Calendars.Read keeps it, because
        the calendar checks fall back to the mail grant when there is no separate calendar grant.
        """
        held = scopes_of(grant.scopes) & _KNOWN
        return " ".join([OFFLINE_ACCESS, *sorted(self.required_scopes(grant.role) | held)])

    async def refresh(self, grant: Grant) -> TokenSet:
        """M1. AADSTS codes become AuthError codes; the rotated refresh token is returned to be stored."""
        if not grant.refresh_token:
            raise AuthError(PROVIDER, "no refresh token is stored for this grant", code="no_refresh_token")
        current = grant.refresh_token.reveal()
        body = await refresh_token(
            self._http,
            token_url=f"{self._settings.microsoft_login_url}/{self._settings.microsoft_tenant}/oauth2/v2.0/token",
            client_id=self._settings.microsoft_client_id,
            client_secret=self._settings.microsoft_client_secret.get_secret_value(),
            refresh_token=current,
            provider=PROVIDER,
            scope=self.request_scopes(grant),
        )
        token = token_set(body, now=self._clock.now(), scopes_fallback=grant.scopes)
        return TokenSet(
            access_token=token.access_token,
            expires_at=token.expires_at,
            scopes=scopes_of(token.scopes),
            refresh_token=token.refresh_token if token.refresh_token not in (None, current) else None,
        )

    # ------------------------------------------------------------------ MailApi

    async def mailbox(self, grant: Grant, token: str) -> Mailbox:
        """M2 and M3. proxyAddresses: "SMTP:" (upper case) is the primary address, "smtp:" an alias;
        SIP:, X500: and other types are not mail addresses. mailboxSettings.timeZone is kept as given
        (usually a Windows zone name). A mailbox Graph cannot reach answers M3 with 404
        MailboxNotEnabledForRESTAPI, which is raised as is."""
        me = await self._json(grant, "GET", "/me", token, params={
            "$select": "mail,userPrincipalName,proxyAddresses,displayName",
        })
        primary = ""
        aliases: list[str] = []
        for entry in me.get("proxyAddresses") or ():
            kind, _, address = entry.partition(":") if isinstance(entry, str) else ("", "", "")
            address = address.strip()
            if kind == "SMTP" and address and not primary:
                primary = address
            elif kind in ("SMTP", "smtp") and address:
                aliases.append(address)
        mail = _text(me, "mail")
        primary = primary or mail or _text(me, "userPrincipalName")
        if not primary:
            raise BadResponse(PROVIDER, "answered /me without mail, userPrincipalName or proxyAddresses",
                              code="shape")
        if mail:
            aliases.append(mail)  # normally the primary itself; an address of its own otherwise
        settings = await self._json(grant, "GET", "/me/mailboxSettings", token)
        return Mailbox(
            primary_address=primary,
            aliases=_unique(aliases, without=primary),
            timezone=_text(settings, "timeZone") or None,
            display_name=_text(me, "displayName"),
        )

    async def newest_message(self, grant: Grant, token: str) -> MessageRef | None:
        """M5, newest first; an empty mailbox answers `"value": []`."""
        body = await self._json(grant, "GET", "/me/messages", token, params={
            "$top": "1", "$select": "id,receivedDateTime,from", "$orderby": "receivedDateTime desc",
        })
        values = _values(body)
        if not values:
            return None
        message = values[0]
        sender = message.get("from")
        email = sender.get("emailAddress") if isinstance(sender, Mapping) else None
        address = email.get("address") if isinstance(email, Mapping) else None
        return MessageRef(
            id=_text(message, "id", required=True),
            received_at=_parse_utc(_text(message, "receivedDateTime")),
            sender=address if isinstance(address, str) else "",
        )

    # ------------------------------------------------------------------ CalendarApi

    async def calendar(self, grant: Grant, token: str) -> CalendarInfo:
        """GET /me/calendar (Graph calendars carry no zone) and the mailbox's timeZone from M3."""
        body = await self._json(grant, "GET", "/me/calendar", token)
        owner = body.get("owner")
        address = owner.get("address") if isinstance(owner, Mapping) else None
        settings = await self._json(grant, "GET", "/me/mailboxSettings", token)
        return CalendarInfo(
            id=_text(body, "id", required=True),
            timezone=_text(settings, "timeZone") or None,
            owner=address if isinstance(address, str) and address else grant.account,
        )

    async def shares(self, grant: Grant, token: str) -> tuple[CalendarShare, ...]:
        """M4. The organisation-wide entry ("My Organization", no address) is reported as grantee
        "default". Only the calendar's owner sees the list; anyone else gets an empty one."""
        shares: list[CalendarShare] = []
        url: str | None = "/me/calendar/calendarPermissions"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            body = await self._json(grant, "GET", url, token)
            for permission in _values(body):
                share = _share(permission)
                if share is not None:
                    shares.append(share)
            url = self._next_link(body)
        return tuple(shares)

    async def next_event(self, grant: Grant, token: str, after: datetime) -> EventRef | None:
        """M6: the first event starting at or after `after`, times in UTC (`Prefer: outlook.timezone`).

        /me/events lists single events and series masters; a recurring series shows with its first
        occurrence's start, so one that began before `after` is not found here (calendarView would be).
        """
        aware = after if after.tzinfo is not None else after.replace(tzinfo=UTC)
        body = await self._json(grant, "GET", "/me/events", token, params={
            "$filter": f"start/dateTime ge '{aware.astimezone(UTC):%Y-%m-%dT%H:%M:%S}'",
            "$orderby": "start/dateTime",
            "$top": "1",
            "$select": "id,subject,start,end,originalStartTimeZone,attendees",
        }, headers={"Prefer": 'outlook.timezone="UTC"'})
        values = _values(body)
        if not values:
            return None
        event = values[0]
        raw_start = event.get("start")
        start: Mapping[str, Any] = raw_start if isinstance(raw_start, Mapping) else {}
        raw_zone = start.get("timeZone")
        zone = raw_zone if isinstance(raw_zone, str) else "UTC"
        original = event.get("originalStartTimeZone")
        attendees = []
        for attendee in event.get("attendees") or ():
            email = attendee.get("emailAddress") if isinstance(attendee, Mapping) else None
            if isinstance(email, Mapping) and isinstance(email.get("address"), str):
                attendees.append(email["address"])
        return EventRef(
            id=_text(event, "id", required=True),
            starts_at=_graph_time(start.get("dateTime"), zone),
            timezone=original if isinstance(original, str) and original else zone,
            attendees=tuple(attendees),
        )

    # ------------------------------------------------------------------ plumbing

    async def _json(self, grant: Grant, method: str, path: str, token: str, **kwargs: Any) -> Mapping[str, Any]:
        """One Graph call on `grant`'s mailbox, waiting for one of its MAILBOX_CONCURRENCY slots."""
        url = path if path.startswith(("https://", "http://")) else f"{self._graph}{path}"
        async with self._mailboxes.slot(grant.account):
            body, _ = await call_json(self._http, method, url, provider=PROVIDER, token=token, **kwargs)
        if not isinstance(body, Mapping):
            what = urlsplit(url).path
            raise BadResponse(PROVIDER, f"did not answer {what} with a JSON object", code="shape")
        return body

    def _next_link(self, body: Mapping[str, Any]) -> str | None:
        """@odata.nextLink, followed only on the Graph host: the bearer token goes nowhere else."""
        link = body.get("@odata.nextLink")
        if not isinstance(link, str) or not link:
            return None
        here, there = urlsplit(self._graph), urlsplit(link)
        if (there.scheme, there.netloc) != (here.scheme, here.netloc):
            raise BadResponse(PROVIDER, f"answered with a next page on another host ({there.netloc})",
                              code="shape")
        return link


def _text(body: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadResponse(PROVIDER, f"answered with {key!r} that is not a non-empty string", code="shape")
    return value


def _values(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = body.get("value")
    if not isinstance(value, list):
        raise BadResponse(PROVIDER, "answered a collection without a 'value' list", code="shape")
    return [item for item in value if isinstance(item, Mapping)]


def _unique(addresses: Iterable[str], *, without: str) -> tuple[str, ...]:
    seen = {without.lower()}
    kept: list[str] = []
    for address in addresses:
        if address.lower() not in seen:
            seen.add(address.lower())
            kept.append(address)
    return tuple(kept)


def _share(permission: Mapping[str, Any]) -> CalendarShare | None:
    role = permission.get("role")
    if not isinstance(role, str):
        return None
    email = permission.get("emailAddress")
    address = email.get("address") if isinstance(email, Mapping) else None
    grantee = address if isinstance(address, str) and address else "default"
    return CalendarShare(grantee=grantee, role=role, can_read_details=role in _READS_DETAILS,
                         can_write=role in _WRITES)


def _parse_utc(text: str) -> datetime | None:
    """An ISO 8601 instant such as receivedDateTime ("2024-05-20T09:12:44Z")."""
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _graph_time(value: Any, zone: str) -> datetime | None:
    """A dateTimeTimeZone: a local time without offset (seven fractional digits) plus its zone's name.

    We ask for UTC; a zone Python cannot name (a Windows name, if the Prefer header was ignored) gives None
    rather than a wrong instant.
    """
    if not isinstance(value, str):
        return None
    try:
        local = datetime.fromisoformat(_FRACTION.sub(r"\1", value))
        tz = UTC if zone.upper() in ("UTC", "ETC/UTC", "") else ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return local.replace(tzinfo=tz) if local.tzinfo is None else local
