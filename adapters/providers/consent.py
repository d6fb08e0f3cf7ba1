"""Reconnect's OAuth consent per provider: the authorization URL (code flow, PKCE S256) and the code exchange.

authlib builds both requests (`prepare_grant_uri`, `prepare_token_request`); our shared httpx client sends the
exchange, and `expect_json` turns every bad answer into the ProviderError it means (HTML from a proxy,
invalid_grant for a wrong `code_verifier`, 5xx, a refused connection), as for refreshes in oauth.py.

Scopes are least privilege: what each provider client's `required_scopes(role)` lists for the roles the grant
serves, plus only what the flow itself needs: a refresh token (Microsoft's `offline_access`, Google's
`access_type=offline`; Salesforce's `refresh_token` and HubSpot's `oauth` are in the client's list already)
and OpenID Connect's `openid` + `email` where the ID token is how we learn who consented (Google, Microsoft,
Dynamics). Who consented comes from what the provider offers: the ID token (Google, Microsoft, Dynamics),
the User record named by the token answer's identity URL (Salesforce, read with the `api` scope it already
has), HubSpot's token metadata. tests/edges/reconnect/test_consent.py pins every scope list.

Tokens we will not keep (consent by another account than the connection's) are revoked at the provider's own
revocation endpoint: Google's `POST /revoke` and Salesforce's `POST {instance}/services/oauth2/revoke` (form
`token=`; a refresh token takes its access tokens with it), HubSpot's `DELETE /oauth/v1/refresh-tokens/{token}`
(the refresh token only; HubSpot lets its 30-minute access token run out). The Microsoft identity platform,
and Dynamics through it, has no per-token revocation endpoint, so `revoke` says False there.
"""

from __future__ import annotations

import base64
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
    prepare_token_request,
)

from adapters.providers import dynamics, google, hubspot, microsoft, salesforce
from adapters.providers.errors import AUTH_CODES, error_fields, expect_json, raise_for_status, translate
from adapters.providers.oauth import FORM, token_set
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, ProviderError
from chatops.model import GrantRole, Provider
from chatops.ports import Clock, Consent, ConsentApi, ConsentRequest, TokenSet

S256: Final = "S256"
# HubSpot's token answer in the camelCase one of its reference pages shows (as hubspot.py reads it too).
_CAMEL_TOKEN_KEYS: Final = {"accessToken": "access_token", "refreshToken": "refresh_token",
                            "expiresIn": "expires_in", "tokenType": "token_type"}
OPENID: Final = ("openid", "email")  # who consented, from the ID token; no profile, no address


def _union(groups: Sequence[frozenset[str]]) -> frozenset[str]:
    return frozenset().union(*groups) if groups else frozenset()


def id_token_claims(body: Mapping[str, Any], client_id: str, provider: str) -> Mapping[str, Any]:
    """The claims of the ID token in a token answer, for this client only; {} when there is none.

    The signature is not checked: the token came straight from the provider's token endpoint over TLS, which
    OpenID Connect Core §3.1.3.7 allows instead. Its audience must still be us.
    """
    raw = body.get("id_token")
    if not isinstance(raw, str) or not raw:
        return {}
    parts = raw.split(".")
    if len(parts) != 3:
        raise BadResponse(provider, "answered with an ID token that is not a JWT", code="id_token")
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        raise BadResponse(provider, "answered with an ID token that can't be read", code="id_token") from None
    if not isinstance(claims, Mapping):
        raise BadResponse(provider, "answered with an ID token that can't be read", code="id_token")
    audience = claims.get("aud")
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        raise BadResponse(provider, "answered with an ID token issued to another app", code="id_token")
    return claims


