"""DynamicsClient against documented wire shapes: token, systemusers, mailboxes, alerts, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.providers.dynamics import (
    DynamicsClient,
    endpoints,
    odata_literal,
    rate_limit_usage,
    short_scopes,
)
from adapters.providers.settings import ProviderSettings
from chatops.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    PermissionDenied,
    ProviderError,
    RateLimited,
    Unavailable,
)
from chatops.model import Grant, GrantRole, Provider, Secret
from chatops.ports import CrmUser, ProbeKind, QuotaUsage, SyncState, UsageWindow
from tests.fakes.clock import FakeClock
from tests.fakes.http import Router

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "dynamics"
ORG_HOST = "acme.crm.dynamics.com"
ORG = f"https://{ORG_HOST}"
LOGIN = "login.microsoftonline.com"
API = "/api/data/v9.2"
ACCESS = "eyJ0eXAiOiJKV1QiLCJub25jZSI6FAKE-in-use"
REFRESH = "1.AQEA-FAKE-stored-refresh-token"
USER_ID = "7c2b0f7d-2f0e-ec11-b6e6-000d3a5c1a2b"
MAILBOX_ID = "9d4e1a2b-2f0e-ec11-b6e6-000d3a5c1a2b"
GRANT = Grant(
    id="g-dyn", provider=Provider.DYNAMICS, role=GrantRole.CRM, account="ana@acme.com",
    access_token=Secret(ACCESS), refresh_token=Secret(REFRESH), instance_url=ORG,
)
ANA = CrmUser(id=USER_ID, email="ana@acme.com", username="ana@acme.onmicrosoft.com", name="Ana Ruiz")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def settings(**overrides: Any) -> ProviderSettings:
    values: dict[str, Any] = {"dynamics_client_id": "00001111-aaaa-2222-bbbb-3333cccc4444",
                              "dynamics_client_secret": SecretStr("s3cret"), "microsoft_tenant": "acme.com"}
    return ProviderSettings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


def make(router: Router, **overrides: Any) -> DynamicsClient:
    return DynamicsClient(router.client(), settings(**overrides), FakeClock(NOW))


# ---------------------------------------------------------------- token (D1)


async def test_refresh_asks_for_the_org_scope_and_reports_short_scope_names() -> None:
    router = Router()
    router.add("POST", LOGIN, "/acme.com/oauth2/v2.0/token", json=fixture("token.json"))

    tokens = await make(router).refresh(GRANT)

    form = httpx.QueryParams(router.calls[0].content.decode())
    assert form["scope"] == f"{ORG}/user_impersonation offline_access"
    assert form["refresh_token"] == REFRESH
    assert tokens.scopes == {"user_impersonation"}
    assert tokens.instance_url == ORG
    assert tokens.expires_at == NOW + timedelta(seconds=4467)
    assert tokens.refresh_token == "1.AQEA-FAKE-rotated-refresh-token"
    assert make(Router()).required_scopes(GrantRole.CRM) <= tokens.scopes


@pytest.mark.parametrize(("fixture_name", "code"), [
    ("token_aadsts700082.json", "AADSTS700082"),
    ("token_aadsts500011.json", "AADSTS500011"),  # the org URL is not a resource in this tenant
])
async def test_identity_platform_errors_are_auth_errors_with_the_aadsts_code(
    fixture_name: str, code: str,
) -> None:
    router = Router()
    router.add("POST", LOGIN, "/acme.com/oauth2/v2.0/token", status=400, json=fixture(fixture_name))

    with pytest.raises(AuthError) as caught:
        await make(router).refresh(GRANT)

    assert caught.value.code == code
    assert "Trace ID" not in caught.value.detail
    assert REFRESH not in str(caught.value) and REFRESH not in repr(caught.value)


async def test_without_any_org_url_refresh_is_a_configuration_error() -> None:
    bare = Grant(id="g", provider=Provider.DYNAMICS, role=GrantRole.CRM, account="a",
                 refresh_token=Secret(REFRESH))

    with pytest.raises(ConfigError):
        await make(Router()).refresh(bare)


async def test_the_configured_org_is_used_when_the_grant_names_none() -> None:
    router = Router()
    router.add("GET", "contoso.crm4.dynamics.com", f"{API}/WhoAmI", json=fixture("whoami.json"))
    bare = Grant(id="g", provider=Provider.DYNAMICS, role=GrantRole.CRM, account="a")

    client = make(router, dynamics_url="https://contoso.crm4.dynamics.com")

    assert await client.usage(bare, ACCESS) == ()


@pytest.mark.parametrize(("scopes", "expected"), [
    ({f"{ORG}/user_impersonation"}, {"user_impersonation"}),
    ({f"{ORG}//user_impersonation"}, {"user_impersonation"}),  # a resource URI ending in "/"
    ({"https://other.crm.dynamics.com/user_impersonation"}, {"https://other.crm.dynamics.com/user_impersonation"}),
    ({"offline_access"}, {"offline_access"}),
])
def test_org_scopes_are_shortened_and_others_kept(scopes: set[str], expected: set[str]) -> None:
    assert short_scopes(scopes, ORG) == expected


# ---------------------------------------------------------------- systemusers (D3)


async def test_user_by_primary_email_with_windows_time_zone() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/systemusers", json=fixture("systemusers.json"))
    router.add("GET", ORG_HOST, f"{API}/usersettingscollection({USER_ID})", json=fixture("usersettings.json"))
    router.add("GET", ORG_HOST, f"{API}/timezonedefinitions", json=fixture("timezonedefinitions.json"))

    user = await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert user == CrmUser(id=USER_ID, email="ana@acme.com", username="ana@acme.onmicrosoft.com",
                           timezone="W. Europe Standard Time", active=True, name="Ana Ruiz")
    assert router.calls[0].url.params["$filter"] == "internalemailaddress eq 'ana@acme.com'"
    assert router.calls[2].url.params["$filter"] == "timezonecode eq 110"


async def test_every_call_sends_the_odata_headers() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/WhoAmI", json=fixture("whoami.json"))

    await make(router).usage(GRANT, ACCESS)

    headers = router.calls[0].headers
    assert (headers["OData-MaxVersion"], headers["OData-Version"]) == ("4.0", "4.0")
    assert headers["Prefer"] == 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'
    assert headers["Authorization"] == f"Bearer {ACCESS}"


async def test_a_quote_in_the_email_is_doubled_in_the_odata_filter() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/systemusers", json=fixture("systemusers_empty.json"))

    assert await make(router).user(GRANT, ACCESS, "x' or isdisabled eq false or 'a'eq'a") is None

    assert router.calls[0].url.params["$filter"] == (
        "internalemailaddress eq 'x'' or isdisabled eq false or ''a''eq''a'")
    assert odata_literal("o'brien@acme.com") == "'o''brien@acme.com'"


async def test_a_plus_address_is_percent_encoded() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/systemusers", json=fixture("systemusers_empty.json"))

    await make(router).user(GRANT, ACCESS, "ana+crm@acme.com")

    assert b"ana%2Bcrm%40acme.com" in router.calls[0].url.query


async def test_an_unreadable_time_zone_leaves_the_user_without_one() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/systemusers", json=fixture("systemusers.json"))
    router.add("GET", ORG_HOST, f"{API}/usersettingscollection({USER_ID})", status=403,
               json={"error": {"code": "0x80040220",
                               "message": "Principal user is missing prvReadUserSettings privilege."}})

    user = await make(router).user(GRANT, ACCESS, "ana@acme.com")

    assert user is not None and user.timezone is None and user.id == USER_ID


async def test_a_user_id_that_is_not_a_guid_is_a_bad_response() -> None:
    body = fixture("systemusers.json")
    body["value"][0]["systemuserid"] = "7c2b0f7d) or (1 eq 1"
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/systemusers", json=body)

    with pytest.raises(BadResponse):
        await make(router).user(GRANT, ACCESS, "ana@acme.com")


# ---------------------------------------------------------------- mailboxes (D4) and alerts (D5)


async def test_a_failing_mailbox_reports_its_newest_error_alert() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=fixture("mailbox_failing.json"))
    router.add("GET", ORG_HOST, f"{API}/tracelogs", json=fixture("tracelogs.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None
    assert (status.incoming, status.outgoing, status.appointments) == (
        SyncState.FAILING, SyncState.OK, SyncState.OK)
    assert status.last_error.startswith("Email can't be received for the mailbox Ana Ruiz because")
    assert status.last_success_at == datetime(2024, 5, 17, 16, 44, 9, tzinfo=UTC)
    assert status.reconnect_url == f"{ORG}/main.aspx?pagetype=entityrecord&etn=mailbox&id={MAILBOX_ID}"
    assert status.keeper_label == "Server-side synchronization"
    assert router.calls[0].url.params["$filter"] == f"_regardingobjectid_value eq {USER_ID}"
    assert router.calls[1].url.params["$filter"] == f"_regardingobjectid_value eq {MAILBOX_ID}"
    # a recurring alert keeps its createdon and only bumps modifiedon
    assert router.calls[1].url.params["$orderby"] == "modifiedon desc"


async def test_a_healthy_mailbox_needs_no_alerts_and_unsynced_appointments_are_not_configured() -> None:
    router = Router()  # no tracelogs route: reading alerts would fail the test
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=fixture("mailbox_healthy.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None
    assert (status.incoming, status.outgoing, status.appointments) == (
        SyncState.OK, SyncState.OK, SyncState.NOT_CONFIGURED)  # actdeliverymethod 2 = None
    assert status.last_error == ""


async def test_an_unapproved_address_is_failing_and_says_so() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=fixture("mailbox_pending_approval.json"))
    router.add("GET", ORG_HOST, f"{API}/tracelogs", json={"value": []})

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None
    assert (status.incoming, status.outgoing, status.appointments) == (SyncState.FAILING,) * 3
    assert status.last_error == ("The email address ana@acme.com is not approved for server-side "
                                 "synchronization (Pending Approval).")
    assert status.last_success_at is None


async def test_without_the_label_annotation_the_approval_label_comes_from_the_option_set() -> None:
    body = fixture("mailbox_pending_approval.json")
    row = body["value"][0]
    del row["emailrouteraccessapproval@OData.Community.Display.V1.FormattedValue"]
    row["emailrouteraccessapproval"] = 3
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=body)
    router.add("GET", ORG_HOST, f"{API}/tracelogs", json={"value": []})

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.last_error.endswith("(Rejected).")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"statecode": 1}, (SyncState.DISABLED,) * 3),
    ({"enabledforincomingemail": False}, (SyncState.DISABLED, SyncState.OK, SyncState.NOT_CONFIGURED)),
    ({"incomingemaildeliverymethod": 1, "outgoingemaildeliverymethod": 0},  # Outlook / none
     (SyncState.NOT_CONFIGURED, SyncState.NOT_CONFIGURED, SyncState.NOT_CONFIGURED)),
    ({"incomingemailstatus": 0}, (SyncState.PENDING, SyncState.OK, SyncState.NOT_CONFIGURED)),
])
async def test_option_set_values_map_to_sync_states(
    changes: dict[str, Any], expected: tuple[SyncState, ...],
) -> None:
    body = fixture("mailbox_healthy.json")
    body["value"][0].update(changes)
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=body)

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and (status.incoming, status.outgoing, status.appointments) == expected


async def test_unreadable_alerts_still_give_the_mailbox_state() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=fixture("mailbox_failing.json"))
    router.add("GET", ORG_HOST, f"{API}/tracelogs", status=403, json=fixture("not_org_member.json"))

    status = await make(router).mail_sync_status(GRANT, ACCESS, ANA)

    assert status is not None and status.incoming is SyncState.FAILING and status.last_error == ""


async def test_a_user_without_a_mailbox_has_no_status() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/mailboxes", json=fixture("mailboxes_empty.json"))

    assert await make(router).mail_sync_status(GRANT, ACCESS, ANA) is None


# ---------------------------------------------------------------- usage and errors


async def test_usage_reads_the_budget_headers_with_their_thousands_separator() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/WhoAmI", json=fixture("whoami.json"), headers={
        "x-ms-ratelimit-burst-remaining-xrm-requests": "5999",
        "x-ms-ratelimit-time-remaining-xrm-requests": "1,187.50",
    })

    usage = await make(router).usage(GRANT, ACCESS)

    assert usage == (
        QuotaUsage("x-ms-ratelimit-burst-remaining-xrm-requests", 1, 6000, UsageWindow.BURST),
        QuotaUsage("x-ms-ratelimit-time-remaining-xrm-requests", 12, 1200, UsageWindow.BURST),  # seconds
    )


def test_budget_headers_absent_or_garbled_give_no_usage() -> None:
    assert rate_limit_usage(httpx.Headers({})) == ()
    assert rate_limit_usage({"x-ms-ratelimit-burst-remaining-xrm-requests": "lots"}) == ()
    # a larger budget than documented is not reported as negative use
    assert rate_limit_usage({"x-ms-ratelimit-burst-remaining-xrm-requests": "7999"}) == (
        QuotaUsage("x-ms-ratelimit-burst-remaining-xrm-requests", 0, 7999, UsageWindow.BURST),)


@pytest.mark.parametrize(("status", "body", "error", "code"), [
    (429, fixture("throttled_requests.json"), RateLimited, "0x80072322"),
    (429, fixture("throttled_concurrency.json"), RateLimited, "0x80072326"),
    (403, fixture("not_org_member.json"), PermissionDenied, "0x80072560"),
    (404, fixture("record_not_found.json"), ProviderError, "0x80040217"),
])
async def test_each_documented_dataverse_error_becomes_its_provider_error(
    status: int, body: dict[str, Any], error: type[ProviderError], code: str,
) -> None:
    router = Router()
    router.add("POST", ORG_HOST, f"{API}/tasks", status=status, json=body, headers={"Retry-After": "37"})

    with pytest.raises(error) as caught:
        await make(router).create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")

    assert type(caught.value) is error
    assert (caught.value.provider, caught.value.status, caught.value.code) == ("dynamics", status, code)
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == timedelta(seconds=37)
    assert ACCESS not in str(caught.value) and ACCESS not in repr(caught.value)


async def test_a_401_with_an_empty_body_is_an_auth_error() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/WhoAmI", status=401, text="", headers={
        "WWW-Authenticate": f"Bearer authorization_uri=https://{LOGIN}/acme.com/oauth2/authorize, "
                            f"resource_id={ORG}/"})

    with pytest.raises(AuthError) as caught:
        await make(router).usage(GRANT, ACCESS)

    assert caught.value.status == 401


# ---------------------------------------------------------------- contacts and tasks


async def test_a_contact_is_found_by_emailaddress1() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/contacts", json=fixture("contacts.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "o'brien@client.example") == (
        "2d3e4f5a-2f0e-ec11-b6e6-000d3a5c1a2b")
    assert router.calls[0].url.params["$filter"] == "emailaddress1 eq 'o''brien@client.example'"


async def test_no_contact_is_none() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/contacts", json=fixture("contacts_empty.json"))

    assert await make(router).find_contact(GRANT, ACCESS, "nobody@client.example") is None


async def test_a_test_task_is_created_for_the_user_and_deleted() -> None:
    router = Router()
    router.add("POST", ORG_HOST, f"{API}/tasks", status=201, json=fixture("task_created.json"))
    router.add("DELETE", ORG_HOST, f"{API}/tasks(6e7f8a9b-2f0e-ec11-b6e6-000d3a5c1a2b)", status=204)
    client = make(router)

    task_id = await client.create_test_activity(GRANT, ACCESS, ANA, "chatops sync test")
    await client.delete_activity(GRANT, ACCESS, task_id)

    assert task_id == "6e7f8a9b-2f0e-ec11-b6e6-000d3a5c1a2b"
    created = json.loads(router.calls[0].content)
    assert created["subject"] == "chatops sync test"
    assert created["ownerid@odata.bind"] == f"/systemusers({USER_ID})"
    assert router.calls[0].headers["Prefer"].startswith("return=representation,")
    assert router.calls[0].url.params["$select"] == "activityid"


async def test_an_activity_id_that_is_not_a_guid_is_refused_before_any_call() -> None:
    with pytest.raises(BadResponse):
        await make(Router()).delete_activity(GRANT, ACCESS, "x)/../systemusers(")


async def test_a_timeout_is_unavailable_without_the_token() -> None:
    router = Router()
    router.add("GET", ORG_HOST, f"{API}/contacts", error=httpx.ReadTimeout)

    with pytest.raises(Unavailable) as caught:
        await make(router).find_contact(GRANT, ACCESS, "bob@client.example")

    assert caught.value.code == "timeout" and ACCESS not in str(caught.value)


# ---------------------------------------------------------------- endpoints


def test_endpoints_are_microsoft_sign_in_and_the_org() -> None:
    found = endpoints(settings(dynamics_url=ORG), org_urls=[ORG, "https://contoso.crm4.dynamics.com"])

    assert [(e.name, e.host, e.port, e.kind) for e in found] == [
        ("Microsoft sign-in", LOGIN, 443, ProbeKind.HTTPS),
        ("Dynamics 365 org", ORG_HOST, 443, ProbeKind.HTTPS),
        ("Dynamics 365 org", "contoso.crm4.dynamics.com", 443, ProbeKind.HTTPS),
    ]
    assert all(e.provider is Provider.DYNAMICS and "Microsoft" in e.expected_issuers for e in found)


def test_a_simulator_org_is_probed_over_plain_http_on_its_port() -> None:
    found = endpoints(settings(dynamics_url="http://127.0.0.1:8767", microsoft_login_url="http://127.0.0.1:8768"))

    assert [(e.port, e.kind, e.expected_issuers) for e in found] == [
        (8768, ProbeKind.HTTP, ()), (8767, ProbeKind.HTTP, ())]
