"""The shared translation (errors.py, http.py, oauth.py), where answers become errors, and the test Router."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.providers.errors import error_fields, expect_json, field, retry_after
from adapters.providers.http import USER_AGENT, call_json
from adapters.providers.oauth import refresh_token, token_set
from chatops.errors import (
    AuthError,
    BadResponse,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)
from tests.fakes.http import Router

HOST = "api.example.test"
URL = f"https://{HOST}/v1/thing"
TOKEN = "FAKE-bearer-token-never-shown"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def get(router: Router, method: str = "GET", **kwargs: Any) -> Any:
    body, _ = await call_json(router.client(), method, URL, provider="example", token=TOKEN, **kwargs)
    return body


def assert_token_hidden(exc: BaseException) -> None:
    assert TOKEN not in str(exc) and TOKEN not in repr(exc) and all(TOKEN not in str(a) for a in exc.args)


# ---------------------------------------------------------------- bodies that are not the documented JSON


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            {
                "text": "<!DOCTYPE html><html><body>Sign in to the guest Wi-Fi</body></html>",
                "headers": {"Content-Type": "text/html"},
            },
            "html",
        ),
        ({"text": "  <html><body>Blocked by policy</body></html>"}, "html"),  # HTML labelled text/plain
        (
            {
                "text": '{"emailAddress": "ana@acme.com", "messagesT',
                "headers": {"Content-Type": "application/json"},
            },
            "invalid_json",
        ),
        ({"text": ""}, "empty"),
        ({"content": b"   \n"}, "empty"),
    ],
)
async def test_a_body_that_is_not_json_is_a_bad_response(answer: dict[str, Any], code: str) -> None:
    router = Router().add("GET", HOST, "/v1/thing", **answer)

    with pytest.raises(BadResponse) as caught:
        await get(router)

    assert (caught.value.code, caught.value.status, caught.value.provider) == (code, 200, "example")
    assert_token_hidden(caught.value)


async def test_a_500_is_unavailable_whatever_its_body() -> None:
    json_500 = Router().add(
        "GET",
        HOST,
        "/v1/thing",
        status=500,
        json={"error": {"code": 500, "message": "Backend Error", "errors": [{"reason": "backendError"}]}},
    )
    html_500 = Router().add("GET", HOST, "/v1/thing", status=500, text="<html>Internal Server Error</html>")

    with pytest.raises(Unavailable) as first:
        await get(json_500)
    with pytest.raises(Unavailable) as second:
        await get(html_500)

    assert (first.value.code, first.value.detail) == ("backendError", "Backend Error")
    assert (second.value.code, second.value.detail) == ("", "Internal Server Error")
    assert len(json_500.calls) == 1  # 500 is not among the retried statuses


async def test_a_persistent_503_is_retried_with_backoff_then_unavailable() -> None:
    router = Router().add("GET", HOST, "/v1/thing", status=503, text="")

    with pytest.raises(Unavailable) as caught:
        await get(router)

    assert caught.value.status == 503
    assert len(router.calls) == 3 and len(router.sleeps) == 2 and all(0 < s <= 5 for s in router.sleeps)


# ---------------------------------------------------------------- rate limits and Retry-After


@pytest.mark.parametrize(("header", "seconds"), [("30", 30.0), ("2.128", 2.128), ("0", 0.0)])
def test_retry_after_is_read_as_seconds_including_decimals(header: str, seconds: float) -> None:
    assert retry_after(httpx.Headers({"Retry-After": header})) == timedelta(seconds=seconds)


@pytest.mark.parametrize("header", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "inf", "1e300", ""])
def test_an_unreadable_retry_after_is_none_not_a_crash(header: str) -> None:
    assert retry_after(httpx.Headers({"Retry-After": header})) is None


async def test_a_429_with_a_long_retry_after_is_rate_limited_without_waiting() -> None:
    router = Router().add(
        "GET",
        HOST,
        "/v1/thing",
        status=429,
        headers={"Retry-After": "30"},
        json={"error": {"code": "TooManyRequests", "message": "Please retry again later."}},
    )

    with pytest.raises(RateLimited) as caught:
        await get(router)

    assert (caught.value.status, caught.value.retry_after) == (429, timedelta(seconds=30))
    assert (len(router.calls), router.sleeps) == (1, [])


async def test_a_decimal_retry_after_is_carried_by_the_rate_limit() -> None:
    router = Router().add("GET", HOST, "/v1/thing", status=429, headers={"Retry-After": "7.5"}, json={})

    with pytest.raises(RateLimited) as caught:
        await get(router)

    assert caught.value.retry_after == timedelta(seconds=7.5)


@pytest.mark.parametrize(
    "reason", ["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"]
)
async def test_a_403_with_a_quota_reason_is_rate_limited_not_permission_denied(reason: str) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Rate Limit Exceeded",
            "errors": [{"message": "Rate Limit Exceeded", "domain": "usageLimits", "reason": reason}],
        }
    }
    router = Router().add("GET", HOST, "/v1/thing", status=403, json=body)

    with pytest.raises(RateLimited) as caught:
        await get(router)

    assert (caught.value.status, caught.value.code, caught.value.retry_after) == (403, reason, None)
    assert len(router.calls) == 1  # 403 is not retried


async def test_a_plain_403_is_permission_denied() -> None:
    router = Router().add(
        "GET",
        HOST,
        "/v1/thing",
        status=403,
        json={"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}},
    )

    with pytest.raises(PermissionDenied) as caught:
        await get(router)

    assert caught.value.code == "ErrorAccessDenied"


# ---------------------------------------------------------------- the retrying transport


async def test_a_get_is_retried_after_retry_after_and_then_succeeds() -> None:
    router = Router()
    router.add("GET", HOST, "/v1/thing", status=429, headers={"Retry-After": "1.5"}, json={})
    router.add("GET", HOST, "/v1/thing", json={"ok": True})

    assert await get(router) == {"ok": True}
    assert (len(router.calls), router.sleeps) == (2, [1.5])


@pytest.mark.parametrize(
    ("answer"),
    [
        {"status": 429, "headers": {"Retry-After": "1"}, "json": {}},
        {"status": 503, "json": {}},
        {"error": httpx.ConnectError},
    ],
)
async def test_a_post_is_never_retried(answer: dict[str, Any]) -> None:
    router = Router().add("POST", HOST, "/v1/thing", **answer)

    with pytest.raises(ProviderError):
        await get(router, "POST", json={"Subject": "chatops sync test"})

    assert (len(router.calls), router.sleeps) == (1, [])


async def test_a_connect_error_is_retried_then_unavailable() -> None:
    router = Router().add("GET", HOST, "/v1/thing", error=httpx.ConnectError)

    with pytest.raises(Unavailable) as caught:
        await get(router)

    assert (caught.value.code, caught.value.status) == ("connect", 0)
    assert len(router.calls) == 3
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert_token_hidden(caught.value)


async def test_a_connect_error_then_an_answer_succeeds() -> None:
    router = Router()
    router.add("GET", HOST, "/v1/thing", error=httpx.ConnectError("[Errno 111] Connection refused"))
    router.add("GET", HOST, "/v1/thing", json={"ok": True})

    assert await get(router) == {"ok": True}


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (httpx.ReadTimeout, Unavailable, "timeout"),
        (httpx.ConnectTimeout, Unavailable, "timeout"),
        (httpx.RemoteProtocolError, BadResponse, "truncated"),
        (httpx.ReadError, BadResponse, "truncated"),
    ],
)
async def test_timeouts_and_cut_connections_are_translated(
    error: type[httpx.HTTPError],
    kind: type[ProviderError],
    code: str,
) -> None:
    router = Router().add("GET", HOST, "/v1/thing", error=error)

    with pytest.raises(kind) as caught:
        await get(router)

    assert caught.value.code == code
    assert len(router.calls) == 1  # only connect errors and retryable statuses are retried


async def test_every_request_carries_the_user_agent_and_accepts_json() -> None:
    router = Router().add("GET", HOST, "/v1/thing", json={})

    await get(router)

    request = router.calls[0]
    assert (request.headers["User-Agent"], request.headers["Accept"]) == (USER_AGENT, "application/json")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


# ---------------------------------------------------------------- envelopes (provider-apis.md §0)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        # Salesforce REST: a JSON array
        (
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ),
        # HubSpot APIs: category; a 429 says errorType
        (
            {
                "status": "error",
                "message": "This app hasn't been granted all required scopes",
                "correlationId": "x",
                "category": "MISSING_SCOPES",
            },
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes",
        ),
        (
            {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "SECONDLY",
                "category": "RATE_LIMITS",
            },
            "RATE_LIMIT",
            "You have reached your secondly limit.",
        ),
        # HubSpot legacy token endpoint
        (
            {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
            "BAD_REFRESH_TOKEN",
            "missing or unknown refresh token",
        ),
        # Google APIs: errors[].reason wins over the numeric code; details[].reason when there is no errors[]
        (
            {
                "error": {
                    "code": 403,
                    "message": "Request had insufficient authentication scopes.",
                    "errors": [{"reason": "insufficientPermissions"}],
                    "details": [{"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}],
                }
            },
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        ),
        (
            {
                "error": {
                    "code": 403,
                    "message": "Request had insufficient authentication scopes.",
                    "status": "PERMISSION_DENIED",
                    "details": [{"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}],
                }
            },
            "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "Request had insufficient authentication scopes.",
        ),
        # Graph and Dataverse
        (
            {
                "error": {
                    "code": "MailboxNotEnabledForRESTAPI",
                    "message": "REST API is not yet supported for this mailbox.",
                    "innerError": {"request-id": "x"},
                }
            },
            "MailboxNotEnabledForRESTAPI",
            "REST API is not yet supported for this mailbox.",
        ),
        (
            {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit."}},
            "0x80072322",
            "Number of requests exceeded the limit.",
        ),
        # OAuth token endpoints, Microsoft's with the AADSTS code taken from the first line
        (
            {"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
            "invalid_grant",
            "Token has been expired or revoked.",
        ),
        (
            {
                "error": "invalid_grant",
                "error_description": "AADSTS70002: Error validating credentials. AADSTS70000: The "
                "provided access grant is invalid or malformed.\r\nTrace ID: 8ccf\r\nCorrelation ID: c7f3",
                "error_codes": [70002, 70000],
            },
            "AADSTS70002",
            "Error validating credentials. AADSTS70000: The provided access grant is invalid "
            "or malformed.",
        ),
        # Google tokeninfo's bare variant
        ({"error_description": "Invalid Value"}, "", "Invalid Value"),
        ({"unexpected": True}, "", ""),
        ("a string", "", ""),
        (None, "", ""),
    ],
)
def test_error_fields_reads_every_documented_envelope(body: Any, code: str, message: str) -> None:
    assert error_fields(body) == (code, message)


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            401,
            [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
            AuthError,
            "INVALID_SESSION_ID",
        ),
        (
            403,
            [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
            RateLimited,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (
            401,
            {
                "status": "error",
                "message": "The OAuth token used to make this call expired 1 hour(s) ago.",
                "category": "EXPIRED_AUTHENTICATION",
            },
            AuthError,
            "EXPIRED_AUTHENTICATION",
        ),
        (
            429,
            {
                "status": "error",
                "message": "You have reached your daily limit.",
                "errorType": "RATE_LIMIT",
                "policyName": "DAILY",
            },
            RateLimited,
            "RATE_LIMIT",
        ),
        (
            400,
            {
                "error": "invalid_grant",
                "error_description": "AADSTS700082: The refresh token has expired due to "
                "inactivity.\r\nTrace ID: x",
            },
            AuthError,
            "AADSTS700082",
        ),
        (
            404,
            {
                "error": {
                    "code": "MailboxNotEnabledForRESTAPI",
                    "message": "REST API is not yet supported for this mailbox.",
                }
            },
            ProviderError,
            "MailboxNotEnabledForRESTAPI",
        ),
    ],
)
async def test_each_envelope_raises_the_error_its_code_means(
    status: int,
    body: Any,
    error: type[ProviderError],
    code: str,
) -> None:
    router = Router().add("GET", HOST, "/v1/thing", status=status, json=body)

    with pytest.raises(error) as caught:
        await get(router)

    assert type(caught.value) is error and (caught.value.status, caught.value.code) == (status, code)
    assert_token_hidden(caught.value)


def test_a_long_error_message_is_shortened_to_one_line() -> None:
    response = httpx.Response(
        400,
        json={"error": "invalid_request", "error_description": "x\n" * 400},
        request=httpx.Request("GET", URL),
    )

    with pytest.raises(ProviderError) as caught:
        expect_json(response, "example")

    assert len(caught.value.detail) <= 300 and "\n" not in caught.value.detail


def test_a_missing_field_is_a_bad_response_naming_it() -> None:
    with pytest.raises(BadResponse) as caught:
        field({"value": [{}]}, "value", 0, "id", provider="microsoft")

    assert (caught.value.code, caught.value.detail) == ("shape", "answered without the field 'value.0.id'")


# ---------------------------------------------------------------- oauth.py: refresh_token and token_set


async def test_refresh_token_posts_an_rfc6749_form_and_returns_the_answer() -> None:
    router = Router().add(
        "POST",
        "login.example.test",
        "/token",
        json={"access_token": "FAKE-new-access", "expires_in": 3600, "token_type": "Bearer"},
    )

    body = await refresh_token(
        router.client(),
        token_url="https://login.example.test/token",
        client_id="cid",
        client_secret="",
        refresh_token="FAKE-refresh",
        provider="example",
        scope="offline_access Mail.Read",
        extra={"resource": "https://org.example"},
    )

    assert body["access_token"] == "FAKE-new-access"
    sent = httpx.QueryParams(router.calls[0].content.decode())
    assert dict(sent) == {
        "grant_type": "refresh_token",
        "refresh_token": "FAKE-refresh",
        "client_id": "cid",
        "scope": "offline_access Mail.Read",
        "resource": "https://org.example",
    }  # no empty secret


async def test_a_token_error_body_with_status_200_is_still_an_auth_error() -> None:
    router = Router().add(
        "POST",
        "login.example.test",
        "/token",
        json={"error": "invalid_grant", "error_description": "expired access/refresh token"},
    )

    with pytest.raises(AuthError) as caught:
        await refresh_token(
            router.client(),
            token_url="https://login.example.test/token",
            client_id="cid",
            client_secret="s",
            refresh_token="FAKE-refresh",
            provider="example",
        )

    assert (caught.value.status, caught.value.code) == (200, "invalid_grant")


@pytest.mark.parametrize("answer", [{"json": ["not", "an", "object"]}, {"text": "<html>proxy</html>"}])
async def test_a_token_answer_that_is_not_an_object_is_a_bad_response(answer: dict[str, Any]) -> None:
    router = Router().add("POST", "login.example.test", "/token", **answer)

    with pytest.raises(BadResponse):
        await refresh_token(
            router.client(),
            token_url="https://login.example.test/token",
            client_id="cid",
            client_secret="s",
            refresh_token="FAKE-refresh",
            provider="example",
        )


async def test_a_refused_token_request_never_shows_the_refresh_token() -> None:
    router = Router().add(
        "POST",
        "login.example.test",
        "/token",
        status=400,
        json={"error": "invalid_grant", "error_description": "Bad Request"},
    )

    with pytest.raises(AuthError) as caught:
        await refresh_token(
            router.client(),
            token_url="https://login.example.test/token",
            client_id="cid",
            client_secret="FAKE-client-secret",
            refresh_token="FAKE-refresh",
            provider="example",
        )

    for secret in ("FAKE-refresh", "FAKE-client-secret"):
        assert secret not in str(caught.value) and secret not in repr(caught.value)


@pytest.mark.parametrize(
    ("expires_in", "expected"),
    [
        (3599, NOW + timedelta(seconds=3599)),
        ("3487", NOW + timedelta(seconds=3487)),  # a numeric string (tokeninfo, Microsoft's v1 endpoint)
        (4467.0, NOW + timedelta(seconds=4467)),
        (None, None),  # Salesforce: the org's session timeout decides
        ("soon", None),
        (True, None),
        (-5, None),
        ("inf", None),
    ],
)
def test_token_set_reads_expires_in_as_a_number_or_a_string(
    expires_in: Any, expected: datetime | None
) -> None:
    body = {"access_token": "FAKE-a"} | ({"expires_in": expires_in} if expires_in is not None else {})

    assert token_set(body, now=NOW, scopes_fallback=frozenset()).expires_at == expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("api refresh_token  id", {"api", "refresh_token", "id"}),
        (["oauth", "crm.objects.contacts.read"], {"oauth", "crm.objects.contacts.read"}),
        ("", {"stored"}),
        (None, {"stored"}),
    ],
)
def test_token_set_reads_scope_or_falls_back(scope: Any, expected: set[str]) -> None:
    body: dict[str, Any] = {"access_token": "FAKE-a"} | ({"scope": scope} if scope is not None else {})

    assert token_set(body, now=NOW, scopes_fallback=frozenset({"stored"})).scopes == expected


def test_token_set_keeps_a_returned_refresh_token_and_the_instance_url() -> None:
    tokens = token_set(
        {
            "access_token": "FAKE-a",
            "refresh_token": "FAKE-r2",
            "instance_url": "https://acme.my.salesforce.com",
        },
        now=NOW,
        scopes_fallback=frozenset(),
    )

    assert (tokens.refresh_token, tokens.instance_url) == ("FAKE-r2", "https://acme.my.salesforce.com")
    assert "FAKE-a" not in repr(tokens) and "FAKE-r2" not in repr(tokens)
    assert (
        token_set(
            {"access_token": "FAKE-a", "refresh_token": ""}, now=NOW, scopes_fallback=frozenset()
        ).refresh_token
        is None
    )


@pytest.mark.parametrize("body", [{}, {"access_token": ""}, {"access_token": 42}, {"accessToken": "FAKE-a"}])
def test_token_set_without_an_access_token_is_a_bad_response(body: dict[str, Any]) -> None:
    with pytest.raises(BadResponse):
        token_set(body, now=NOW, scopes_fallback=frozenset())


# ---------------------------------------------------------------- the Router itself (tests/fakes/http.py)


async def test_an_unknown_route_fails_the_test_and_names_the_known_ones() -> None:
    router = Router().add("GET", HOST, "/v1/other", json={})

    with pytest.raises(pytest.fail.Exception) as caught:
        await get(router)

    assert "no route for GET https://api.example.test/v1/thing" in str(caught.value)
    assert "GET api.example.test/v1/other" in str(caught.value)


async def test_a_router_matches_query_parameters_before_the_bare_route() -> None:
    router = Router()
    router.add("GET", HOST, "/v1/thing", json={"page": 1})
    router.add("GET", HOST, "/v1/thing", query={"pageToken": "p2"}, json={"page": 2})

    assert await get(router, params={"pageToken": "p2", "maxResults": "5"}) == {"page": 2}
    assert await get(router, params={"maxResults": "5"}) == {"page": 1}


async def test_a_router_answers_in_order_and_repeats_the_last_answer() -> None:
    router = Router()
    for n in (1, 2):
        router.add("GET", HOST, "/v1/thing", json={"n": n})

    assert [await get(router) for _ in range(3)] == [{"n": 1}, {"n": 2}, {"n": 2}]
    assert len(router.requests("GET", "/v1/thing")) == 3


async def test_a_router_host_may_name_a_port() -> None:
    router = Router().add("GET", "127.0.0.1:8765", "/sim/v1/thing", json={"ok": True})

    body, _ = await call_json(router.client(), "GET", "http://127.0.0.1:8765/sim/v1/thing", provider="sim")

    assert body == {"ok": True}


def test_an_html_403_from_a_proxy_is_a_bad_response_not_a_permission_problem() -> None:
    page = "<html><body><h1>Access Denied</h1><p>Blocked by Zscaler</p></body></html>"
    response = httpx.Response(403, headers={"Content-Type": "text/html"}, text=page,
                               request=httpx.Request("GET", "https://graph.microsoft.com/v1.0/me"))
    with pytest.raises(BadResponse) as caught:
        expect_json(response, "microsoft")
    assert caught.value.code == "html"
    assert "proxy" in caught.value.detail
