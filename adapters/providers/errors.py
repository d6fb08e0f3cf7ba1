"""The one place where provider HTTP answers and httpx failures become the core's ProviderError tree."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx

from chatops.errors import (
    AuthError,
    BadResponse,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)

# Google answers quota errors with 403 as well as 429; the reason, not the status, tells (provider-apis.md §8.3).
RATE_LIMIT_CODES = frozenset({
    "rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded",
    "RATE_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED", "REQUEST_LIMIT_EXCEEDED", "TooManyRequests",
    "ApplicationThrottled", "RATE_LIMIT", "0x80072322", "0x80072321", "0x80072326",
})
# OAuth token-endpoint error codes (RFC 6749 §5.2 and vendor variants) that mean: re-authorise.
AUTH_CODES = frozenset({
    "invalid_grant", "invalid_token", "unauthorized_client", "consent_required", "interaction_required",
    "login_required", "BAD_REFRESH_TOKEN", "EXPIRED_AUTHENTICATION", "INVALID_SESSION_ID",
    "InvalidAuthenticationToken", "INVALID_AUTHENTICATION",
})
_AADSTS = re.compile(r"\b(AADSTS\d+)\b")
_MAX_DETAIL = 300


def error_fields(body: Any) -> tuple[str, str]:
    """(code, message) from any provider's error envelope (provider-apis.md §0); ("", "") if none."""
    if isinstance(body, list) and body and isinstance(body[0], Mapping):  # Salesforce REST: a JSON array
        first = body[0]
        return str(first.get("errorCode", "")), str(first.get("message", ""))
    if not isinstance(body, Mapping):
        return "", ""
    error = body.get("error")
    if isinstance(error, Mapping):  # Google APIs, Graph, Dataverse, Bot Connector
        code = str(error.get("code", ""))
        for item in error.get("errors") or ():
            if isinstance(item, Mapping) and item.get("reason"):
                code = str(item["reason"])
                break
        for item in error.get("details") or ():
            if isinstance(item, Mapping) and item.get("reason") and not code.isalpha():
                code = str(item["reason"])
        return code, str(error.get("message", ""))
    if isinstance(error, str):  # OAuth token endpoints
        description = str(body.get("error_description", ""))
        match = _AADSTS.search(description)
        if match:  # Microsoft: the AADSTS code says more than "invalid_grant"
            first_line = description.split("\r\n")[0].split("\n")[0]
            return match.group(1), first_line.removeprefix(f"{match.group(1)}: ")  # shown once in evidence
        return error, description
    if isinstance(body.get("error_description"), str):  # Google tokeninfo may send only the description
        return "", str(body["error_description"])
    if "status" in body and "message" in body:  # HubSpot
        kind = body.get("errorType") or body.get("category") or body.get("status")
        return str(kind), str(body.get("message", ""))
    return "", ""


def retry_after(headers: httpx.Headers) -> timedelta | None:
    """Retry-After in seconds; Graph may send a decimal such as 2.128."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return timedelta(seconds=max(0.0, float(value)))
    except (ValueError, OverflowError):  # "inf" or 1e20 would overflow timedelta; such a wait means nothing
        return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _looks_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("content-type", "").lower() or response.text.lstrip().startswith("<")


def raise_for_status(response: httpx.Response, provider: str, body: Any = None) -> None:
    """Raise the ProviderError a non-2xx answer means; return for 2xx."""
    status = response.status_code
    if status < 400:
        return
    if body is None:
        try:
            body = response.json()
        except (ValueError, UnicodeDecodeError):
            body = None
    code, message = error_fields(body)
    detail = _short(message or response.reason_phrase or f"HTTP {status}")
    if body is None and status in (403, 407) and _looks_html(response):
        # Provider APIs answer errors in JSON; an HTML 403/407 comes from a proxy or web filter in the path.
        raise BadResponse(provider, f"answered HTML instead of JSON with {status} {response.reason_phrase}: "
                                    "a proxy or web filter in the path", status=status, code="html")
    if status == 429 or code in RATE_LIMIT_CODES:
        raise RateLimited(provider, detail, status=status, code=code, retry_after=retry_after(response.headers))
    if status == 401 or code in AUTH_CODES or code.startswith("AADSTS"):
        raise AuthError(provider, detail, status=status, code=code)
    if status == 403:
        raise PermissionDenied(provider, detail, status=status, code=code)
    if status >= 500:
        raise Unavailable(provider, detail, status=status, code=code)
    raise ProviderError(provider, detail, status=status, code=code)


def expect_json(response: httpx.Response, provider: str) -> Any:
    """The JSON body of a successful answer, or the ProviderError it means.

    HTML instead of JSON (a proxy or captive portal), a truncated body or an empty one become BadResponse.
    """
    text = response.text
    body: Any = None
    parse_error: str = ""
    try:
        body = json.loads(text) if text.strip() else None
    except ValueError as exc:
        parse_error = str(exc)
    raise_for_status(response, provider, body)
    if body is None:
        content_type = response.headers.get("content-type", "")
        if parse_error and "html" in content_type.lower() or text.lstrip().startswith("<"):
            raise BadResponse(provider, f"answered HTML instead of JSON ({_short(text[:80])})",
                              status=response.status_code, code="html")
        if parse_error:
            raise BadResponse(provider, f"answered a truncated or invalid JSON body ({parse_error})",
                              status=response.status_code, code="invalid_json")
        raise BadResponse(provider, "answered an empty body", status=response.status_code, code="empty")
    return body


def translate(exc: httpx.HTTPError, provider: str) -> ProviderError:
    """An httpx failure as the ProviderError it means; the caller raises it `from exc`."""
    if isinstance(exc, httpx.TimeoutException):
        return Unavailable(provider, f"gave no answer in time ({type(exc).__name__})", code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return Unavailable(provider, f"could not be reached ({_short(str(exc)) or 'connect error'})", code="connect")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return BadResponse(provider, f"closed the connection mid-answer ({_short(str(exc))})", code="truncated")
    return Unavailable(provider, _short(str(exc)) or type(exc).__name__, code="http")


def field(body: Any, *path: str | int, provider: str) -> Any:
    """body[path...] or BadResponse naming the missing field (an unexpected shape)."""
    current = body
    for key in path:
        try:
            current = current[key]
        except (KeyError, IndexError, TypeError):
            dotted = ".".join(str(p) for p in path)
            raise BadResponse(provider, f"answered without the field {dotted!r}", code="shape") from None
    return current