def _names(claims: Mapping[str, Any], *keys: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for k in keys if isinstance(v := claims.get(k), str) and v.strip()))


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revocation request: the token goes in a form field or, for HubSpot, in the path."""

    method: str
    url: str
    form: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print a token
        return f"Revocation({self.method})"


def _one_token(tokens: TokenSet) -> str:
    """The token that ends the most: the refresh token (its access tokens go with it), else the access token."""
    return tokens.refresh_token or tokens.access_token


class CodeFlow(ABC):
    """The authorization code flow with PKCE for one provider; subclasses say scopes, hosts and identity."""

    provider: Provider

    def __init__(self, http: httpx.AsyncClient, settings: ProviderSettings, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._clock = clock

    # ---------------------------------------------------------------- what a subclass says

    @property
    @abstractmethod
    def client_id(self) -> str: ...

    @property
    @abstractmethod
    def client_secret(self) -> str: ...

    @abstractmethod
    def authorize_endpoint(self, instance_url: str) -> str: ...

    @abstractmethod
    def token_endpoint(self, instance_url: str) -> str: ...

    @abstractmethod
    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]: ...

    def extra_params(self, request: ConsentRequest) -> dict[str, str]:
        return {"login_hint": request.login_hint} if request.login_hint else {}

    def exchange_fields(self, roles: Sequence[GrantRole], instance_url: str) -> dict[str, str]:
        return {}

    @abstractmethod
    async def identify(self, body: Mapping[str, Any], tokens: TokenSet) -> tuple[str, ...]:
        """The addresses of the account that consented (ID token, userinfo, token metadata...)."""

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        return token_set(body, now=self._clock.now(), scopes_fallback=frozenset())

    # ---------------------------------------------------------------- ConsentApi

    def authorize_url(self, request: ConsentRequest) -> str:
        params = {"code_challenge": request.code_challenge, "code_challenge_method": S256,
                  **self.extra_params(request)}
        url: str = prepare_grant_uri(
            self.authorize_endpoint(request.instance_url), self.client_id, "code",
            redirect_uri=request.redirect_uri, scope=" ".join(self.scopes(request.roles, request.instance_url)),
            state=request.state, **params)
        return url

    async def exchange_code(self, roles: Sequence[GrantRole], *, code: str, code_verifier: str, redirect_uri: str,
                            instance_url: str = "") -> Consent:
        provider = self.provider.value
        form = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, client_id=self.client_id,
            client_secret=self.client_secret, code_verifier=code_verifier,
            **self.exchange_fields(roles, instance_url))
        try:
            response = await self._http.post(self.token_endpoint(instance_url), content=form,
                                             headers={"Content-Type": FORM, "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise translate(exc, provider) from exc
        body = expect_json(response, provider)
        if not isinstance(body, Mapping):
            raise BadResponse(provider, "answered the code exchange with something other than a JSON object",
                              status=response.status_code, code="shape")
        body = self.normalised(body)
        if not body.get("access_token"):
            error, message = error_fields(body)
            if error:
                kind = AuthError if error in AUTH_CODES or error.startswith("AADSTS") else ProviderError
                raise kind(provider, message or error, status=response.status_code, code=error)
            raise BadResponse(provider, "answered the code exchange without an access_token",
                              status=response.status_code, code="shape")
        tokens = self.tokens(body, instance_url)
        return Consent(tokens=tokens, accounts=await self.identify(body, tokens))

    def normalised(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return dict(body)

    # ---------------------------------------------------------------- revocation

    def revocation(self, tokens: TokenSet) -> Revocation | None:
        """The provider's revocation request for these tokens; None where it has no revocation endpoint."""
        return None

    async def revoke(self, tokens: TokenSet) -> bool:
        request = self.revocation(tokens)
        if request is None:
            return False
        provider = self.provider.value
        secrets = tuple(t for t in (tokens.refresh_token, tokens.access_token) if t)
        headers = {"Accept": "application/json"}
        content = None
        if request.form:
            headers["Content-Type"] = FORM
            content = urlencode(request.form)
        try:
            response = await self._http.request(request.method, request.url, content=content, headers=headers)
            raise_for_status(response, provider)
        except httpx.HTTPError as exc:
            raise _scrubbed(translate(exc, provider), *secrets) from None
        except ProviderError as exc:
            raise _scrubbed(exc, *secrets) from None
        if response.text.lstrip().startswith("<"):  # a proxy's page, not the provider's (empty or JSON) answer
            raise BadResponse(provider, "answered the revocation with an HTML page: a proxy or web filter in the "
                                        "path", status=response.status_code, code="html")
        return True


