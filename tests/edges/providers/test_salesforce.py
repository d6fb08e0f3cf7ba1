"""SalesforceClient against documented wire shapes: refresh, SOQL, limits, EAC status, Task writes, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.providers.salesforce import SalesforceClient, endpoints, limit_info, soql_literal
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, PermissionDenied, ProviderError, RateLimited, Unavailable
from chatops.model import Grant, GrantRole, Provider, Secret
from chatops.ports import CrmUser, ProbeKind, QuotaUsage, SyncState, TokenSet, UsageWindow
from tests.fakes.clock import FakeClock
from tests.fakes.http import Router

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "salesforce"
LOGIN = "login.salesforce.com"
INSTANCE = "acme.my.salesforce.com"
API = "/services/data/v62.0"
ACCESS = "00D5g000004XyzA!FAKE-ACCESS-TOKEN-in-use"
REFRESH = "5Aep861FAKE-REFRESH-TOKEN-stored"
ISSUED = "00D5g000004XyzA!AQ0AQHgFAKEACCESSTOKENsf1"  # the access token in token.json
GRANT = Grant(
    id="g-sf", provider=Provider.SALESFORCE, role=GrantRole.CRM, account="ana@acme.com",
    scopes=frozenset({"api", "refresh_token"}), access_token=Secret(ACCESS), refresh_token=Secret(REFRESH),
    instance_url=f"https://{INSTANCE}",
)
ANA = CrmUser(id="0055g00000AbCdEAAV", email="ana@acme.com", username="ana@acme.com.prod")
LIMIT_HEADER = {"Sforce-Limit-Info": "api-usage=10018/100000; api-bursts=1/750"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {"salesforce_client_id": "3MVG9-client",
                              "salesforce_client_secret": SecretStr("s3cret")}
    return ProviderSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def make(router: Router) -> SalesforceClient:
    return SalesforceClient(router.client(), settings(), FakeClock())


def soql_of(request: httpx.Request) -> str:
    return request.url.params["q"]


# ---------------------------------------------------------------- refresh (S1)


async def test_refresh_keeps_instance_url_and_scopes_and_has_no_expiry() -> None:
    router = Router()
    router.add("POST", LOGIN, "/services/oauth2/token", json=fixture("token.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.access_token == ISSUED
    assert tokens.instance_url == "https://acme.my.salesforce.com"
    assert {"api", "refresh_token"} <= tokens.scopes
    assert tokens.expires_at is None  # no expires_in: the org's session timeout decides


async def test_refresh_sends_the_stored_refresh_token_and_client_credentials() -> None:
    router = Router()
    router.add("POST", LOGIN, "/services/oauth2/token", json=fixture("token.json"))

    await make(router).refresh(GRANT)

    form = httpx.QueryParams(router.calls[0].content.decode())
    assert form["grant_type"] == "refresh_token"
    assert form["refresh_token"] == REFRESH
    assert (form["client_id"], form["client_secret"]) == ("3MVG9-client", "s3cret")  # client_secret_post


@pytest.mark.parametrize(("fixture_name", "description"), [
    ("token_expired.json", "expired access/refresh token"),
    ("token_inactive_user.json", "inactive user"),
])
async def test_a_refused_refresh_is_an_auth_error(fixture_name: str, description: str) -> None:
    router = Router()
    router.add("POST", LOGIN, "/services/oauth2/token", status=400, json=fixture(fixture_name))

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(GRANT)

    assert (caught.value.code, caught.value.status) == ("invalid_grant", 400)
    assert description in caught.value.detail
    assert REFRESH not in str(caught.value) and REFRESH not in repr(caught.value)


async def test_a_grant_without_refresh_token_fails_without_calling_salesforce() -> None:
    router = Router()  # no route: any call would fail the test

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(Grant(id="g", provider=Provider.SALESFORCE, role=GrantRole.CRM,
                                         account="a"))

    assert caught.value.code == "no_refresh_token"


async def test_a_refresh_answer_with_a_bad_instance_url_is_a_bad_response() -> None:
    router = Router()
    router.add("POST", LOGIN, "/services/oauth2/token", json=fixture("token.json") | {"instance_url": 42})

    with pytest.raises(BadResponse):
        await make(router).refresh(GRANT)


def test_required_scopes_are_api_and_refresh_token_only() -> None:
    client = make(Router())
    assert client.required_scopes(GrantRole.CRM) == {"api", "refresh_token"}
    assert client.required_scopes(GrantRole.MAIL) == frozenset()


# ---------------------------------------------------------------- user (S4)


async def test_user_by_email_reads_time_zone_and_active_flag() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("user_query.json"), headers=LIMIT_HEADER)

    user = await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert user == CrmUser(id="0055g00000AbCdEAAV", email="ana@acme.com", username="ana@acme.com.prod",
                           timezone="Europe/Berlin", active=True, name="Ana Ruiz")
    assert soql_of(router.calls[0]).endswith("FROM User WHERE Email = 'ana@acme.com' LIMIT 10")
    assert router.calls[0].headers["Authorization"] == f"Bearer {ACCESS}"


async def test_the_active_user_wins_when_two_users_share_an_email() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("user_query_shared_email.json"))

    user = await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert user is not None and (user.id, user.active) == ("0055g00000AbCdEAAV", True)


async def test_an_unknown_email_is_no_user() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))

    assert await make(router).user(GRANT, ACCESS, "nobody@acme.com") is None


async def test_a_quote_in_the_email_cannot_break_out_of_the_soql_string() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))

    await make(router).user(GRANT, ACCESS, "x' OR Email != 'y@acme.com")

    assert soql_of(router.calls[0]).endswith(r"WHERE Email = 'x\' OR Email != \'y@acme.com' LIMIT 10")


def test_soql_literals_escape_backslash_before_quote() -> None:
    assert soql_literal("o'brien@acme.com") == r"'o\'brien@acme.com'"
    assert soql_literal("a\\'b") == r"'a\\\'b'"  # a trailing backslash can't un-escape the quote
    assert soql_literal("line\nbreak") == r"'line\nbreak'"


async def test_a_plus_address_is_percent_encoded_not_turned_into_a_space() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))

    await make(router).user(GRANT, ACCESS, "ana+crm@acme.com")

    assert b"ana%2Bcrm%40acme.com" in router.calls[0].url.query
    assert "'ana+crm@acme.com'" in soql_of(router.calls[0])


async def test_rest_goes_to_the_configured_url_when_the_grant_has_no_instance() -> None:
    router = Router()
    router.add("GET", LOGIN, f"{API}/query", json=fixture("empty_query.json"))
    bare = Grant(id="g", provider=Provider.SALESFORCE, role=GrantRole.CRM, account="a")

    assert await make(router).user(bare, ACCESS, "a@acme.com") is None


# ---------------------------------------------------------------- usage (S3 and Sforce-Limit-Info)


async def test_usage_reads_daily_api_requests_app_quotas_and_bursts() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/limits", json=fixture("limits.json"), headers=LIMIT_HEADER)

    usage = await make(router).usage(GRANT, ACCESS)

    assert usage == (
        QuotaUsage("DailyApiRequests", used=1288, limit=100000),
        QuotaUsage("DailyApiRequests (CRM Sync Bot)", used=3800, limit=5000),
        QuotaUsage("api-bursts", used=1, limit=750, window=UsageWindow.BURST),
    )
    assert all(u.resets_at is None for u in usage)  # a rolling 24 h window has no reset instant


async def test_without_view_setup_permission_usage_comes_from_the_header() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/limits", status=403, json=fixture("insufficient_access.json"),
               headers={"Sforce-Limit-Info": "api-usage=10018/100000"})

    usage = await make(router).usage(GRANT, ACCESS)

    assert usage == (QuotaUsage("DailyApiRequests", used=10018, limit=100000),)


async def test_forbidden_limits_without_a_header_is_permission_denied() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/limits", status=403, json=fixture("insufficient_access.json"))

    with pytest.raises(PermissionDenied) as caught:
        await make(router).usage(GRANT, ACCESS)

    assert caught.value.code == "INSUFFICIENT_ACCESS"


async def test_limits_without_daily_api_requests_is_a_bad_response() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/limits", json={"DataStorageMB": {"Max": 1, "Remaining": 1}})

    with pytest.raises(BadResponse):
        await make(router).usage(GRANT, ACCESS)


@pytest.mark.parametrize(("header", "expected"), [
    ("api-usage=10018/100000", (QuotaUsage("DailyApiRequests", 10018, 100000),)),
    ("api-usage=10018/100000; api-bursts=1/750",
     (QuotaUsage("DailyApiRequests", 10018, 100000), QuotaUsage("api-bursts", 1, 750, UsageWindow.BURST))),
    ("api-usage=110018/100000", (QuotaUsage("DailyApiRequests", 110018, 100000),)),  # over the allocation
    ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)",
     (QuotaUsage("DailyApiRequests", 25, 5000),
      QuotaUsage("DailyApiRequests (sample-connected-app)", 17, 250))),
    ("api-usage=abc/100000", ()),
    ("", ()),
    (None, ()),
])
def test_the_limit_info_header_is_parsed_with_and_without_bursts(
    header: str | None, expected: tuple[QuotaUsage, ...],
) -> None:
    assert limit_info(header) == expected


# ---------------------------------------------------------------- Einstein Activity Capture (S5)


async def test_an_eac_connection_that_needs_attention_is_failing_with_a_reconnect_link() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("eac_needs_attention.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None
    assert (status.incoming, status.outgoing, status.appointments) == (SyncState.FAILING,) * 3
    assert status.last_error == ("Reconnect your email account. Your email connection stopped working. "
                                 "Reconnect it in Settings.")
    assert status.reconnect_url == "https://acme.my.salesforce.com/lightning/settings/personal/PersonalInformation/home"
    assert status.keeper_label == "Einstein Activity Capture"
    assert "FROM ActivityUsrConnectionStatus WHERE UserId = '0055g00000AbCdEAAV'" in soql_of(router.calls[0])


async def test_an_active_eac_connection_is_ok_with_no_error() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("eac_active.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.incoming is SyncState.OK and status.last_error == ""


@pytest.mark.parametrize(("connectivity", "state", "path"), [
    ("NEEDSATTENTIONGLOBAL", SyncState.FAILING, "/lightning/setup/ActivitySyncEngineSettingsMain/home"),
    ("NEEDSATTENTIONHYBRID", SyncState.FAILING, "/lightning/setup/ActivitySyncEngineSettingsMain/home"),
    ("DISABLED", SyncState.DISABLED, "/lightning/settings/personal/PersonalInformation/home"),
    ("INITIALIZING", SyncState.PENDING, "/lightning/settings/personal/PersonalInformation/home"),
    ("PROCESSING", SyncState.PENDING, "/lightning/settings/personal/PersonalInformation/home"),
    ("SOMETHINGNEW", SyncState.PENDING, "/lightning/settings/personal/PersonalInformation/home"),
])
async def test_each_connectivity_status_maps_to_a_sync_state(
    connectivity: str, state: SyncState, path: str,
) -> None:
    body = fixture("eac_needs_attention.json")
    body["records"][0]["ConnectivityStatus"] = connectivity
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=body)

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.incoming is state
    assert status.reconnect_url == f"https://{INSTANCE}{path}"


async def test_declined_eac_terms_are_named_in_the_error() -> None:
    body = fixture("eac_needs_attention.json")
    body["records"][0] |= {"ConnectivityStatus": "PENDING", "GlobalOauthTermsState": "DECLINED",
                           "RecommendedActionTitle": None, "RecommendedActionDescription": None}
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=body)

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.incoming is SyncState.PENDING
    assert status.last_error == "Einstein Activity Capture terms of service: declined."


async def test_eac_not_enabled_in_the_org_is_no_status() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", status=400, json=fixture("eac_not_enabled.json"))

    assert await make(router).mail_sync_status(GRANT, ACCESS, ANA) is None


async def test_a_user_outside_every_eac_configuration_is_not_configured() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.incoming is SyncState.NOT_CONFIGURED
    assert "not assigned to an Einstein Activity Capture configuration" in status.last_error


async def test_other_query_errors_on_eac_are_not_swallowed() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", status=400, json=fixture("malformed_query.json"))

    with pytest.raises(ProviderError) as caught:
        await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert caught.value.code == "MALFORMED_QUERY"


# ---------------------------------------------------------------- REST errors (always a JSON array)


@pytest.mark.parametrize(("status", "fixture_name", "error", "code"), [
    (401, "invalid_session.json", AuthError, "INVALID_SESSION_ID"),
    (403, "request_limit_exceeded.json", RateLimited, "REQUEST_LIMIT_EXCEEDED"),
    (403, "api_disabled.json", PermissionDenied, "API_DISABLED_FOR_ORG"),
    (400, "malformed_query.json", ProviderError, "MALFORMED_QUERY"),
    (503, "server_unavailable.json", Unavailable, "SERVER_UNAVAILABLE"),
])
async def test_each_documented_rest_error_becomes_its_provider_error(
    status: int, fixture_name: str, error: type[ProviderError], code: str,
) -> None:
    router = Router()
    router.add("POST", INSTANCE, f"{API}/sobjects/Task", status=status, json=fixture(fixture_name))

    with pytest.raises(error) as caught:
        await make(router).create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")

    assert type(caught.value) is error
    assert (caught.value.provider, caught.value.status, caught.value.code) == ("salesforce", status, code)
    assert ACCESS not in str(caught.value) and ACCESS not in repr(caught.value)


async def test_a_proxy_page_instead_of_json_is_a_bad_response() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", text="<html><body>Access denied by proxy</body></html>",
               headers={"Content-Type": "text/html"})

    with pytest.raises(BadResponse) as caught:
        await make(router).find_contact(GRANT, ACCESS, "bob@client.example")

    assert caught.value.code == "html"


async def test_a_query_whose_records_are_not_a_list_is_a_bad_response() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json={"totalSize": 1, "done": True, "records": {"Id": "x"}})

    with pytest.raises(BadResponse):
        await make(router).find_contact(GRANT, ACCESS, "bob@client.example")


# ---------------------------------------------------------------- contacts and Task writes


async def test_a_contact_is_found_by_email() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("contact_query.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "bob@client.example") == "0035g00000XyZaBAAV"
    assert soql_of(router.calls[0]) == "SELECT Id FROM Contact WHERE Email = 'bob@client.example' LIMIT 1"


async def test_a_lead_is_found_when_no_contact_has_the_email() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))  # the Contact query
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("lead_query.json"))  # then the Lead query

    assert await make(router).find_contact(GRANT, ACCESS, "lead@client.example") == "00Q5g00000LmNoPEAV"
    queries = [soql_of(r) for r in router.calls]
    assert [q.split(" WHERE")[0] for q in queries] == ["SELECT Id FROM Contact", "SELECT Id FROM Lead"]
    assert queries[1].endswith("WHERE Email = 'lead@client.example' AND IsConverted = false LIMIT 1")


async def test_nobody_with_the_email_is_no_contact() -> None:
    router = Router()
    router.add("GET", INSTANCE, f"{API}/query", json=fixture("empty_query.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "nobody@client.example") is None


async def test_a_test_task_is_created_for_the_user_and_deleted() -> None:
    router = Router()
    router.add("POST", INSTANCE, f"{API}/sobjects/Task", status=201, json=fixture("task_created.json"))
    router.add("DELETE", INSTANCE, f"{API}/sobjects/Task/00T5g00000QrStUEAV", status=204)
    client = make(router)

    task_id = await client.create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")
    await client.delete_activity(GRANT, ACCESS, task_id)

    assert task_id == "00T5g00000QrStUEAV"
    created = json.loads(router.calls[0].content)
    assert created["Subject"] == "chatops sync test"
    assert created["OwnerId"] == "0055g00000AbCdEAAV"
    assert "Status" not in created  # the org's picklist default, not a guessed value


async def test_deleting_a_missing_task_is_a_provider_error() -> None:
    router = Router()
    router.add("DELETE", INSTANCE, f"{API}/sobjects/Task/00T5g00000QrStUEAV", status=404,
               json=[{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])

    with pytest.raises(ProviderError) as caught:
        await make(router).delete_activity(GRANT, ACCESS, "00T5g00000QrStUEAV")

    assert (caught.value.status, caught.value.code) == (404, "NOT_FOUND")


async def test_an_activity_id_that_is_not_a_salesforce_id_is_refused_before_any_call() -> None:
    with pytest.raises(BadResponse):
        await make(Router()).delete_activity(GRANT, ACCESS, "../../sobjects/User/005")


# ---------------------------------------------------------------- endpoints


def test_endpoints_are_the_login_host_and_known_instances_with_digicert() -> None:
    found = endpoints(settings(), instance_urls=["https://acme.my.salesforce.com", "https://login.salesforce.com"])

    assert [(e.host, e.port, e.kind) for e in found] == [
        ("login.salesforce.com", 443, ProbeKind.HTTPS), ("acme.my.salesforce.com", 443, ProbeKind.HTTPS),
    ]
    assert all(e.expected_issuers == ("DigiCert",) and e.provider is Provider.SALESFORCE for e in found)


def test_a_simulator_url_is_probed_over_plain_http_on_its_port() -> None:
    [endpoint] = endpoints(settings(salesforce_url="http://127.0.0.1:8765"))

    assert (endpoint.host, endpoint.port, endpoint.kind, endpoint.expected_issuers) == (
        "127.0.0.1", 8765, ProbeKind.HTTP, ())


def test_a_token_set_never_shows_its_token() -> None:
    tokens = TokenSet(access_token=ACCESS, expires_at=None, scopes=frozenset({"api"}), refresh_token=REFRESH)
    assert ACCESS not in repr(tokens) and REFRESH not in repr(tokens)
