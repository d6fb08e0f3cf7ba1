"""HubSpotClient against documented wire shapes: refresh + token metadata, owners, usage headers, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.providers.hubspot import HubSpotClient, endpoints, rate_limit_usage
from adapters.providers.settings import ProviderSettings
from chatops.errors import AuthError, BadResponse, PermissionDenied, ProviderError, RateLimited
from chatops.model import Grant, GrantRole, Provider, Secret
from chatops.ports import CrmUser, ProbeKind, QuotaUsage, UsageWindow
from tests.fakes.clock import FakeClock
from tests.fakes.http import Router

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "hubspot"
HOST = "api.hubapi.com"
ACCESS = "CJSP5qf1KhICAQEYs-FAKE-ACCESS-TOKEN-in-use"
ISSUED = "CJSP5qf1KhICAQEYs-FAKE-ACCESS-TOKEN-hubspot01"  # the access token in token.json
REFRESH = "de3a1b2c-0000-4000-8000-FAKErefresh00"
GRANT = Grant(
    id="g-hs", provider=Provider.HUBSPOT, role=GrantRole.CRM, account="ana@acme.com",
    scopes=frozenset({"oauth"}), access_token=Secret(ACCESS), refresh_token=Secret(REFRESH),
)
ANA = CrmUser(id="41629779", email="ana@acme.com", name="Ana Ruiz")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OAUTH_HEADERS = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "110",
                 "X-HubSpot-RateLimit-Remaining": "109"}
KEY_HEADERS = OAUTH_HEADERS | {
    "X-HubSpot-RateLimit-Daily": "500000", "X-HubSpot-RateLimit-Daily-Remaining": "499000",
    "X-HubSpot-RateLimit-Secondly": "11", "X-HubSpot-RateLimit-Secondly-Remaining": "10",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {"hubspot_client_id": "5f2e7a3c-client",
                              "hubspot_client_secret": SecretStr("s3cret")}
    return ProviderSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def make(router: Router) -> HubSpotClient:
    return HubSpotClient(router.client(), settings(), FakeClock(NOW))


def with_token_routes(router: Router, token_body: dict[str, Any], token: str = ISSUED) -> Router:
    router.add("POST", HOST, "/oauth/v1/token", json=token_body)
    router.add("GET", HOST, f"/oauth/v1/access-tokens/{token}", json=fixture("access_token_metadata.json"))
    return router


# ---------------------------------------------------------------- refresh (H1) and token metadata (H2)


async def test_refresh_learns_scopes_and_user_from_the_token_metadata() -> None:
    router = with_token_routes(Router(), fixture("token.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.access_token == ISSUED
    assert tokens.scopes == {"oauth", "crm.objects.contacts.read", "crm.objects.owners.read"}
    assert tokens.account == "ana@acme.com"
    assert tokens.expires_at == NOW + timedelta(seconds=1800)
    assert tokens.refresh_token == "de3a1b2c-0000-4000-8000-FAKErefresh01"  # a new one: store it
    form = httpx.QueryParams(router.calls[0].content.decode())
    assert (form["grant_type"], form["refresh_token"]) == ("refresh_token", REFRESH)
    assert "Authorization" not in router.calls[1].headers  # H2 needs none: the token is in the path


async def test_an_unchanged_refresh_token_is_not_reported_as_rotated() -> None:
    router = with_token_routes(Router(), fixture("token.json") | {"refresh_token": REFRESH})

    tokens = await make(router).refresh(GRANT)

    assert tokens.refresh_token is None


async def test_scopes_listed_in_the_token_answer_need_no_metadata_call() -> None:
    router = Router()  # no access-tokens route: a metadata call would fail the test
    router.add("POST", HOST, "/oauth/v1/token", json=fixture("token_with_scopes.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.scopes == {"oauth", "crm.objects.contacts.read", "crm.objects.owners.read"}
    assert tokens.expires_at == NOW + timedelta(seconds=1800)


async def test_the_camel_case_token_answer_is_accepted() -> None:
    router = Router()
    router.add("POST", HOST, "/oauth/v1/token", json=fixture("token_camel_case.json"))

    tokens = await make(router).refresh(GRANT)

    assert tokens.access_token == "CJSP5qf1KhICAQEYs-FAKE-ACCESS-TOKEN-hubspot02"
    assert tokens.expires_at == NOW + timedelta(seconds=1800)
    assert "crm.objects.owners.read" in tokens.scopes


@pytest.mark.parametrize(("fixture_name", "code"), [
    ("bad_refresh_token.json", "BAD_REFRESH_TOKEN"),
    ("bad_refresh_token_rfc.json", "invalid_grant"),
])
async def test_a_bad_refresh_token_is_an_auth_error(fixture_name: str, code: str) -> None:
    router = Router()
    router.add("POST", HOST, "/oauth/v1/token", status=400, json=fixture(fixture_name))

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(GRANT)

    assert (caught.value.status, caught.value.code) == (400, code)
    assert REFRESH not in str(caught.value)


async def test_token_metadata_errors_never_carry_the_token_from_the_path() -> None:
    router = Router()
    router.add("POST", HOST, "/oauth/v1/token", json=fixture("token.json"))
    router.add("GET", HOST, f"/oauth/v1/access-tokens/{ISSUED}", status=404, json={
        "status": "error", "message": f"Token {ISSUED} not found", "category": "OBJECT_NOT_FOUND",
        "correlationId": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    })

    with pytest.raises(ProviderError) as caught:
        await make(router).refresh(GRANT)

    assert caught.value.status == 404
    assert all(ISSUED not in text for text in (str(caught.value), repr(caught.value), caught.value.detail))
    assert "[token]" in caught.value.detail


async def test_token_metadata_without_a_scope_list_is_a_bad_response() -> None:
    router = Router()
    router.add("POST", HOST, "/oauth/v1/token", json=fixture("token.json"))
    router.add("GET", HOST, f"/oauth/v1/access-tokens/{ISSUED}",
               json={"user": "ana@acme.com", "scopes": "oauth"})

    with pytest.raises(BadResponse):
        await make(router).refresh(GRANT)


def test_required_scopes_are_least_privilege() -> None:
    assert make(Router()).required_scopes(GrantRole.CRM) == {
        "oauth", "crm.objects.owners.read", "crm.objects.contacts.read"}


# ---------------------------------------------------------------- owners (H4)


async def test_the_owner_id_string_is_the_user_id_not_the_numeric_user_id() -> None:
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", json=fixture("owners.json"), headers=OAUTH_HEADERS)

    user = await make(router).user(GRANT, ACCESS, "Ana@Acme.com")

    assert user == CrmUser(id="41629779", email="ana@acme.com", name="Ana Ruiz", active=True)
    assert isinstance(user.id, str) and user.id != "9586504"
    params = router.calls[0].url.params
    assert (params["email"], params["archived"]) == ("Ana@Acme.com", "false")
    assert router.calls[0].headers["Authorization"] == f"Bearer {ACCESS}"


async def test_a_deactivated_owner_is_found_among_archived_owners_as_inactive() -> None:
    router = Router()
    owners = "/crm/v3/owners"
    router.add("GET", HOST, owners, query={"archived": "false"}, json=fixture("owners_empty.json"))
    router.add("GET", HOST, owners, query={"archived": "true"}, json=fixture("owners_archived.json"))

    user = await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert user is not None and (user.id, user.active) == ("41629779", False)
    assert [r.url.params["archived"] for r in router.calls] == ["false", "true"]


async def test_an_unknown_email_is_no_owner() -> None:
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", json=fixture("owners_empty.json"))

    assert await make(router).user(GRANT, ACCESS, "nobody@acme.com") is None


async def test_a_queue_with_the_email_is_not_a_user() -> None:
    body = fixture("owners.json")
    body["results"][0]["type"] = "QUEUE"
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", json=body)

    assert await make(router).user(GRANT, ACCESS, "ana@acme.com") is None


async def test_an_email_with_a_quote_and_plus_is_sent_as_an_encoded_parameter() -> None:
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", json=fixture("owners_empty.json"))

    await make(router).user(GRANT, ACCESS, "o'brien+crm@acme.com")

    assert router.calls[0].url.params["email"] == "o'brien+crm@acme.com"
    assert b"o%27brien%2Bcrm%40acme.com" in router.calls[0].url.query


# ---------------------------------------------------------------- usage (headers and H5)


async def test_usage_reads_daily_usage_and_the_rate_headers() -> None:
    router = Router()
    router.add("GET", HOST, "/account-info/v3/api-usage/daily/private-apps",
               json=fixture("daily_usage.json"), headers=KEY_HEADERS)

    usage = await make(router).usage(GRANT, ACCESS)

    reset = usage[0].resets_at
    assert usage[0] == QuotaUsage("private-apps-api-calls-daily", used=1, limit=500000, resets_at=reset)
    # the documented resetsAt is in the past (the last reset): the next one is the same time of day, ahead
    assert reset is not None and reset > NOW and reset - NOW <= timedelta(days=1) and reset.hour == 4
    assert usage[1:] == (
        QuotaUsage("X-HubSpot-RateLimit-Daily", used=1000, limit=500000, window=UsageWindow.DAILY),
        QuotaUsage("X-HubSpot-RateLimit-Secondly", used=1, limit=11, window=UsageWindow.SECONDLY),
        QuotaUsage("X-HubSpot-RateLimit-Max", used=1, limit=110, window=UsageWindow.SECONDLY),
    )


async def test_an_oauth_app_without_daily_usage_gets_the_interval_headers_only() -> None:
    router = Router()
    router.add("GET", HOST, "/account-info/v3/api-usage/daily/private-apps", status=403,
               json=fixture("missing_scopes.json"))
    router.add("GET", HOST, "/crm/v3/owners", json=fixture("owners.json"), headers=OAUTH_HEADERS)

    usage = await make(router).usage(GRANT, ACCESS)

    assert usage == (QuotaUsage("X-HubSpot-RateLimit-Max", used=1, limit=110, window=UsageWindow.SECONDLY),)
    assert router.calls[1].url.params["limit"] == "1"


async def test_usage_does_not_hide_an_expired_token() -> None:
    router = Router()
    router.add("GET", HOST, "/account-info/v3/api-usage/daily/private-apps", status=401,
               json=fixture("expired_authentication.json"))

    with pytest.raises(AuthError) as caught:
        await make(router).usage(GRANT, ACCESS)

    assert caught.value.code == "EXPIRED_AUTHENTICATION"


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, ()),
    ({"x-hubspot-ratelimit-daily": "250000", "x-hubspot-ratelimit-daily-remaining": "0"},
     (QuotaUsage("X-HubSpot-RateLimit-Daily", 250000, 250000, UsageWindow.DAILY),)),
    ({"X-HubSpot-RateLimit-Daily": "250000"}, ()),  # a pair without its remaining half
    ({"X-HubSpot-RateLimit-Max": "n/a", "X-HubSpot-RateLimit-Remaining": "3"}, ()),
])
def test_rate_headers_are_parsed_in_pairs(headers: dict[str, str], expected: tuple[QuotaUsage, ...]) -> None:
    assert rate_limit_usage(httpx.Headers(headers)) == expected


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(("fixture_name", "policy"), [
    ("rate_limited_ten_secondly.json", "TEN_SECONDLY_ROLLING"),
    ("rate_limited_secondly.json", "SECONDLY"),
    ("rate_limited_daily.json", "DAILY"),
])
async def test_a_429_is_rate_limited_with_its_policy_in_the_detail(fixture_name: str, policy: str) -> None:
    router = Router()
    router.add("POST", HOST, "/crm/v3/objects/contacts/search", status=429, json=fixture(fixture_name),
               headers={"Retry-After": "10"})

    with pytest.raises(RateLimited) as caught:
        await make(router).find_contact(GRANT, ACCESS, "bob@client.example")

    assert (caught.value.status, caught.value.code) == (429, "RATE_LIMIT")
    assert f"(policy {policy})" in caught.value.detail
    assert caught.value.retry_after == timedelta(seconds=10)
    assert ACCESS not in str(caught.value)


@pytest.mark.parametrize(("fixture_name", "needed"), [
    ("missing_scopes.json", "crm.objects.owners.read"),
    ("missing_scopes_legacy.json", "crm.objects.contacts.write"),
])
async def test_missing_scopes_is_permission_denied_naming_the_scope(fixture_name: str, needed: str) -> None:
    router = Router()
    router.add("POST", HOST, "/crm/v3/objects/tasks", status=403, json=fixture(fixture_name))

    with pytest.raises(PermissionDenied) as caught:
        await make(router).create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")

    assert (caught.value.status, caught.value.code) == (403, "MISSING_SCOPES")
    assert f"(needs {needed})" in caught.value.detail


async def test_an_expired_access_token_is_an_auth_error() -> None:
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", status=401, json=fixture("expired_authentication.json"))

    with pytest.raises(AuthError) as caught:
        await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert (caught.value.status, caught.value.code) == (401, "EXPIRED_AUTHENTICATION")
    assert ACCESS not in str(caught.value) and ACCESS not in repr(caught.value)


async def test_a_truncated_body_is_a_bad_response() -> None:
    router = Router()
    router.add("GET", HOST, "/crm/v3/owners", text='{"results": [{"id": "41629')

    with pytest.raises(BadResponse) as caught:
        await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert caught.value.code == "invalid_json"


# ---------------------------------------------------------------- contacts, tasks, mail sync


async def test_a_contact_is_found_by_primary_or_additional_email() -> None:
    router = Router()
    router.add("POST", HOST, "/crm/v3/objects/contacts/search", json=fixture("contacts_search.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "o'brien@client.example") == "512"
    body = json.loads(router.calls[0].content)
    values = [f["value"] for g in body["filterGroups"] for f in g["filters"]]
    assert values == ["o'brien@client.example"] * 2  # a JSON value: nothing to escape
    assert [f["propertyName"] for g in body["filterGroups"] for f in g["filters"]] == [
        "email", "hs_additional_emails"]


async def test_no_matching_contact_is_none() -> None:
    router = Router()
    router.add("POST", HOST, "/crm/v3/objects/contacts/search", json=fixture("contacts_search_empty.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "nobody@client.example") is None


async def test_a_test_task_is_created_for_the_owner_and_deleted() -> None:
    router = Router()
    router.add("POST", HOST, "/crm/v3/objects/tasks", status=201, json=fixture("task_created.json"))
    router.add("DELETE", HOST, "/crm/v3/objects/tasks/94851036", status=204)
    client = make(router)

    task_id = await client.create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")
    await client.delete_activity(GRANT, ACCESS, task_id)

    assert task_id == "94851036"
    properties = json.loads(router.calls[0].content)["properties"]
    assert properties["hubspot_owner_id"] == "41629779"
    assert properties["hs_task_subject"] == "chatops sync test"
    assert properties["hs_timestamp"] == "2026-11-30T09:00:00.000+00:00"


async def test_deleting_a_missing_task_is_a_provider_error() -> None:
    router = Router()
    router.add("DELETE", HOST, "/crm/v3/objects/tasks/94851036", status=404,
               json=fixture("object_not_found.json"))

    with pytest.raises(ProviderError) as caught:
        await make(router).delete_activity(GRANT, ACCESS, "94851036")

    assert (caught.value.status, caught.value.code) == (404, "OBJECT_NOT_FOUND")


async def test_an_activity_id_that_is_not_numeric_is_refused_before_any_call() -> None:
    with pytest.raises(BadResponse):
        await make(Router()).delete_activity(GRANT, ACCESS, "1/../../owners")


async def test_hubspot_keeps_no_mail_sync_state_we_can_read() -> None:
    assert await make(Router()).mail_sync_status(GRANT, ACCESS, ANA) is None


# ---------------------------------------------------------------- endpoints


def test_the_endpoint_is_the_api_host() -> None:
    [endpoint] = endpoints(settings())

    assert (endpoint.host, endpoint.port, endpoint.kind, endpoint.provider) == (
        "api.hubapi.com", 443, ProbeKind.HTTPS, Provider.HUBSPOT)


def test_a_simulator_url_is_probed_over_plain_http_on_its_port() -> None:
    [endpoint] = endpoints(settings(hubspot_url="http://127.0.0.1:8766"))

    assert (endpoint.host, endpoint.port, endpoint.kind) == ("127.0.0.1", 8766, ProbeKind.HTTP)