class GoogleConsent(CodeFlow):
    """Google's OAuth 2.0 for web server apps: offline access, the consent screen shown every time."""

    provider = Provider.GOOGLE

    @property
    def client_id(self) -> str:
        return self._settings.google_client_id

    @property
    def client_secret(self) -> str:
        return self._settings.google_client_secret.get_secret_value()

    def authorize_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.google_auth_url}/o/oauth2/v2/auth"

    def token_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.google_oauth_url}/token"

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        # required_scopes already holds openid + userinfo.email (how tokeninfo names the `email` scope)
        client = google.GoogleClient(self._http, self._settings, self._clock)
        return tuple(sorted(_union([client.required_scopes(role) for role in roles])))

    def extra_params(self, request: ConsentRequest) -> dict[str, str]:
        # offline: a refresh token; prompt=consent: Google sends one again even to an app consented before
        return {"access_type": "offline", "prompt": "consent", **super().extra_params(request)}

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        token = super().tokens(body, instance_url)
        return replace(token, scopes=google.scopes_of(token.scopes))

    def revocation(self, tokens: TokenSet) -> Revocation | None:
        return Revocation("POST", f"{self._settings.google_oauth_url}/revoke", {"token": _one_token(tokens)})

    async def identify(self, body: Mapping[str, Any], tokens: TokenSet) -> tuple[str, ...]:
        claims = id_token_claims(body, self.client_id, self.provider.value)
        names = _names(claims, "email")
        if names:
            return names
        # no ID token: tokeninfo says whose the token is (POSTed: the token stays out of URLs and logs)
        try:
            response = await self._http.post(f"{self._settings.google_oauth_url}/tokeninfo",
                                             data={"access_token": tokens.access_token},
                                             headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise translate(exc, self.provider.value) from exc
        info = expect_json(response, self.provider.value)
        return _names(info, "email") if isinstance(info, Mapping) else ()


class MicrosoftConsent(CodeFlow):
    """The Microsoft identity platform v2.0 code flow for Graph (mail and calendar)."""

    provider = Provider.MICROSOFT

    @property
    def client_id(self) -> str:
        return self._settings.microsoft_client_id

    @property
    def client_secret(self) -> str:
        return self._settings.microsoft_client_secret.get_secret_value()

    def _base(self) -> str:
        return f"{self._settings.microsoft_login_url}/{self._settings.microsoft_tenant}/oauth2/v2.0"

    def authorize_endpoint(self, instance_url: str) -> str:
        return f"{self._base()}/authorize"

    def token_endpoint(self, instance_url: str) -> str:
        return f"{self._base()}/token"

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        client = microsoft.MicrosoftClient(self._http, self._settings, self._clock)
        needed = _union([client.required_scopes(role) for role in roles])
        return (microsoft.OFFLINE_ACCESS, *OPENID, *sorted(needed))

    def extra_params(self, request: ConsentRequest) -> dict[str, str]:
        return {"response_mode": "query", "prompt": "select_account", **super().extra_params(request)}

    def exchange_fields(self, roles: Sequence[GrantRole], instance_url: str) -> dict[str, str]:
        return {"scope": " ".join(self.scopes(roles, instance_url))}

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        token = super().tokens(body, instance_url)
        return replace(token, scopes=microsoft.scopes_of(token.scopes))

    async def identify(self, body: Mapping[str, Any], tokens: TokenSet) -> tuple[str, ...]:
        claims = id_token_claims(body, self.client_id, self.provider.value)
        return _names(claims, "email", "preferred_username", "upn")


class DynamicsConsent(MicrosoftConsent):
    """The same identity platform, for the Dynamics 365 org's one delegated scope."""

    provider = Provider.DYNAMICS

    @property
    def client_id(self) -> str:
        return self._settings.dynamics_client_id

    @property
    def client_secret(self) -> str:
        return self._settings.dynamics_client_secret.get_secret_value()

    def _org(self, instance_url: str) -> str:
        return (instance_url or self._settings.dynamics_url).rstrip("/")

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        org = self._org(instance_url)
        return (microsoft.OFFLINE_ACCESS, *OPENID, *(f"{org}/{s}" for s in sorted(dynamics.CRM_SCOPES)))

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        token = CodeFlow.tokens(self, body, instance_url)
        org = self._org(instance_url)
        return replace(token, scopes=dynamics.short_scopes(token.scopes, org), instance_url=org)


class SalesforceConsent(CodeFlow):
    """Salesforce's web server flow; who consented is the User the token answer's identity URL names."""

    provider = Provider.SALESFORCE

    @property
    def client_id(self) -> str:
        return self._settings.salesforce_client_id

    @property
    def client_secret(self) -> str:
        return self._settings.salesforce_client_secret.get_secret_value()

    def authorize_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.salesforce_url}/services/oauth2/authorize"

    def token_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.salesforce_url}/services/oauth2/token"

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        return tuple(sorted(salesforce.CRM_SCOPES))

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        token = super().tokens(body, instance_url)
        instance = body.get("instance_url")
        if not isinstance(instance, str) or not instance.startswith(("https://", "http://")):
            raise BadResponse(self.provider.value, "answered the code exchange without a usable instance_url",
                              code="shape")
        # no `scope` in the answer means what was asked for was granted
        scopes = token.scopes or frozenset(salesforce.CRM_SCOPES)
        return replace(token, scopes=scopes, instance_url=instance.rstrip("/"))

    def revocation(self, tokens: TokenSet) -> Revocation | None:
        host = tokens.instance_url or self._settings.salesforce_url  # the My Domain the tokens were issued on
        return Revocation("POST", f"{host}/services/oauth2/revoke", {"token": _one_token(tokens)})

    async def identify(self, body: Mapping[str, Any], tokens: TokenSet) -> tuple[str, ...]:
        provider = self.provider.value
        identity = body.get("id")
        user_id = identity.rstrip("/").rsplit("/", 1)[-1] if isinstance(identity, str) else ""
        if not user_id.isalnum():
            raise BadResponse(provider, "answered the code exchange without the user's identity URL", code="shape")
        soql = f"SELECT Id, Username, Email FROM User WHERE Id = {salesforce.soql_literal(user_id)} LIMIT 1"
        url = f"{tokens.instance_url}/services/data/{self._settings.salesforce_api_version}/query"
        try:
            response = await self._http.get(url, params={"q": soql}, headers={
                "Accept": "application/json", "Authorization": f"Bearer {tokens.access_token}"})
        except httpx.HTTPError as exc:
            raise translate(exc, provider) from exc
        answer = expect_json(response, provider)
        records = answer.get("records") if isinstance(answer, Mapping) else None
        if not isinstance(records, list) or not records or not isinstance(records[0], Mapping):
            raise BadResponse(provider, "did not say who signed in (no User record)", code="shape")
        return _names(records[0], "Email", "Username")


