"""Simulated consent: each provider's authorize page (approve, deny, sign in as another user) and the redemption
of its codes at the token endpoint (grant_type=authorization_code, PKCE S256), for Reconnect.

The pages sit at the providers' real authorize paths under the simulator's prefixes: Google
`/google-accounts/o/oauth2/v2/auth`, Microsoft (Graph and Dynamics) `/microsoft-login/{tenant}/oauth2/v2.0/
authorize`, Salesforce `/salesforce/services/oauth2/authorize`, HubSpot `/hubspot/oauth/authorize` (HubSpot's
real consent host is app.hubspot.com; the path is the same). A GET shows a small HTML form; its POST answers
the way the provider does, by redirecting the browser to `redirect_uri` with `code` and `state`, or with
`error=access_denied`. Codes live 10 minutes, work once, remember the redirect URI they were issued for, and
carry the PKCE challenge: the token endpoint refuses a wrong `code_verifier` with invalid_grant.

A consent starts a new grant family. The scenario's credential faults (`revoked`, `aadsts`) describe the old
grant, so they don't touch it: a revoked user is healthy again after a fresh consent, as in real life.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from adapters.sandbox.scenario import TOKEN_LIFETIME_S
from adapters.sandbox.sim_base import (
    AccessToken,
    RefreshToken,
    Route,
    ServerError,
    client_credentials,
    form,
    network_faults,
    state_of,
)

CODE_LIFETIME: Final = timedelta(minutes=10)  # Microsoft's documented maximum; Google's are shorter
# Which providers' clients each consent page serves (Dynamics signs in through Microsoft's page).
PAGES: Final[Mapping[str, tuple[str, ...]]] = {
    "google-accounts": ("google",),
    "microsoft-login": ("microsoft", "dynamics"),
    "salesforce": ("salesforce",),
    "hubspot": ("hubspot",),
}
_BRANDS: Final = {"google-accounts": "Google", "microsoft-login": "Microsoft", "salesforce": "Salesforce",
                  "hubspot": "HubSpot"}
_ACCESS_PREFIX: Final = {"google": "ya29.sim-", "microsoft": "EwB4A8l6sim-", "dynamics": "EwB4A8l6sim-dyn-",
                         "hubspot": "CKsim-", "salesforce": "00Dsim!AQ0-sim-"}
_REFRESH_PREFIX: Final = {"google": "1//sim-", "microsoft": "1.AQEA-sim-", "dynamics": "1.AQEA-sim-",
                          "hubspot": "de3a-sim-", "salesforce": "5Aep861sim-"}


@dataclass(slots=True)
class IssuedCode:
    """One authorization code: who approved what, for which client and redirect URI, with which challenge."""

    value: str
    provider: str
    client_id: str
    redirect_uri: str
    user: str
    scopes: tuple[str, ...]
    challenge: str
    method: str
    expires_at: datetime
    used: bool = False
    family: str = ""  # the grant it was redeemed into (revoked if the code is replayed)


@dataclass(frozen=True, slots=True)
class Redeemed:
    """A code redeemed: the new grant's first access token and its refresh token."""

    code: IssuedCode
    access: AccessToken
    refresh: RefreshToken


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


# ---------------------------------------------------------------------------------------------- the page


def _page(brand: str, title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, content_type="text/html", charset="utf-8", text=(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} - {brand} '
        f'(simulated)</title><style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;'
        f'padding:0 1rem}}button{{margin-right:.5rem}}li{{font-size:.9rem}}</style></head><body>'
        f'<p><b>{brand}</b> · chatops provider simulator</p><h1>{html.escape(title)}</h1>{body}</body></html>'))


def _problem(brand: str, text: str) -> web.Response:
    """An error shown to the person, not sent to the app: the provider can't trust the redirect URI."""
    return _page(brand, "Something went wrong", f"<p>{html.escape(text)}</p>", 400)


def _redirect(redirect_uri: str, params: Mapping[str, str]) -> web.Response:
    joiner = "&" if urlsplit(redirect_uri).query else "?"
    return web.Response(status=302, headers={"Location": redirect_uri + joiner + urlencode(params),
                                             "Cache-Control": "no-store"})


async def consent(request: web.Request) -> web.StreamResponse:
    """The authorize endpoint: GET shows the consent form, POST is the person's answer."""
    prefix = request.path.split("/", 2)[1]
    brand = _BRANDS[prefix]
    state = state_of(request)
    fields = await form(request)
    clients = {state.scenario.clients[p].client_id: p for p in PAGES[prefix]}
    provider = clients.get(fields.get("client_id", ""))
    if provider is None:
        return _problem(brand, "Error 401: invalid_client. The OAuth client was not found.")
    redirect_uri = fields.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in ("http", "https") or not urlsplit(redirect_uri).netloc:
        return _problem(brand, "Error 400: redirect_uri_mismatch. The redirect URI is missing or not absolute.")
    answer = {"state": fields["state"]} if "state" in fields else {}
    if fields.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **answer})
    challenge, method = fields.get("code_challenge", ""), fields.get("code_challenge_method", "plain")
    if challenge and (method != "S256" or not 43 <= len(challenge) <= 128):
        return _redirect(redirect_uri, {"error": "invalid_request",
                                        "error_description": "code_challenge_method must be S256", **answer})
    scopes = tuple(fields.get("scope", "").split())
    if request.method == "GET":
        return _form(brand, fields, scopes, error="")
    decision = fields.get("decision", "")
    if decision == "deny":
        return _redirect(redirect_uri, {"error": "access_denied",
                                        "error_description": "The user denied access to the app.", **answer})
    email = fields.get("email", "").strip().lower() or fields.get("login_hint", "").strip().lower()
    user = state.user(email) if email else None
    if decision != "allow" or user is None:
        return _form(brand, fields, scopes, error=f"Couldn't find an account for {email or 'that address'}.")
    code = IssuedCode(
        value=f"sim-code-{secrets.token_urlsafe(24)}", provider=provider, client_id=fields["client_id"],
        redirect_uri=redirect_uri, user=user.email.lower(), scopes=scopes, challenge=challenge, method=method,
        expires_at=state.clock.now() + CODE_LIFETIME)
    state.codes[code.value] = code
    extra = {"scope": " ".join(scopes)} if provider == "google" else {}
    return _redirect(redirect_uri, {"code": code.value, **answer, **extra})


