"""What every simulated provider shares: issued tokens, the fault pipeline, routes and answer helpers."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from aiohttp import web

from adapters.sandbox.scenario import Fault, Scenario, User, scope_key, stable_digest, stable_uuid
from chatops.ports import Clock

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AfterHook = Callable[[web.Request, web.StreamResponse], None]


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route the simulator serves, and where provider-apis.md documents it.

    Args:
        prefix: the provider's mount point below the simulator's base URL ("google-oauth", "graph", ...).
        path: the aiohttp path pattern below the prefix.
        ref: the row ids in provider-apis.md it implements, space-separated ("G4", "M1 D1", "S4 S5").
        doc: the URL exactly as provider-apis.md writes it: absolute ("https://...", "{instance}/...") or,
            where the doc gives only a path, relative to doc_root. For an EXTRA route (ref "extra"): the
            vendor's reference page, since provider-apis.md does not list it yet.
        note: for an extra route, which provider client calls it and why.
    """

    method: str
    prefix: str
    path: str
    ref: str
    doc: str
    handler: Handler
    doc_root: str = ""
    after: AfterHook | None = None
    note: str = ""

    @property
    def full_path(self) -> str:
        return f"/{self.prefix}{self.path}"


class Reply(Exception):
    """Raised by a handler or a helper to answer at once (an error body, a fault)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__(response.status)
        self.response = response


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------- tokens


@dataclass(slots=True)
class AccessToken:
    value: str
    user: str  # the scenario user's email
    provider: str
    scopes: tuple[str, ...]
    expires_at: datetime
    family: str  # the grant this token descends from; revoking the family ends all its tokens
    client_id: str
    issued_at: datetime


@dataclass(slots=True)
class RefreshToken:
    value: str
    user: str
    scopes: dict[str, tuple[str, ...]]  # per provider: Microsoft refresh tokens serve Graph and Dynamics
    family: str
    issued_at: datetime

    @property
    def provider(self) -> str:
        return next(iter(self.scopes))


@dataclass(frozen=True, slots=True)
class Revocation:
    """A token an app revoked at a provider's revocation endpoint (what the tests look for)."""

    provider: str
    user: str
    family: str
    token: str  # the value presented: the simulator is the provider, it holds every token anyway


class TokenStatus:
    OK: Final = "ok"
    MISSING: Final = "missing"
    UNKNOWN: Final = "unknown"
    EXPIRED: Final = "expired"
    REVOKED: Final = "revoked"
    REJECTED: Final = "rejected"  # a valid token the API refuses anyway (api_401)


class SimState:
    """The simulator's mutable memory: tokens issued and revoked, API usage counters, records written."""

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.revoked_families: set[str] = set()
        self.revocations: list[Revocation] = []  # what apps revoked at the revocation endpoints, in order
        self.salesforce_used = {o.id: o.used_requests for o in scenario.orgs.salesforce}
        self.hubspot_used = {o.id: o.daily_used for o in scenario.orgs.hubspot}
        self.records: dict[str, dict[str, Any]] = {}  # Salesforce sObjects written through the API
        self.codes: dict[str, Any] = {}  # authorization codes from the consent pages (sim_consent.py)
        # grants made by a fresh consent: the scenario's credential faults (revoked, aadsts) were about the old one
        self.consented: set[str] = set()
        self._closing: asyncio.Event | None = None
        self.limits = {p: RateLimit(rate) for p, rate in scenario.rate_limits.items()}
        self.served: Counter[str] = Counter()  # API and token calls per provider
        self.throttled: Counter[str] = Counter()  # of those, answered with the rate-limit error
        self._load()

    def _load(self) -> None:
        now = self.clock.now()
        for _, grant in self.scenario.grants():
            scopes = self.scenario.grant_scopes(grant)
            family = grant.refresh_token or self.scenario.grant_access_token(grant)
            if grant.refresh_token:
                known = self.refresh.setdefault(
                    grant.refresh_token,
                    RefreshToken(
                        grant.refresh_token, grant.account.lower(), {}, family, now - timedelta(days=100)
                    ),
                )
                merged = dict.fromkeys((*known.scopes.get(grant.provider, ()), *scopes))
                known.scopes[grant.provider] = tuple(merged)
            value = self.scenario.grant_access_token(grant)
            self.access[value] = AccessToken(
                value,
                grant.account.lower(),
                grant.provider,
                scopes,
                self.scenario.grant_expiry(grant, now),
                family,
                self.scenario.clients[grant.provider].client_id,
                now - timedelta(minutes=5),
            )

    def closing(self) -> asyncio.Event:
        """Set when the simulator stops; hanging requests wait for it."""
        if self._closing is None:
            self._closing = asyncio.Event()
        return self._closing

    def user(self, email: str) -> User | None:
        return self.scenario.user(email)

    def faults(self, email: str, provider: str) -> tuple[Fault, ...]:
        return self.scenario.faults_for(email, provider)

    def issue_access(
        self,
        user: str,
        provider: str,
        scopes: tuple[str, ...],
        family: str,
        client_id: str,
        lifetime: timedelta,
        prefix: str,
    ) -> AccessToken:
        now = self.clock.now()
        token = AccessToken(
            f"{prefix}{secrets.token_urlsafe(24)}",
            user,
            provider,
            scopes,
            now + lifetime,
            family,
            client_id,
            now,
        )
        self.access[token.value] = token
        return token

    def issue_refresh(self, previous: RefreshToken, prefix: str) -> RefreshToken:
        """A rotated refresh token of the same family (Microsoft answers every refresh with a new one)."""
        token = RefreshToken(
            f"{prefix}{secrets.token_urlsafe(32)}",
            previous.user,
            dict(previous.scopes),
            previous.family,
            self.clock.now(),
        )
        self.refresh[token.value] = token
        return token

    def find_token(self, value: str, provider: str) -> AccessToken | RefreshToken | None:
        """One of this provider's tokens, access or refresh, by value."""
        access = self.access.get(value)
        if access is not None and access.provider == provider:
            return access
        refresh = self.refresh.get(value)
        return refresh if refresh is not None and provider in refresh.scopes else None

    def revoke(self, provider: str, token: AccessToken | RefreshToken, *, family: bool = True) -> None:
        """An app revoked `token`: the whole grant (Google, Salesforce) or only that refresh token (HubSpot)."""
        self.revocations.append(Revocation(provider, token.user, token.family, token.value))
        if family:
            self.revoked_families.add(token.family)
        else:
            self.refresh.pop(token.value, None)

    def is_revoked(self, user: str, provider: str, family: str) -> bool:
        return family in self.revoked_families or (family not in self.consented and any(
            f.name == "revoked" for f in self.faults(user, provider)
        ))

    def token_status(self, token: AccessToken) -> str:
        if self.is_revoked(token.user, token.provider, token.family):
            return TokenStatus.REVOKED
        if token.expires_at <= self.clock.now():
            return TokenStatus.EXPIRED
        return TokenStatus.OK


