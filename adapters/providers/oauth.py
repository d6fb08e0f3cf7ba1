"""OAuth 2.0 token refresh shared by every provider (authlib builds the request, our client sends it)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_token_request  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.util import scope_to_list  # type: ignore[import-untyped]

from adapters.providers.errors import AUTH_CODES, error_fields, expect_json, translate
from chatops.errors import AuthError, BadResponse, ProviderError
from chatops.ports import TokenSet

FORM: Final = "application/x-www-form-urlencoded"


async def refresh_token(
    http: httpx.AsyncClient, *, token_url: str, client_id: str, client_secret: str, refresh_token: str,
    provider: str, scope: str | None = None, extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST a `grant_type=refresh_token` request (RFC 6749 §6) and return the token endpoint's JSON answer.

    authlib's `prepare_token_request` encodes the form, so the parameter rules (scope lists joined with
    spaces, empty values dropped: a public client sends no `client_secret`) are authlib's. The request
    goes out through our shared client rather than through `AsyncOAuth2Client` on purpose: that class is
    its own `httpx.AsyncClient`, and a second client would bypass our timeouts, user agent and the single
    place (`errors.py`) where answers become ProviderError. The client authenticates with
    `client_secret_post` (id and secret in the form), the method Google, Microsoft, Salesforce and HubSpot
    all document for this grant.

    Error bodies go through `expect_json`/`raise_for_status`: `invalid_grant` and friends become AuthError
    with the provider's code (Microsoft's AADSTS number when the description carries one), 429 becomes
    RateLimited, HTML or truncated answers BadResponse. A 200 answer that carries an OAuth error body
    instead of a token is raised the same way (AuthError for an OAuth or AADSTS code); a 200 answer with
    no `access_token` key at all is left to `token_set` to judge (HubSpot's legacy answer spells it
    `accessToken`). No token ever goes into an exception: only codes and the provider's own description.

    Args:
        scope: space-separated scopes to ask for; None to keep what was granted (most providers).
        extra: further form fields a provider needs (for example Dynamics' `resource` on the v1 endpoint).
    """
    form = prepare_token_request(
        "refresh_token", refresh_token=refresh_token, scope=scope, client_id=client_id,
        client_secret=client_secret, **(extra or {}),
    )
    try:
        response = await http.post(
            token_url, content=form, headers={"Content-Type": FORM, "Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise translate(exc, provider) from exc
    body = expect_json(response, provider)
    if not isinstance(body, Mapping):
        raise BadResponse(provider, "answered the token request with something other than a JSON object",
                          status=response.status_code, code="shape")
    if not body.get("access_token"):
        code, message = error_fields(body)
        if code:  # some token endpoints answer 200 with an OAuth error body
            error = AuthError if code in AUTH_CODES or code.startswith("AADSTS") else ProviderError
            raise error(provider, message or code, status=response.status_code, code=code)
    return dict(body)


def token_set(body: Mapping[str, Any], *, now: datetime, scopes_fallback: frozenset[str]) -> TokenSet:
    """A token endpoint's answer as a TokenSet.

    `expires_in` may be a number (RFC 6749) or a numeric string (Google tokeninfo, Microsoft's v1
    endpoint); Salesforce sends none, and then `expires_at` is None. `scope` is space-separated (a list is
    accepted too); when it is absent or empty the provider granted what was asked, so `scopes_fallback`
    (usually the grant's stored scopes) is used. A `refresh_token` in the answer is returned as is: the
    caller compares it with the stored one to tell a rotation. A body without an access token is a
    BadResponse attributed to "oauth" (this function is not told the provider; `refresh_token` is).
    """
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise BadResponse("oauth", "answered the token request without an access_token", code="shape")
    scopes = frozenset(scope_to_list(_scope_value(body.get("scope"))) or ()) or scopes_fallback
    refreshed = body.get("refresh_token")
    instance_url = body.get("instance_url")
    return TokenSet(
        access_token=access_token,
        expires_at=expires_at(body.get("expires_in"), now),
        scopes=scopes,
        refresh_token=refreshed if isinstance(refreshed, str) and refreshed else None,
        instance_url=instance_url if isinstance(instance_url, str) else "",
    )


def expires_at(expires_in: Any, now: datetime) -> datetime | None:
    """`now + expires_in` for a number or numeric string of seconds; None when absent or unreadable."""
    if isinstance(expires_in, bool) or expires_in is None:
        return None
    try:
        seconds = float(expires_in)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(seconds) or seconds < 0 or seconds > 10 * 365 * 86400:
        return None
    return now + timedelta(seconds=seconds)


def _scope_value(value: Any) -> str | list[str] | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str) and item]
    return None