def _form(brand: str, fields: Mapping[str, str], scopes: tuple[str, ...], *, error: str) -> web.Response:
    kept = {k: v for k, v in fields.items() if k not in ("decision", "email")}
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in kept.items())
    hint = fields.get("email") or fields.get("login_hint", "")
    listed = "".join(f"<li>{html.escape(s)}</li>" for s in scopes) or "<li>(no scopes asked for)</li>"
    problem = f'<p role="alert"><b>{html.escape(error)}</b></p>' if error else ""
    body = (f"{problem}<p>chatops wants to access your {brand} account:</p><ul>{listed}</ul>"
            f'<form method="post"><label>Signed in as <input name="email" value="{html.escape(hint)}" '
            f'size="32"></label> <small>(type another address to sign in as another user)</small>{hidden}'
            '<p><button name="decision" value="allow">Allow</button>'
            '<button name="decision" value="deny">Cancel</button></p></form>')
    return _page(brand, f"Sign in with {brand}", body)


# ---------------------------------------------------------------------------------------------- the token side

ErrorAnswer = Callable[[str, str, int], web.StreamResponse]
"""(OAuth error code, description, HTTP status) -> the provider's own error body."""


async def redeem(request: web.Request, providers: tuple[str, ...], fields: Mapping[str, str], *,
                 error: ErrorAnswer, answer: Callable[[web.Request, Redeemed], web.StreamResponse],
                 server_error: ServerError) -> web.StreamResponse:
    """grant_type=authorization_code: check the code, its client, redirect URI and PKCE verifier; new grant."""
    state = state_of(request)
    code = state.codes.get(fields.get("code", ""))
    if code is None or code.provider not in providers:
        return error("invalid_grant", "Malformed auth code.", 400)
    client_id, secret = client_credentials(request, fields)
    client = state.scenario.clients[code.provider]
    if client_id != code.client_id or client_id != client.client_id or secret != client.client_secret:
        return error("invalid_client", "Unauthorized", 401)
    await network_faults(request, state.faults(code.user, code.provider), server_error)
    if code.used:  # RFC 6749 §4.1.2: a replayed code revokes what it was redeemed into
        state.revoked_families.add(code.family)
        return error("invalid_grant", "Code was already redeemed.", 400)
    if code.expires_at < state.clock.now():
        return error("invalid_grant", "Code expired.", 400)
    if fields.get("redirect_uri", "") != code.redirect_uri:
        return error("invalid_grant", "redirect_uri does not match the one the code was issued for.", 400)
    if code.challenge:
        verifier = fields.get("code_verifier", "")
        if not verifier:
            return error("invalid_request", "Missing code verifier.", 400)
        if not secrets.compare_digest(s256(verifier), code.challenge):
            return error("invalid_grant", "Invalid code verifier.", 400)
    code.used = True
    code.family = f"consent-{secrets.token_urlsafe(12)}"
    state.consented.add(code.family)
    now = state.clock.now()
    refresh = RefreshToken(f"{_REFRESH_PREFIX[code.provider]}{secrets.token_urlsafe(32)}", code.user,
                           {code.provider: code.scopes}, code.family, now)
    state.refresh[refresh.value] = refresh
    lifetime = timedelta(seconds=TOKEN_LIFETIME_S.get(code.provider, 7200))
    access = state.issue_access(code.user, code.provider, code.scopes, code.family, client_id, lifetime,
                                _ACCESS_PREFIX[code.provider])
    return answer(request, Redeemed(code, access, refresh))


_GOOGLE_DOC: Final = "https://developers.google.com/identity/protocols/oauth2/web-server#redirecting"
_MICROSOFT_DOC: Final = ("https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow"
                         "#request-an-authorization-code")
_SALESFORCE_DOC: Final = "https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_oauth_web_server_flow.htm"
_HUBSPOT_DOC: Final = "https://developers.hubspot.com/docs/api/oauth-quickstart-guide"
_NOTE: Final = "Reconnect (chatops/reconnect.py) sends the browser here; {} asks for the consent page"

EXTRA_ROUTES: Final = tuple(
    Route(method, prefix, path, "extra", doc, consent, note=_NOTE.format(flow))
    for prefix, path, doc, flow in (
        ("google-accounts", "/o/oauth2/v2/auth", _GOOGLE_DOC, "GoogleConsent.authorize_url"),
        ("microsoft-login", "/{tenant}/oauth2/v2.0/authorize", _MICROSOFT_DOC,
         "MicrosoftConsent and DynamicsConsent.authorize_url"),
        ("salesforce", "/services/oauth2/authorize", _SALESFORCE_DOC, "SalesforceConsent.authorize_url"),
        ("hubspot", "/oauth/authorize", _HUBSPOT_DOC, "HubSpotConsent.authorize_url (app.hubspot.com)"),
    )
    for method in ("GET", "POST")
)