SIM_STATE: Final = web.AppKey("chatops_sandbox_state", SimState)


class RateLimit:
    """A provider's rate limit: `rate` calls a second, up to one second's worth at once (a token bucket)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._stamp = clock()

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


# ----------------------------------------------------------------------------------------- the fault pipeline


class Surface(Protocol):
    """How one provider API says no: its 401, scope, rate-limit and 5xx answers (provider-apis.md §0)."""

    provider: str

    def unauthorized(
        self, request: web.Request, status: str, token: AccessToken | None
    ) -> web.StreamResponse: ...

    def forbidden_scope(self, request: web.Request, needed: tuple[str, ...]) -> web.StreamResponse: ...

    def rate_limited(self, request: web.Request, fault: Fault) -> web.StreamResponse: ...

    def server_error(self, request: web.Request, status: int) -> web.StreamResponse: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who an API request comes from, once its bearer token checked out."""

    user: User
    token: AccessToken
    faults: tuple[Fault, ...] = field(default_factory=tuple)

    def fault(self, name: str) -> Fault | None:
        return next((f for f in self.faults if f.name == name), None)


def state_of(request: web.Request) -> SimState:
    return request.app[SIM_STATE]


ServerError = Callable[[web.Request, int], web.StreamResponse]


async def network_faults(request: web.Request, faults: tuple[Fault, ...], server_error: ServerError) -> None:
    """The faults that happen before any provider logic: delay, silence, a proxy page, a 5xx."""
    for fault in faults:
        if fault.name == "slow":
            await asyncio.sleep(fault.number("delay_s"))
    if any(f.name == "hang" for f in faults):
        await state_of(request).closing().wait()  # until the simulator stops; the client gives up first
        raise Reply(web.Response(status=503, text="simulator stopping"))
    if any(f.name == "html_instead_of_json" for f in faults):
        raise Reply(proxy_login_page())
    for fault in faults:
        if fault.name == "server_error":
            raise Reply(server_error(request, fault.integer("status")))


def bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