class HubSpotConsent(CodeFlow):
    """HubSpot's OAuth: the consent page on app.hubspot.com, tokens and token metadata on the API host."""

    provider = Provider.HUBSPOT

    @property
    def client_id(self) -> str:
        return self._settings.hubspot_client_id

    @property
    def client_secret(self) -> str:
        return self._settings.hubspot_client_secret.get_secret_value()

    def authorize_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.hubspot_auth_url}/oauth/authorize"

    def token_endpoint(self, instance_url: str) -> str:
        return f"{self._settings.hubspot_url}/oauth/v1/token"

    def scopes(self, roles: Sequence[GrantRole], instance_url: str = "") -> tuple[str, ...]:
        return tuple(sorted(hubspot.CRM_SCOPES))

    def extra_params(self, request: ConsentRequest) -> dict[str, str]:
        return {}  # HubSpot documents no login hint; the account check after the exchange stands in

    def normalised(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {_CAMEL_TOKEN_KEYS.get(key, key): value for key, value in body.items()}

    async def identify(self, body: Mapping[str, Any], tokens: TokenSet) -> tuple[str, ...]:
        """H2 token metadata: `user` is the email of who installed (consented). The token is in the path, so
        it is kept out of any error."""
        provider = self.provider.value
        try:
            response = await self._http.get(
                f"{self._settings.hubspot_url}/oauth/v1/access-tokens/{quote(tokens.access_token, safe='')}",
                headers={"Accept": "application/json"})
            info = expect_json(response, provider)
        except httpx.HTTPError as exc:
            raise _scrubbed(translate(exc, provider), tokens.access_token) from None
        except ProviderError as exc:
            raise _scrubbed(exc, tokens.access_token) from None
        return _names(info, "user") if isinstance(info, Mapping) else ()

    def revocation(self, tokens: TokenSet) -> Revocation | None:
        if not tokens.refresh_token:
            return None  # v1 deletes refresh tokens only; an access token runs out within 30 minutes
        return Revocation("DELETE", f"{self._settings.hubspot_url}/oauth/v1/refresh-tokens/"
                                    f"{quote(tokens.refresh_token, safe='')}")

    def tokens(self, body: Mapping[str, Any], instance_url: str) -> TokenSet:
        token = super().tokens(body, instance_url)
        listed = body.get("scopes")
        scopes = frozenset(str(s) for s in listed) if isinstance(listed, list) else frozenset(hubspot.CRM_SCOPES)
        return replace(token, scopes=token.scopes or scopes)


def _scrubbed(exc: ProviderError, *secrets: str) -> ProviderError:
    detail = exc.detail
    for secret in secrets:
        if secret:
            detail = detail.replace(secret, "[token]").replace(quote(secret, safe=""), "[token]")
    if detail == exc.detail:
        return exc
    return type(exc)(exc.provider, detail, status=exc.status, code=exc.code)


FLOWS: Final[Mapping[Provider, type[CodeFlow]]] = {
    Provider.GOOGLE: GoogleConsent, Provider.MICROSOFT: MicrosoftConsent, Provider.DYNAMICS: DynamicsConsent,
    Provider.SALESFORCE: SalesforceConsent, Provider.HUBSPOT: HubSpotConsent,
}


def build_consent(settings: ProviderSettings, http: httpx.AsyncClient, clock: Clock) -> dict[Provider, ConsentApi]:
    """A consent flow for every provider whose OAuth client is configured (others can't be reconnected here)."""
    flows: dict[Provider, ConsentApi] = {}
    for provider, flow_class in FLOWS.items():
        flow = flow_class(http, settings, clock)
        if flow.client_id:
            flows[provider] = flow
    return flows
