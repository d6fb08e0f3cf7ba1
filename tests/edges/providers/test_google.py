"""GoogleClient against documented wire shapes: refresh and tokeninfo, Gmail, Calendar, errors, endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import SecretStr

from adapters.providers.google import (
    CALENDAR_ACLS_READONLY,
    CALENDAR_READONLY,
    GMAIL_READONLY,
    USERINFO_EMAIL,
    GoogleClient,
    endpoints,
)
from adapters.providers.settings import ProviderSettings
from chatops.errors import (
    AuthError,
    BadResponse,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)
from chatops.model import Grant, GrantRole, Provider, Secret
from chatops.ports import CalendarInfo, CalendarShare, EventRef, Mailbox, MessageRef, ProbeKind
from tests.fakes.clock import FakeClock
from tests.fakes.http import Router

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "google"
OAUTH = "oauth2.googleapis.com"
API = "www.googleapis.com"
GMAIL = "/gmail/v1/users/me"
CAL = "/calendar/v3"
ACCESS = "ya29.FAKE-stored-access-token"
REFRESH = "1//0gFAKE-stored-refresh-token"
ISSUED = "ya29.FAKE-google-access-token-issued"  # the access token in token.json
CLIENT_ID = "1234-abc.apps.googleusercontent.com"
SCOPES = frozenset({GMAIL_READONLY, "openid", USERINFO_EMAIL})
GRANT = Grant(
    id="g-google",
    provider=Provider.GOOGLE,
    role=GrantRole.MAIL,
    account="ana@acme.com",
    scopes=SCOPES,
    access_token=Secret(ACCESS),
    refresh_token=Secret(REFRESH),
)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # FakeClock's start


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {"google_client_id": CLIENT_ID, "google_client_secret": SecretStr("GOCSPX-FAKE")}
    return ProviderSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def make(router: Router, **overrides: Any) -> GoogleClient:
    return GoogleClient(router.client(), settings(**overrides), FakeClock())


def form(request: httpx.Request) -> httpx.QueryParams:
    return httpx.QueryParams(request.content.decode())


def assert_no_token_in(exc: BaseException) -> None:
    for token in (ACCESS, REFRESH, ISSUED):
        assert token not in str(exc) and token not in repr(exc)
        assert all(token not in str(arg) for arg in exc.args)


# ---------------------------------------------------------------- refresh (G1, G2)


async def test_refresh_reads_scopes_and_expiry_from_the_token_answer() -> None:
    router = Router().add("POST", OAUTH, "/token", json=fixture("token.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.access_token == ISSUED
    assert tokens.expires_at == NOW + timedelta(seconds=3599)
    assert tokens.scopes >= make(Router()).required_scopes(GrantRole.MAIL)
    assert tokens.scopes >= make(Router()).required_scopes(GrantRole.CALENDAR)
    assert tokens.refresh_token is None  # Google does not rotate: keep the stored one
    assert [r.url.path for r in router.calls] == ["/token"]  # scope was in the answer: no tokeninfo


async def test_refresh_posts_a_form_with_the_stored_refresh_token_and_client_credentials() -> None:
    router = Router().add("POST", OAUTH, "/token", json=fixture("token.json"))

    await make(router).refresh(GRANT)

    [request] = router.calls
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    sent = form(request)
    assert (sent["grant_type"], sent["refresh_token"], sent["client_id"], sent["client_secret"]) == (
        "refresh_token",
        REFRESH,
        CLIENT_ID,
        "GOCSPX-FAKE",
    )
    assert "scope" not in sent  # Google keeps what was granted
    assert "Authorization" not in request.headers


async def test_a_token_answer_without_scope_asks_tokeninfo_by_post_not_in_the_url() -> None:
    router = Router()
    router.add("POST", OAUTH, "/token", json=fixture("token_without_scope.json"))
    router.add("POST", OAUTH, "/tokeninfo", json=fixture("tokeninfo.json"))

    tokens = await make(router).refresh(GRANT)

    tokeninfo = router.requests("POST", "/tokeninfo")[0]
    assert form(tokeninfo)["access_token"] == ISSUED
    assert ISSUED not in str(tokeninfo.url)  # never in a URL, where proxies and access logs keep it
    assert tokens.scopes == {CALENDAR_READONLY, GMAIL_READONLY, USERINFO_EMAIL, "openid"}
    assert tokens.account == "ana@acme.com"


async def test_tokeninfo_without_scope_falls_back_to_the_stored_scopes() -> None:
    router = Router()
    router.add("POST", OAUTH, "/token", json=fixture("token_without_scope.json"))
    router.add("POST", OAUTH, "/tokeninfo", json={"aud": CLIENT_ID, "expires_in": "3599"})

    assert (await make(router).refresh(GRANT)).scopes == SCOPES


async def test_a_rotated_refresh_token_is_returned_and_an_echoed_one_is_not() -> None:
    rotated = Router().add(
        "POST", OAUTH, "/token", json=fixture("token.json") | {"refresh_token": "1//0gFAKE-new"}
    )
    echoed = Router().add("POST", OAUTH, "/token", json=fixture("token.json") | {"refresh_token": REFRESH})

    assert (await make(rotated).refresh(GRANT)).refresh_token == "1//0gFAKE-new"
    assert (await make(echoed).refresh(GRANT)).refresh_token is None


async def test_short_and_broader_scopes_count_as_the_required_ones() -> None:
    body = fixture("token.json") | {
        "scope": "openid email https://mail.google.com/ https://www.googleapis.com/auth/calendar"
    }
    router = Router().add("POST", OAUTH, "/token", json=body)
    client = make(router)

    scopes = (await client.refresh(GRANT)).scopes

    assert client.required_scopes(GrantRole.MAIL) <= scopes
    assert client.required_scopes(GrantRole.CALENDAR) <= scopes


async def test_a_grant_that_lacks_the_acl_scope_shows_it_missing() -> None:
    body = fixture("token.json") | {"scope": f"openid {USERINFO_EMAIL} {CALENDAR_READONLY}"}
    router = Router().add("POST", OAUTH, "/token", json=body)
    client = make(router)

    scopes = (await client.refresh(GRANT)).scopes

    assert client.required_scopes(GrantRole.CALENDAR) - scopes == {CALENDAR_ACLS_READONLY}


@pytest.mark.parametrize(
    ("fixture_name", "status", "code", "words"),
    [
        ("token_invalid_grant.json", 400, "invalid_grant", "Token has been expired or revoked."),
        ("token_invalid_rapt.json", 400, "invalid_grant", "invalid_rapt"),
        ("token_unauthorized_client.json", 401, "unauthorized_client", "Client is unauthorized"),
        ("token_invalid_client.json", 401, "invalid_client", "OAuth client was not found"),
    ],
)
async def test_a_refused_refresh_is_an_auth_error_with_googles_code(
    fixture_name: str,
    status: int,
    code: str,
    words: str,
) -> None:
    router = Router().add("POST", OAUTH, "/token", status=status, json=fixture(fixture_name))

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(GRANT)

    assert (caught.value.provider, caught.value.status, caught.value.code) == ("google", status, code)
    assert words in caught.value.detail
    assert_no_token_in(caught.value)
    assert len(router.calls) == 1  # a POST is never retried


async def test_a_grant_without_refresh_token_fails_without_calling_google() -> None:
    bare = Grant(id="g", provider=Provider.GOOGLE, role=GrantRole.MAIL, account="ana@acme.com")

    with pytest.raises(AuthError) as caught:
        await make(Router()).refresh(bare)

    assert caught.value.code == "no_refresh_token"


@pytest.mark.parametrize(
    ("fixture_name", "error", "code"),
    [
        ("tokeninfo_invalid.json", AuthError, "invalid_token"),
        ("tokeninfo_invalid_bare.json", ProviderError, ""),  # only error_description: still read, not a crash
    ],
)
async def test_a_refused_tokeninfo_is_a_provider_error(
    fixture_name: str,
    error: type[ProviderError],
    code: str,
) -> None:
    router = Router()
    router.add("POST", OAUTH, "/token", json=fixture("token_without_scope.json"))
    router.add("POST", OAUTH, "/tokeninfo", status=400, json=fixture(fixture_name))

    with pytest.raises(error) as caught:
        await make(router).refresh(GRANT)

    assert type(caught.value) is error
    assert (caught.value.status, caught.value.code, caught.value.detail) == (400, code, "Invalid Value")
    assert_no_token_in(caught.value)


async def test_token_sets_never_show_their_tokens() -> None:
    router = Router().add(
        "POST", OAUTH, "/token", json=fixture("token.json") | {"refresh_token": "1//0gFAKE-new"}
    )

    tokens = await make(router).refresh(GRANT)

    assert ISSUED not in repr(tokens) and "1//0gFAKE-new" not in repr(tokens)


def test_required_scopes_are_least_privilege_per_role() -> None:
    client = make(Router())
    assert client.required_scopes(GrantRole.MAIL) == {GMAIL_READONLY, "openid", USERINFO_EMAIL}
    assert client.required_scopes(GrantRole.CALENDAR) == {
        CALENDAR_READONLY,
        CALENDAR_ACLS_READONLY,
        "openid",
        USERINFO_EMAIL,
    }
    assert client.required_scopes(GrantRole.CRM) == frozenset()


# ---------------------------------------------------------------- mailbox (G4, G5)


async def test_the_mailbox_has_its_primary_and_accepted_aliases() -> None:
    router = Router()
    router.add("GET", API, f"{GMAIL}/profile", json=fixture("profile.json"))
    router.add("GET", API, f"{GMAIL}/settings/sendAs", json=fixture("send_as.json"))

    box = await make(router).mailbox(GRANT, ACCESS)

    # the pending alias is not one Gmail lets her send from; the one without a status is
    assert box == Mailbox(
        primary_address="ana@acme.com",
        aliases=("sales@acme.com", "ana.ruiz@acme.io"),
        timezone=None,
        display_name="Ana Ruiz",
    )
    assert all(r.headers["Authorization"] == f"Bearer {ACCESS}" for r in router.calls)


async def test_without_an_is_primary_entry_the_profile_address_is_primary() -> None:
    send_as = {
        "sendAs": [
            {"sendAsEmail": "ANA@acme.com", "isPrimary": False},
            {"sendAsEmail": "sales@acme.com", "verificationStatus": "accepted"},
            {"sendAsEmail": "Sales@acme.com", "verificationStatus": "accepted"},
        ]
    }
    router = Router()
    router.add("GET", API, f"{GMAIL}/profile", json=fixture("profile.json"))
    router.add("GET", API, f"{GMAIL}/settings/sendAs", json=send_as)

    box = await make(router).mailbox(GRANT, ACCESS)

    assert (box.primary_address, box.aliases) == ("ana@acme.com", ("sales@acme.com",))  # no dupes, any case


@pytest.mark.parametrize("send_as", [fixture("send_as_primary_only.json"), {}])
async def test_a_mailbox_without_aliases_has_none(send_as: dict[str, Any]) -> None:
    router = Router()
    router.add("GET", API, f"{GMAIL}/profile", json=fixture("profile.json"))
    router.add("GET", API, f"{GMAIL}/settings/sendAs", json=send_as)  # Google drops an empty list

    box = await make(router).mailbox(GRANT, ACCESS)

    assert (box.primary_address, box.aliases) == ("ana@acme.com", ())


async def test_an_account_without_gmail_is_a_failed_precondition() -> None:
    router = Router().add(
        "GET", API, f"{GMAIL}/profile", status=400, json=fixture("error_mail_service_not_enabled.json")
    )

    with pytest.raises(ProviderError) as caught:
        await make(router).mailbox(GRANT, ACCESS)

    assert (type(caught.value), caught.value.status, caught.value.code) == (
        ProviderError,
        400,
        "failedPrecondition",
    )
    assert caught.value.detail == "Mail service not enabled"


@pytest.mark.parametrize("profile", [{"messagesTotal": 1}, {"emailAddress": 42}, {"emailAddress": ""}, []])
async def test_a_profile_without_an_address_is_a_bad_response(profile: Any) -> None:
    router = Router().add("GET", API, f"{GMAIL}/profile", json=profile)

    with pytest.raises(BadResponse) as caught:
        await make(router).mailbox(GRANT, ACCESS)

    assert caught.value.code == "shape"


# ---------------------------------------------------------------- newest message (G6)


async def test_the_newest_message_has_its_date_and_sender() -> None:
    router = Router()
    router.add("GET", API, f"{GMAIL}/messages", query={"maxResults": "1"}, json=fixture("messages.json"))
    router.add("GET", API, f"{GMAIL}/messages/18f8e2c1a9b3d4e5", json=fixture("message_metadata.json"))

    message = await make(router).newest_message(GRANT, ACCESS)

    assert message == MessageRef(
        id="18f8e2c1a9b3d4e5",
        received_at=datetime(2024, 5, 20, 9, 12, 44, tzinfo=UTC),
        sender="bob@client.example",
    )
    meta = router.calls[1].url.params
    assert (meta["format"], meta["metadataHeaders"]) == ("metadata", "From")


async def test_an_empty_mailbox_has_no_messages_key_and_no_newest_message() -> None:
    router = Router().add("GET", API, f"{GMAIL}/messages", json=fixture("messages_empty.json"))

    assert await make(router).newest_message(GRANT, ACCESS) is None
    assert len(router.calls) == 1


async def test_a_message_deleted_between_the_two_calls_still_counts_as_read() -> None:
    router = Router()
    router.add("GET", API, f"{GMAIL}/messages", json=fixture("messages.json"))
    router.add(
        "GET", API, f"{GMAIL}/messages/18f8e2c1a9b3d4e5", status=404, json=fixture("error_not_found.json")
    )

    assert await make(router).newest_message(GRANT, ACCESS) == MessageRef(id="18f8e2c1a9b3d4e5")


# ---------------------------------------------------------------- calendar (G7, G8)


async def test_the_calendar_uses_the_user_time_zone_setting_and_the_primary_access_role() -> None:
    router = Router()
    router.add("GET", API, f"{CAL}/users/me/settings/timezone", json=fixture("setting_timezone.json"))
    router.add("GET", API, f"{CAL}/users/me/calendarList/primary", json=fixture("calendar_list_primary.json"))

    info = await make(router).calendar(GRANT, ACCESS)

    assert info == CalendarInfo(
        id="ana@acme.com", timezone="Europe/Berlin", owner="ana@acme.com", access_role="owner"
    )


async def test_a_time_zone_setting_left_at_its_default_falls_back_to_the_calendar_zone() -> None:
    router = Router()
    router.add(
        "GET", API, f"{CAL}/users/me/settings/timezone", status=404, json=fixture("error_not_found.json")
    )
    router.add("GET", API, f"{CAL}/users/me/calendarList/primary", json=fixture("calendar_list_primary.json"))

    assert (await make(router).calendar(GRANT, ACCESS)).timezone == "America/New_York"


async def test_a_calendar_read_without_the_scope_is_permission_denied() -> None:
    router = Router().add(
        "GET",
        API,
        f"{CAL}/users/me/settings/timezone",
        status=403,
        json=fixture("error_insufficient_scopes.json"),
    )

    with pytest.raises(PermissionDenied) as caught:
        await make(router).calendar(GRANT, ACCESS)

    assert caught.value.code == "insufficientPermissions"


# ---------------------------------------------------------------- shares (G9)


async def test_acl_rules_become_shares_with_what_each_role_allows() -> None:
    router = Router().add("GET", API, f"{CAL}/calendars/primary/acl", json=fixture("acl.json"))

    shares = await make(router).shares(GRANT, ACCESS)

    assert shares == (
        CalendarShare("ana@acme.com", "owner", can_read_details=True, can_write=True),
        CalendarShare("crm-sync@acme.com", "reader", can_read_details=True, can_write=False),
        CalendarShare("sales@acme.com", "writer", can_read_details=True, can_write=True),
        CalendarShare("acme.com", "freeBusyReader", can_read_details=False, can_write=False),
        CalendarShare("default", "none", can_read_details=False, can_write=False),
    )


async def test_acl_pages_are_followed() -> None:
    first = fixture("acl.json")
    first["items"] = first["items"][:1]
    first["nextPageToken"] = "page-2"
    second = fixture("acl.json")
    second["items"] = second["items"][1:2]
    router = Router()
    router.add("GET", API, f"{CAL}/calendars/primary/acl", json=first)
    router.add("GET", API, f"{CAL}/calendars/primary/acl", query={"pageToken": "page-2"}, json=second)

    shares = await make(router).shares(GRANT, ACCESS)

    assert [s.grantee for s in shares] == ["ana@acme.com", "crm-sync@acme.com"]


async def test_rules_of_unknown_shape_are_skipped() -> None:
    body = {
        "items": [
            {"scope": {"type": "user"}, "role": "reader"},
            {"role": "reader"},
            {"scope": {"type": "robot", "value": "x"}, "role": "reader"},
            "junk",
        ]
    }
    router = Router().add("GET", API, f"{CAL}/calendars/primary/acl", json=body)

    assert await make(router).shares(GRANT, ACCESS) == ()


async def test_only_the_owner_may_list_the_acl() -> None:
    router = Router().add(
        "GET", API, f"{CAL}/calendars/primary/acl", status=403, json=fixture("error_acl_forbidden.json")
    )

    with pytest.raises(PermissionDenied):
        await make(router).shares(GRANT, ACCESS)


# ---------------------------------------------------------------- next event


async def test_the_next_event_is_asked_for_in_start_order_from_the_given_time() -> None:
    router = Router().add("GET", API, f"{CAL}/calendars/primary/events", json=fixture("events.json"))
    after = datetime(2024, 5, 21, 9, 30, tzinfo=ZoneInfo("Europe/Berlin"))

    event = await make(router).next_event(GRANT, ACCESS, after)

    assert event == EventRef(
        id="4of4klang2ugo5b7dvq3rdl6s0",
        starts_at=datetime(2024, 5, 21, 8, 0, tzinfo=UTC),
        timezone="Europe/Berlin",
        attendees=("ana@acme.com", "bob@client.example"),
    )
    params = router.calls[0].url.params
    assert dict(params) == {
        "singleEvents": "true",
        "orderBy": "startTime",
        "timeMin": "2024-05-21T07:30:00Z",
        "maxResults": "1",
    }


async def test_an_incomplete_events_page_is_followed_to_the_next_one() -> None:
    router = Router()
    router.add("GET", API, f"{CAL}/calendars/primary/events", json=fixture("events_incomplete_page.json"))
    router.add(
        "GET",
        API,
        f"{CAL}/calendars/primary/events",
        query={"pageToken": "CigKGjRvZjRrbGFuZ2_page2"},
        json=fixture("events.json"),
    )

    event = await make(router).next_event(GRANT, ACCESS, NOW)

    assert event is not None and event.id == "4of4klang2ugo5b7dvq3rdl6s0"
    assert len(router.calls) == 2


async def test_an_all_day_event_starts_at_midnight_where_the_calendar_is() -> None:
    router = Router().add("GET", API, f"{CAL}/calendars/primary/events", json=fixture("events_all_day.json"))

    event = await make(router).next_event(GRANT, ACCESS, NOW)

    assert event is not None
    assert event.starts_at == datetime(2024, 5, 22, tzinfo=ZoneInfo("Europe/Berlin"))
    assert (event.timezone, event.attendees) == ("Europe/Berlin", ())


async def test_no_upcoming_event_is_none() -> None:
    router = Router().add("GET", API, f"{CAL}/calendars/primary/events", json=fixture("events_none.json"))

    assert await make(router).next_event(GRANT, ACCESS, NOW) is None


# ---------------------------------------------------------------- errors (§8.3 and the error bodies of §1)


@pytest.mark.parametrize(
    ("status", "fixture_name", "error", "code"),
    [
        (401, "error_auth.json", AuthError, "authError"),
        (403, "error_insufficient_scopes.json", PermissionDenied, "insufficientPermissions"),
        (403, "error_scope_details_only.json", PermissionDenied, "ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        (403, "error_user_rate_limit.json", RateLimited, "userRateLimitExceeded"),  # quota as 403: §8.3
        (403, "error_rate_limit_403.json", RateLimited, "rateLimitExceeded"),
        (403, "error_daily_limit.json", RateLimited, "dailyLimitExceeded"),
        (403, "error_quota_exceeded.json", RateLimited, "quotaExceeded"),
        (403, "error_domain_policy.json", PermissionDenied, "domainPolicy"),
        (404, "error_not_found.json", ProviderError, "notFound"),
        (500, "error_backend.json", Unavailable, "backendError"),
    ],
)
async def test_each_documented_api_error_becomes_its_provider_error(
    status: int,
    fixture_name: str,
    error: type[ProviderError],
    code: str,
) -> None:
    router = Router().add("GET", API, f"{GMAIL}/profile", status=status, json=fixture(fixture_name))

    with pytest.raises(error) as caught:
        await make(router).mailbox(GRANT, ACCESS)

    assert type(caught.value) is error
    assert (caught.value.provider, caught.value.status, caught.value.code) == ("google", status, code)
    assert_no_token_in(caught.value)


async def test_a_429_without_retry_after_is_retried_then_rate_limited() -> None:
    router = Router().add(
        "GET", API, f"{GMAIL}/profile", status=429, json=fixture("error_rate_limit_429.json")
    )

    with pytest.raises(RateLimited) as caught:
        await make(router).mailbox(GRANT, ACCESS)

    assert (caught.value.code, caught.value.retry_after) == ("rateLimitExceeded", None)
    assert len(router.calls) == 3 and len(router.sleeps) == 2  # two retries with backoff


async def test_a_429_with_a_short_retry_after_is_waited_out() -> None:
    router = Router()
    router.add(
        "GET",
        API,
        f"{GMAIL}/profile",
        status=429,
        headers={"Retry-After": "1"},
        json=fixture("error_rate_limit_429.json"),
    )
    router.add("GET", API, f"{GMAIL}/profile", json=fixture("profile.json"))
    router.add("GET", API, f"{GMAIL}/settings/sendAs", json=fixture("send_as.json"))

    assert (await make(router).mailbox(GRANT, ACCESS)).primary_address == "ana@acme.com"
    assert router.sleeps == [1.0]


async def test_a_503_that_persists_is_unavailable_after_retries() -> None:
    router = Router().add(
        "GET", API, f"{CAL}/calendars/primary/acl", status=503, json=fixture("error_unavailable.json")
    )

    with pytest.raises(Unavailable):
        await make(router).shares(GRANT, ACCESS)

    assert len(router.calls) == 3


async def test_a_proxy_page_instead_of_gmail_is_a_bad_response() -> None:
    router = Router().add(
        "GET",
        API,
        f"{GMAIL}/messages",
        text="<html><body>Please log in to the proxy</body></html>",
        headers={"Content-Type": "text/html"},
    )

    with pytest.raises(BadResponse) as caught:
        await make(router).newest_message(GRANT, ACCESS)

    assert caught.value.code == "html"


# ---------------------------------------------------------------- endpoints


def test_endpoints_are_the_token_and_api_hosts_with_googles_issuers() -> None:
    found = endpoints(settings())

    assert [(e.name, e.host, e.port, e.kind) for e in found] == [
        ("Google sign-in", "oauth2.googleapis.com", 443, ProbeKind.HTTPS),
        ("Google APIs", "www.googleapis.com", 443, ProbeKind.HTTPS),
    ]
    assert all(
        e.expected_issuers == ("Google Trust Services", "GTS") and e.provider is Provider.GOOGLE
        for e in found
    )


def test_simulator_urls_are_plain_http_on_their_port_once_each() -> None:
    found = endpoints(
        settings(
            google_oauth_url="http://127.0.0.1:8765/google-oauth",
            google_api_url="http://127.0.0.1:8765/google",
        )
    )

    assert [(e.host, e.port, e.kind, e.expected_issuers) for e in found] == [
        ("127.0.0.1", 8765, ProbeKind.HTTP, ())
    ]


async def test_the_client_follows_the_configured_urls() -> None:
    router = Router()
    router.add("GET", "127.0.0.1:8765", "/google/gmail/v1/users/me/profile", json=fixture("profile.json"))
    router.add(
        "GET", "127.0.0.1:8765", "/google/gmail/v1/users/me/settings/sendAs", json=fixture("send_as.json")
    )
    client = make(router, google_api_url="http://127.0.0.1:8765/google")

    assert (await client.mailbox(GRANT, ACCESS)).primary_address == "ana@acme.com"