async def authenticate(
    request: web.Request, surface: Surface, *, scopes: tuple[str, ...] = (), rate_limited: bool = True
) -> Caller:
    """The caller of an API request, or a Reply with the provider's answer for a bad token or a fault.

    Args:
        scopes: the scopes of which the token needs at least one (provider-apis.md scope columns).
        rate_limited: False for calls a `rate_limited` fault does not throttle.
    """
    state = state_of(request)
    value = bearer(request)
    token = state.access.get(value) if value else None
    if token is not None and token.provider != surface.provider:
        token = None  # another provider's token means nothing here
    user = state.user(token.user) if token is not None else None
    faults = state.faults(user.email, surface.provider) if user is not None else ()
    await network_faults(request, faults, surface.server_error)
    if token is None or user is None:
        raise Reply(
            surface.unauthorized(request, TokenStatus.UNKNOWN if value else TokenStatus.MISSING, None)
        )
    status = state.token_status(token)
    if status != TokenStatus.OK:
        raise Reply(surface.unauthorized(request, status, token))
    caller = Caller(user, token, faults)
    if caller.fault("api_401"):
        raise Reply(surface.unauthorized(request, TokenStatus.REJECTED, token))
    limit = caller.fault("rate_limited")
    if rate_limited and limit is not None:
        raise Reply(surface.rate_limited(request, limit))
    if scopes and not has_scope(token.scopes, scopes):
        raise Reply(surface.forbidden_scope(request, scopes))
    return caller


def has_scope(granted: tuple[str, ...], needed: tuple[str, ...]) -> bool:
    """True when the token holds at least one of the needed scopes."""
    return bool({scope_key(s) for s in granted} & {scope_key(s) for s in needed})


def with_replies(handler: Handler, after: AfterHook | None = None) -> Handler:
    """The handler, answering a raised Reply with its response, then running the route's after-hook."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except Reply as reply:
            response = reply.response
        if after is not None:
            after(request, response)
        return response

    return handle


# -------------------------------------------------------------------------------------------- request helpers


async def form(request: web.Request) -> dict[str, str]:
    """The form fields of a POST (application/x-www-form-urlencoded), then the query string's."""
    fields = {k: v for k, v in request.query.items()}
    if request.method == "POST" and request.can_read_body:
        posted = await request.post()
        fields.update({k: v for k, v in posted.items() if isinstance(v, str)})
    return fields


def client_credentials(request: web.Request, fields: Mapping[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the form body (RFC 6749 §2.3.1 allows both)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return fields.get("client_id", ""), fields.get("client_secret", "")


def origin(request: web.Request) -> str:
    """The simulator's base URL as the client reached it: http://127.0.0.1:PORT."""
    return f"{request.scheme}://{request.host}"


def json_answer(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        text=json.dumps(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def proxy_login_page() -> web.Response:
    """What a web filter or captive portal sends instead of the provider's JSON."""
    return web.Response(
        status=200,
        content_type="text/html",
        charset="utf-8",
        text=(
            "<!DOCTYPE html>\n<html><head><title>Sign in - Acme Secure Web Gateway</title></head>\n<body>"
            "<h1>Acme Secure Web Gateway</h1><p>Your session has expired. Sign in to continue browsing.</p>"
            '<form method="post" action="/gateway/login"><input name="username"><input name="password" '
            'type="password"><button>Sign in</button></form></body></html>\n'
        ),
    )


def request_id() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------- stable ids


def google_sub(email: str) -> str:
    return "1" + str(int(stable_digest("google-sub", email.lower(), length=30), 16))[:20]


def object_id(email: str) -> str:
    return stable_uuid("aad-object", email.lower())


_SF_CHECKSUM: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_id(prefix: str, *parts: str) -> str:
    """An 18-character Salesforce id: key prefix, 12 stable characters, and the case-safe checksum."""
    number = int(stable_digest(prefix, *parts, length=24), 16)
    body = ""
    for _ in range(12):
        number, digit = divmod(number, 62)
        body += _BASE62[digit]
    short = (prefix + "0" + body)[:15]
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, ch in enumerate(short[chunk * 5 : chunk * 5 + 5]) if ch.isupper())
        suffix += _SF_CHECKSUM[bits]
    return short + suffix


def hubspot_owner_id(email: str) -> str:
    return str(40_000_000 + int(stable_digest("hubspot-owner", email.lower(), length=8), 16) % 9_000_000)


def hubspot_user_id(email: str) -> int:
    return 9_000_000 + int(stable_digest("hubspot-user", email.lower(), length=8), 16) % 900_000


# ---------------------------------------------------------------------------------------------- time formats


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def graph_time(moment: datetime) -> str:
    """Graph's innerError date: "2024-05-20T08:15:12"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def aad_time(moment: datetime) -> str:
    """The identity platform's timestamp: "2024-05-20 08:14:03Z"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def salesforce_time(moment: datetime) -> str:
    """Salesforce datetimes: "2024-05-19T07:55:02.000+0000"."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def iso_millis(moment: datetime) -> str:
    """HubSpot timestamps: "2024-05-02T10:11:12.345Z"."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def fake_jwt(claims: Mapping[str, Any]) -> str:
    """An unsigned-looking JWT (header.payload.signature) whose claims a client can read, not verify."""

    def part(data: Any) -> str:
        return (
            base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()
        )

    header = part({"alg": "RS256", "kid": "sim", "typ": "JWT"})
    return f"{header}.{part(dict(claims))}.{secrets.token_urlsafe(32)}"
