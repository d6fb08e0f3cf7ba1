"""Who may post to /api/messages: the Bot Connector's JWT, checked here with PyJWT and keys fetched without blocking.

botbuilder 4.17 can be pointed at another OpenID metadata URL (TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL in its
parameterized configuration), but its JwtTokenExtractor fetches keys with a synchronous `requests.get` inside
the event loop, raises IndexError for an unknown `kid` and lets PyJWT's ExpiredSignatureError escape: each of
those is a 500 or a stalled loop. So inbound validation lives here; everything outbound (the connector
factory, the bot's own token) still comes from ConfigurationBotFrameworkAuthentication, which this wraps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import jwt
from botbuilder.schema import Activity  # type: ignore[import-untyped]
from botframework.connector.auth import (  # type: ignore[import-untyped]
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient  # type: ignore[import-untyped]
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

CLOCK_SKEW_S: Final = 5 * 60  # the Bot Framework's documented tolerance
ALGORITHMS: Final = ("RS256",)  # what the Bot Connector signs with (id_token_signing_alg_values_supported)
KEYS_MAX_AGE_S: Final = 24 * 3600.0  # refresh the key set daily
UNKNOWN_KID_REFRESH_S: Final = 300.0  # an unknown kid may trigger a refresh, at most this often
METADATA_TIMEOUT_S: Final = 5.0


class Refused(Exception):
    """The request may not reach the bot: 401 (no credentials), 403 (bad credentials), 503 (keys unreachable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    key: RSAPublicKey
    endorsements: frozenset[str]


class OpenIdKeys:
    """The signing keys named by an OpenID metadata document, cached and refreshed with aiohttp.

    On a refresh failure the keys already held keep working; with none held, validation can't happen (503).
    """

    def __init__(self, metadata_url: str, *, max_age_s: float = KEYS_MAX_AGE_S,
                 unknown_kid_refresh_s: float = UNKNOWN_KID_REFRESH_S) -> None:
        self.metadata_url = metadata_url
        self._max_age_s = max_age_s
        self._unknown_kid_refresh_s = unknown_kid_refresh_s
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._tried_at: float | None = None
        self._lock = asyncio.Lock()
        self._behind: asyncio.Future[None] | None = None  # a refresh running behind the requests

    async def get(self, kid: str) -> SigningKey | None:
        now = time.monotonic()
        if self._fetched_at is None:
            await self._refresh(now, stale_ok=False)
        elif self._keys and self._due(now) and (self._behind is None or self._behind.done()):
            # the keys held answer meanwhile, so a slow metadata endpoint holds up no request
            self._behind = asyncio.ensure_future(self._refresh(now, stale_ok=True))
        found = self._keys.get(kid)
        stale = self._tried_at is None or time.monotonic() - self._tried_at > self._unknown_kid_refresh_s
        if found is None and stale:
            await self._refresh(time.monotonic(), stale_ok=True)  # keys roll over; look once more
            found = self._keys.get(kid)
        return found

    def _due(self, now: float) -> bool:
        """The key set is older than its max age, and no failed refresh was tried within the retry interval."""
        assert self._fetched_at is not None
        if now - self._fetched_at <= self._max_age_s:
            return False
        failed_since = self._tried_at is not None and self._tried_at > self._fetched_at
        return not failed_since or now - (self._tried_at or 0.0) > self._unknown_kid_refresh_s

    async def _refresh(self, asked_at: float, *, stale_ok: bool) -> None:
        async with self._lock:
            if self._tried_at is not None and self._tried_at >= asked_at:
                return  # another request refreshed while this one waited
            self._tried_at = time.monotonic()
            try:
                keys = await self._fetch()
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                log.warning("Bot Connector signing keys could not be fetched from %s: %s", self.metadata_url,
                            exc or type(exc).__name__)
                if stale_ok and self._keys:
                    return
                raise Refused(503, "the Bot Connector's signing keys are unavailable; try again") from exc
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _fetch(self) -> dict[str, SigningKey]:
        timeout = aiohttp.ClientTimeout(total=METADATA_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(self.metadata_url) as response:
                response.raise_for_status()
                metadata = await response.json(content_type=None)
            jwks_uri = metadata["jwks_uri"]
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("the OpenID metadata has no usable jwks_uri")
            async with session.get(jwks_uri) as response:
                response.raise_for_status()
                document = await response.json(content_type=None)
        keys: dict[str, SigningKey] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
                continue
            key = RSAAlgorithm.from_jwk(json.dumps(jwk))
            if not isinstance(key, RSAPublicKey):
                continue
            endorsements = jwk.get("endorsements") or []
            keys[jwk["kid"]] = SigningKey(jwk["kid"], key, frozenset(str(e) for e in endorsements))
        if not keys:
            raise ValueError("the key set holds no RSA signing key")
        return keys


class TokenValidator:
    """The Bot Framework's rules for a channel -> bot token, each failure a Refused with its reason."""

    def __init__(self, app_id: str, keys: OpenIdKeys, *, issuers: tuple[str, ...]) -> None:
        self._app_id = app_id
        self._keys = keys
        self._issuers = issuers

    async def validate(self, auth_header: str, activity: Activity) -> dict[str, Any]:
        scheme, _, token = (auth_header or "").partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise Refused(401, "a Bearer token is required")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:  # DecodeError, and a header PyJWT refuses (a kid that is not a string)
            raise Refused(401, "the token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise Refused(403, f"token algorithm {header.get('alg')!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Refused(403, "the token names no signing key")
        key = await self._keys.get(kid)
        if key is None:
            raise Refused(403, "the token is signed by an unknown key")
        channel = activity.channel_id or ""
        if channel not in key.endorsements:
            raise Refused(403, f"the signing key is not endorsed for channel {channel!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=list(ALGORITHMS), audience=self._app_id, issuer=list(self._issuers),
                leeway=CLOCK_SKEW_S, options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise Refused(403, "the token has expired") from None
        except jwt.InvalidAudienceError:
            raise Refused(403, "the token is for another bot (audience)") from None
        except jwt.InvalidIssuerError:
            raise Refused(403, "the token's issuer is not the Bot Framework") from None
        except jwt.ImmatureSignatureError:
            raise Refused(403, "the token is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise Refused(403, "the token's signature does not verify") from None
        except jwt.InvalidTokenError as exc:
            raise Refused(403, f"the token is not valid ({type(exc).__name__})") from None
        claimed = claims.get(AuthenticationConstants.SERVICE_URL_CLAIM)
        if not isinstance(claimed, str) or claimed != activity.service_url:
            raise Refused(403, "the token's serviceurl claim does not match the activity's serviceUrl")
        return claims


class ChannelAuthentication(BotFrameworkAuthentication):  # type: ignore[misc]
    """ConfigurationBotFrameworkAuthentication with inbound validation done by TokenValidator.

    Without a validator (the demo sandbox) every activity is accepted anonymously, and outbound calls carry
    no token, exactly as botbuilder does when no app id is configured.
    """

    def __init__(self, inner: BotFrameworkAuthentication, validator: TokenValidator | None) -> None:
        self._inner = inner
        self._validator = validator

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        if self._validator is None:
            identity = ClaimsIdentity({}, True, AuthenticationConstants.ANONYMOUS_AUTH_TYPE)
        else:
            identity = ClaimsIdentity(await self._validator.validate(auth_header, activity), True)
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._inner.get_originating_audience()
        result.caller_id = None
        result.connector_factory = self._inner.create_connector_factory(identity)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str
                                             ) -> AuthenticateRequestResult:
        raise Refused(403, "streaming connections are not supported")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return str(self._inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        raise Refused(403, "skill requests are not supported")
