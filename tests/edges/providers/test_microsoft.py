"""MicrosoftClient on documented wire shapes: refresh, AADSTS codes, Graph mailbox and calendar, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.providers.microsoft import MicrosoftClient, endpoints, scopes_of
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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "microsoft"
LOGIN = "login.microsoftonline.com"
GRAPH = "graph.microsoft.com"
V1 = "/v1.0"
TOKEN_PATH = "/acme.com/oauth2/v2.0/token"
ACCESS = "EwB4A8l6FAKE-stored-access-token"
REFRESH = "1.AQEA-FAKE-stored-refresh-token"
ISSUED = "EwB4A8l6FAKE-graph-access-token-issued"  # the tokens in token.json
ROTATED = "1.AQEA-FAKE-rotated-refresh-token"
MAIL_SCOPES = frozenset({"User.Read", "Mail.Read", "MailboxSettings.Read", "offline_access"})
GRANT = Grant(
    id="g-ms",
    provider=Provider.MICROSOFT,
    role=GrantRole.MAIL,
    account="ana@acme.com",
    scopes=MAIL_SCOPES,
    access_token=Secret(ACCESS),
    refresh_token=Secret(REFRESH),
)
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {
        "microsoft_client_id": "00001111-aaaa-2222-bbbb-3333cccc4444",
        "microsoft_client_secret": SecretStr("FAKE~secret"),
        "microsoft_tenant": "acme.com",
    }
    return ProviderSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def make(router: Router, **overrides: Any) -> MicrosoftClient:
    return MicrosoftClient(router.client(), settings(**overrides), FakeClock())


def form(request: httpx.Request) -> httpx.QueryParams:
    return httpx.QueryParams(request.content.decode())


def assert_no_token_in(exc: BaseException) -> None:
    for token in (ACCESS, REFRESH, ISSUED, ROTATED):
        assert token not in str(exc) and token not in repr(exc)
        assert all(token not in str(arg) for arg in exc.args)


# ---------------------------------------------------------------- refresh (M1)


async def test_refresh_returns_graph_scopes_in_short_form_and_the_rotated_refresh_token() -> None:
    router = Router().add("POST", LOGIN, TOKEN_PATH, json=fixture("token.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.access_token == ISSUED
    assert tokens.refresh_token == ROTATED  # the docs say: store it, discard the old one
    assert tokens.expires_at == NOW + timedelta(seconds=4467)  # 60-90 min, never assume 3600
    assert tokens.scopes == {"Calendars.Read", "Mail.Read", "MailboxSettings.Read", "User.Read"}
    assert make(Router()).required_scopes(GrantRole.MAIL) <= tokens.scopes
    assert ROTATED not in repr(tokens) and ISSUED not in repr(tokens)


async def test_refresh_asks_the_tenant_for_offline_access_and_the_roles_scopes() -> None:
    router = Router().add("POST", LOGIN, TOKEN_PATH, json=fixture("token.json"))

    await make(router).refresh(GRANT)

    sent = form(router.calls[0])
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == REFRESH
    assert (
        sent["client_id"] == "00001111-aaaa-2222-bbbb-3333cccc4444" and sent["client_secret"] == "FAKE~secret"
    )
    assert sent["scope"] == "offline_access Mail.Read MailboxSettings.Read User.Read"


@pytest.mark.parametrize(
    ("role", "held", "asked"),
    [
        # a mail grant also consented for the calendar keeps that (the calendar checks fall back to it)
        (
            GrantRole.MAIL,
            MAIL_SCOPES | {"https://graph.microsoft.com/Calendars.Read"},
            "offline_access Calendars.Read Mail.Read MailboxSettings.Read User.Read",
        ),
        # a calendar-only grant is never asked for mail scopes it was not consented (AADSTS65001)
        (
            GrantRole.CALENDAR,
            frozenset({"Calendars.Read", "MailboxSettings.Read", "offline_access", "openid"}),
            "offline_access Calendars.Read MailboxSettings.Read",
        ),
        (GrantRole.CALENDAR, frozenset(), "offline_access Calendars.Read MailboxSettings.Read"),
    ],
)
def test_the_refresh_scope_never_exceeds_what_the_grant_was_consented(
    role: GrantRole,
    held: frozenset[str],
    asked: str,
) -> None:
    grant = Grant(id="g", provider=Provider.MICROSOFT, role=role, account="ana@acme.com", scopes=held)

    assert make(Router()).request_scopes(grant) == asked


async def test_an_echoed_refresh_token_is_not_a_rotation() -> None:
    router = Router().add("POST", LOGIN, TOKEN_PATH, json=fixture("token.json") | {"refresh_token": REFRESH})

    assert (await make(router).refresh(GRANT)).refresh_token is None


async def test_a_refresh_answer_without_scope_keeps_the_stored_scopes() -> None:
    body = {k: v for k, v in fixture("token.json").items() if k != "scope"}
    router = Router().add("POST", LOGIN, TOKEN_PATH, json=body)

    tokens = await make(router).refresh(GRANT)

    assert tokens.scopes == {"User.Read", "Mail.Read", "MailboxSettings.Read", "offline_access"}


def test_scopes_are_compared_short_case_insensitively_and_readwrite_implies_read() -> None:
    assert scopes_of(
        [
            "https://graph.microsoft.com/mail.readwrite",
            "https://graph.microsoft.com/User.Read",
            "openid",
            "profile",
        ]
    ) == {"Mail.ReadWrite", "Mail.Read", "User.Read", "openid", "profile"}


@pytest.mark.parametrize(
    ("fixture_name", "status", "code"),
    [
        ("token_aadsts700082.json", 400, "AADSTS700082"),  # refresh token expired from inactivity
        ("token_aadsts70008.json", 400, "AADSTS70008"),
        ("token_aadsts50173.json", 400, "AADSTS50173"),  # grant revoked after a password change
        ("token_aadsts65001.json", 400, "AADSTS65001"),  # consent missing (suberror consent_required)
        ("token_aadsts50076.json", 400, "AADSTS50076"),  # MFA required
        ("token_aadsts50079.json", 400, "AADSTS50079"),  # MFA enrolment required
        ("token_aadsts53003.json", 400, "AADSTS53003"),  # Conditional Access
        ("token_aadsts700016.json", 400, "AADSTS700016"),  # app not in the tenant (unauthorized_client)
        ("token_aadsts7000215.json", 401, "AADSTS7000215"),  # our client secret (invalid_client)
        ("token_aadsts50126.json", 400, "AADSTS50126"),
    ],
)
async def test_each_aadsts_error_is_an_auth_error_carrying_its_code(
    fixture_name: str, status: int, code: str
) -> None:
    router = Router().add("POST", LOGIN, TOKEN_PATH, status=status, json=fixture(fixture_name))

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(GRANT)

    assert (caught.value.provider, caught.value.status, caught.value.code) == ("microsoft", status, code)
    description = fixture(fixture_name)["error_description"]
    first_line = description.split("\r\n")[0].removeprefix(f"{code}: ")
    assert first_line.startswith(caught.value.detail.rstrip("…"))  # the first line, shortened past 300
    assert caught.value.evidence == f"{status} {code}: {caught.value.detail}"  # the code shown once
    assert "Trace ID" not in caught.value.detail and "\n" not in caught.value.detail  # first line only
    assert_no_token_in(caught.value)
    assert len(router.calls) == 1


async def test_a_grant_without_refresh_token_fails_without_calling_microsoft() -> None:
    bare = Grant(id="g", provider=Provider.MICROSOFT, role=GrantRole.MAIL, account="ana@acme.com")

    with pytest.raises(AuthError) as caught:
        await make(Router()).refresh(bare)

    assert caught.value.code == "no_refresh_token"


def test_required_scopes_are_least_privilege_per_role() -> None:
    client = make(Router())
    assert client.required_scopes(GrantRole.MAIL) == {"User.Read", "Mail.Read", "MailboxSettings.Read"}
    assert client.required_scopes(GrantRole.CALENDAR) == {"Calendars.Read", "MailboxSettings.Read"}
    assert client.required_scopes(GrantRole.CRM) == frozenset()


# ---------------------------------------------------------------- mailbox (M2, M3)


async def test_the_mailbox_reads_proxy_addresses_and_the_windows_time_zone() -> None:
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me", json=fixture("me.json"))
    router.add("GET", GRAPH, f"{V1}/me/mailboxSettings", json=fixture("mailbox_settings.json"))

    box = await make(router).mailbox(GRANT, ACCESS)

    assert box == Mailbox(
        primary_address="ana@acme.com",
        aliases=("ana.ruiz@acme.com", "ana@acme.onmicrosoft.com"),
        timezone="W. Europe Standard Time",
        display_name="Ana Ruiz",
    )  # SIP:, X500: ignored
    assert router.calls[0].url.params["$select"] == "mail,userPrincipalName,proxyAddresses,displayName"
    assert all(r.headers["Authorization"] == f"Bearer {ACCESS}" for r in router.calls)


async def test_proxy_addresses_with_a_space_after_the_colon_are_trimmed() -> None:
    me = fixture("me.json") | {
        "mail": "ana@acme.com",
        "proxyAddresses": ["smtp: sales@acme.com", "SMTP: ana@acme.com"],
    }
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me", json=me)
    router.add("GET", GRAPH, f"{V1}/me/mailboxSettings", json=fixture("mailbox_settings.json"))

    box = await make(router).mailbox(GRANT, ACCESS)

    assert (box.primary_address, box.aliases) == ("ana@acme.com", ("sales@acme.com",))


async def test_a_mail_attribute_other_than_the_primary_smtp_is_an_alias() -> None:
    me = fixture("me.json") | {"mail": "Ana.Ruiz@acme.com", "proxyAddresses": ["SMTP:ana@acme.com"]}
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me", json=me)
    router.add("GET", GRAPH, f"{V1}/me/mailboxSettings", json=fixture("mailbox_settings.json"))

    assert (await make(router).mailbox(GRANT, ACCESS)).aliases == ("Ana.Ruiz@acme.com",)


@pytest.mark.parametrize("fixture_name", ["error_mailbox_not_enabled.json", "error_mailbox_inactive.json"])
async def test_a_mailbox_graph_cannot_reach_surfaces_as_mailbox_not_enabled(fixture_name: str) -> None:
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me", json=fixture("me_no_mailbox.json"))
    router.add("GET", GRAPH, f"{V1}/me/mailboxSettings", status=404, json=fixture(fixture_name))

    with pytest.raises(ProviderError) as caught:
        await make(router).mailbox(GRANT, ACCESS)

    assert type(caught.value) is ProviderError  # not an auth problem: a mailbox_config one
    assert (caught.value.status, caught.value.code) == (404, "MailboxNotEnabledForRESTAPI")
    assert caught.value.detail == fixture(fixture_name)["error"]["message"]


async def test_a_user_without_any_address_is_a_bad_response() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me", json={"displayName": "Nobody", "mail": None})

    with pytest.raises(BadResponse):
        await make(router).mailbox(GRANT, ACCESS)


# ---------------------------------------------------------------- newest message (M5)


async def test_the_newest_message_is_asked_for_newest_first_with_its_sender() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me/messages", json=fixture("messages.json"))

    message = await make(router).newest_message(GRANT, ACCESS)

    assert message == MessageRef(
        id=fixture("messages.json")["value"][0]["id"],
        received_at=datetime(2024, 5, 20, 9, 12, 44, tzinfo=UTC),
        sender="bob@client.example",
    )
    params = router.calls[0].url.params
    assert (params["$top"], params["$orderby"]) == ("1", "receivedDateTime desc")
    assert len(router.calls) == 1  # the nextLink is not followed


async def test_an_empty_mailbox_has_no_newest_message() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me/messages", json=fixture("messages_empty.json"))

    assert await make(router).newest_message(GRANT, ACCESS) is None


async def test_a_collection_without_value_is_a_bad_response() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me/messages", json={"@odata.context": "x"})

    with pytest.raises(BadResponse):
        await make(router).newest_message(GRANT, ACCESS)


# ---------------------------------------------------------------- calendar and shares (M4)


async def test_the_calendar_takes_its_zone_from_mailbox_settings() -> None:
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me/calendar", json=fixture("calendar.json"))
    router.add("GET", GRAPH, f"{V1}/me/mailboxSettings", json=fixture("mailbox_settings.json"))

    info = await make(router).calendar(GRANT, ACCESS)

    assert info == CalendarInfo(
        id="AAMkAGI2TGuLAAA=", timezone="W. Europe Standard Time", owner="ana@acme.com"
    )


async def test_calendar_permissions_become_shares_with_what_each_role_allows() -> None:
    router = Router().add(
        "GET", GRAPH, f"{V1}/me/calendar/calendarPermissions", json=fixture("calendar_permissions.json")
    )

    shares = await make(router).shares(GRANT, ACCESS)

    assert shares == (
        CalendarShare(
            "crm-sync@acme.com", "delegateWithPrivateEventAccess", can_read_details=True, can_write=True
        ),
        CalendarShare("bob@acme.com", "limitedRead", can_read_details=False, can_write=False),
        CalendarShare(
            "default", "freeBusyRead", can_read_details=False, can_write=False
        ),  # "My Organization"
    )


@pytest.mark.parametrize(
    ("role", "details", "write"),
    [
        ("none", False, False),
        ("freeBusyRead", False, False),
        ("limitedRead", False, False),
        ("read", True, False),
        ("write", True, True),
        ("delegateWithoutPrivateEventAccess", True, True),
        ("delegateWithPrivateEventAccess", True, True),
        ("custom", False, False),
    ],
)
async def test_each_calendar_role_maps_to_read_and_write(role: str, details: bool, write: bool) -> None:
    body = {"value": [{"role": role, "emailAddress": {"name": "Sync", "address": "sync@acme.com"}}]}
    router = Router().add("GET", GRAPH, f"{V1}/me/calendar/calendarPermissions", json=body)

    [share] = await make(router).shares(GRANT, ACCESS)

    assert (share.can_read_details, share.can_write) == (details, write)


async def test_a_next_link_on_graph_is_followed() -> None:
    first = fixture("calendar_permissions.json")
    first["value"] = first["value"][:1]
    first["@odata.nextLink"] = f"https://{GRAPH}{V1}/me/calendar/calendarPermissions?$skiptoken=p2"
    second = fixture("calendar_permissions.json")
    second["value"] = second["value"][2:]
    router = Router()
    router.add("GET", GRAPH, f"{V1}/me/calendar/calendarPermissions", json=first)
    router.add("GET", GRAPH, f"{V1}/me/calendar/calendarPermissions", query={"$skiptoken": "p2"}, json=second)

    shares = await make(router).shares(GRANT, ACCESS)

    assert [s.grantee for s in shares] == ["crm-sync@acme.com", "default"]


async def test_a_next_link_to_another_host_is_refused_and_the_token_stays_home() -> None:
    body = fixture("calendar_permissions.json") | {"@odata.nextLink": "https://evil.example/steal?page=2"}
    router = Router().add("GET", GRAPH, f"{V1}/me/calendar/calendarPermissions", json=body)

    with pytest.raises(BadResponse):
        await make(router).shares(GRANT, ACCESS)

    assert [r.url.host for r in router.calls] == [GRAPH]


# ---------------------------------------------------------------- next event (M6)


async def test_the_next_event_is_asked_for_in_utc_and_keeps_its_original_zone() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me/events", json=fixture("events.json"))

    event = await make(router).next_event(GRANT, ACCESS, datetime(2024, 5, 21, 7, 30, 15, tzinfo=UTC))

    assert event == EventRef(
        id="AAMkAGIAAAoZDOFAAA=",
        starts_at=datetime(2024, 5, 21, 8, 0, tzinfo=UTC),
        timezone="Pacific Standard Time",
        attendees=("bob@client.example",),
    )
    request = router.calls[0]
    assert request.headers["Prefer"] == 'outlook.timezone="UTC"'
    params = request.url.params
    assert params["$filter"] == "start/dateTime ge '2024-05-21T07:30:15'"
    assert (params["$orderby"], params["$top"]) == ("start/dateTime", "1")


async def test_an_event_in_a_zone_python_cannot_name_has_no_start_rather_than_a_wrong_one() -> None:
    body = fixture("events.json")
    body["value"][0]["start"] = {
        "dateTime": "2024-05-21T10:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    router = Router().add("GET", GRAPH, f"{V1}/me/events", json=body)

    event = await make(router).next_event(GRANT, ACCESS, NOW)

    assert event is not None and event.starts_at is None


async def test_no_upcoming_event_is_none() -> None:
    router = Router().add("GET", GRAPH, f"{V1}/me/events", json=fixture("events_empty.json"))

    assert await make(router).next_event(GRANT, ACCESS, NOW) is None


# ---------------------------------------------------------------- Graph errors


@pytest.mark.parametrize(
    ("status", "fixture_name", "error", "code"),
    [
        (401, "error_invalid_token.json", AuthError, "InvalidAuthenticationToken"),
        (403, "error_access_denied.json", PermissionDenied, "ErrorAccessDenied"),
        (403, "error_request_denied.json", PermissionDenied, "Authorization_RequestDenied"),
        (404, "error_item_not_found.json", ProviderError, "ErrorItemNotFound"),
        (503, "error_service_unavailable.json", Unavailable, "ServiceNotAvailable"),
    ],
)
async def test_each_documented_graph_error_becomes_its_provider_error(
    status: int,
    fixture_name: str,
    error: type[ProviderError],
    code: str,
) -> None:
    headers = (
        {"WWW-Authenticate": 'Bearer realm="", client_id="00000003-0000-0000-c000-000000000000"'}
        if status == 401
        else None
    )
    router = Router().add(
        "GET", GRAPH, f"{V1}/me/messages", status=status, json=fixture(fixture_name), headers=headers
    )

    with pytest.raises(error) as caught:
        await make(router).newest_message(GRANT, ACCESS)

    assert type(caught.value) is error
    assert (caught.value.provider, caught.value.status, caught.value.code) == ("microsoft", status, code)
    assert_no_token_in(caught.value)


async def test_throttling_with_a_long_retry_after_is_rate_limited_at_once() -> None:
    router = Router().add(
        "GET",
        GRAPH,
        f"{V1}/me/messages",
        status=429,
        headers={"Retry-After": "10"},
        json=fixture("error_throttled.json"),
    )

    with pytest.raises(RateLimited) as caught:
        await make(router).newest_message(GRANT, ACCESS)

    assert (caught.value.code, caught.value.retry_after) == ("TooManyRequests", timedelta(seconds=10))
    assert len(router.calls) == 1  # 10 s is the provider's answer, not something a check waits out


async def test_a_decimal_retry_after_is_waited_out_and_the_read_succeeds() -> None:
    router = Router()
    router.add(
        "GET",
        GRAPH,
        f"{V1}/me/messages",
        status=429,
        headers={"Retry-After": "2.128"},
        json=fixture("error_mailbox_concurrency.json"),
    )
    router.add("GET", GRAPH, f"{V1}/me/messages", json=fixture("messages_empty.json"))

    assert await make(router).newest_message(GRANT, ACCESS) is None
    assert router.sleeps == [2.128]


async def test_mailbox_concurrency_throttling_is_rate_limited() -> None:
    router = Router().add(
        "GET",
        GRAPH,
        f"{V1}/me/messages",
        status=429,
        headers={"Retry-After": "30"},
        json=fixture("error_mailbox_concurrency.json"),
    )

    with pytest.raises(RateLimited) as caught:
        await make(router).newest_message(GRANT, ACCESS)

    assert caught.value.code == "ApplicationThrottled"


# ---------------------------------------------------------------- endpoints


def test_endpoints_are_sign_in_and_graph_with_microsofts_issuers() -> None:
    found = endpoints(settings())

    assert [(e.name, e.host, e.port, e.kind) for e in found] == [
        ("Microsoft sign-in", "login.microsoftonline.com", 443, ProbeKind.HTTPS),
        ("Microsoft Graph", "graph.microsoft.com", 443, ProbeKind.HTTPS),
    ]
    assert all(
        e.expected_issuers == ("Microsoft", "DigiCert") and e.provider is Provider.MICROSOFT for e in found
    )


def test_simulator_urls_are_plain_http_on_their_port() -> None:
    found = endpoints(
        settings(
            microsoft_login_url="http://127.0.0.1:8765/microsoft-login",
            microsoft_graph_url="http://localhost:9000/graph",
        )
    )

    assert [(e.host, e.port, e.kind, e.expected_issuers) for e in found] == [
        ("127.0.0.1", 8765, ProbeKind.HTTP, ()),
        ("localhost", 9000, ProbeKind.HTTP, ()),
    ]
