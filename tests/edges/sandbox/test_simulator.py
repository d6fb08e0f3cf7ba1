"""The provider simulator on a real 127.0.0.1 socket, driven with plain httpx: formats, faults, scenarios."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.providers.settings import ProviderSettings
from adapters.sandbox.scenario import FAULTS, Scenario, ScenarioError, builtin_scenarios, load_scenario
from adapters.sandbox.simulator import (
    EXTRA_ROUTES,
    ROUTES,
    SETTINGS_URLS,
    RunningSimulator,
    build_simulator,
    start_simulator,
)
from chatops.findings import Cause
from tests.edges.sandbox.fault_scenario import DOMAIN, GMAIL_READONLY, email, fault_scenario
from tests.fakes.clock import FakeClock
from tests.shared import PROVIDER_APIS

TLS = httpx.create_ssl_context()

GRAPH = "https://graph.microsoft.com/"


class Wire:
    """Plain HTTP calls against a running simulator, the way each provider's client makes them."""

    def __init__(self, sim: RunningSimulator, http: httpx.AsyncClient) -> None:
        self.sim = sim
        self.http = http
        self.env = sim.settings_env()

    def client(self, provider: str) -> dict[str, str]:
        key = provider.upper()
        return {
            "client_id": self.env[f"CHATOPS_{key}_CLIENT_ID"],
            "client_secret": self.env[f"CHATOPS_{key}_CLIENT_SECRET"],
        }

    async def refresh(self, provider: str, refresh_token: str, **fields: str) -> httpx.Response:
        body = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            **self.client(provider),
            **fields,
        }
        if provider == "google":
            return await self.http.post(f"{self.env['CHATOPS_GOOGLE_OAUTH_URL']}/token", data=body)
        if provider in ("microsoft", "dynamics"):
            tenant = fields.pop("tenant", self.env["CHATOPS_MICROSOFT_TENANT"])
            body.pop("tenant", None)
            body.setdefault(
                "scope",
                f"{self.env['CHATOPS_DYNAMICS_URL']}/user_impersonation offline_access"
                if provider == "dynamics"
                else f"offline_access {GRAPH}Mail.Read {GRAPH}User.Read",
            )
            return await self.http.post(
                f"{self.env['CHATOPS_MICROSOFT_LOGIN_URL']}/{tenant}/oauth2/v2.0/token", data=body
            )
        if provider == "salesforce":
            return await self.http.post(
                f"{self.env['CHATOPS_SALESFORCE_URL']}/services/oauth2/token", data=body
            )
        return await self.http.post(f"{self.env['CHATOPS_HUBSPOT_URL']}/oauth/v1/token", data=body)

    async def token(self, provider: str, user: str) -> str:
        answer = await self.refresh(provider, f"rt-{provider}-{user}")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    async def get(self, setting: str, path: str, token: str = "", **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.get(f"{self.env[setting]}{path}", headers=headers, **kwargs)

    async def google(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.get("CHATOPS_GOOGLE_API_URL", path, token, **kwargs)

    async def graph(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.get("CHATOPS_MICROSOFT_GRAPH_URL", "/v1.0" + path, token, **kwargs)

    async def salesforce(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.get("CHATOPS_SALESFORCE_URL", path, token, **kwargs)

    async def hubspot(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.get("CHATOPS_HUBSPOT_URL", path, token, **kwargs)

    async def dataverse(self, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return await self.get("CHATOPS_DYNAMICS_URL", "/api/data/v9.2" + path, token, **kwargs)

    def stored_access_token(self, provider: str, user: str) -> str:
        for record in self.sim.connection_records():
            for grant in record["grants"]:
                if grant["provider"] == provider and grant["account"] == email(user):
                    return str(grant["access_token"])
        raise AssertionError(f"no {provider} grant for {user}")


@pytest.fixture
def wire(sim: RunningSimulator, http: httpx.AsyncClient) -> Wire:
    return Wire(sim, http)


def soql(text: str) -> dict[str, str]:
    return {"q": text}


# ================================================================================================== scenarios


def test_the_demo_loads_by_name_and_covers_every_cause() -> None:
    demo = load_scenario("demo")

    assert "demo" in builtin_scenarios()
    assert demo.organisation.name == "Acme Corp" and demo.organisation.domain == "acme.example"
    assert len(demo.connections) >= 10
    expected = [c.expect for c in demo.connections]
    broken = [c for c in demo.connections if c.expect != "ok"]
    assert {c.value for c in Cause} - {"other"} <= set(expected)
    assert expected.count("ok") >= 2
    assert len({c.note for c in broken}) == len(broken), "each broken connection has its own fault"
    assert {c.crm for c in demo.connections} == {"salesforce", "hubspot", "dynamics"}
    assert {"google", "microsoft", "imap"} <= {c.mailbox_provider for c in demo.connections}


def test_the_demo_people_are_on_acme_example_and_the_admin_is_in_the_chat() -> None:
    demo = load_scenario("demo")

    assert all(u.email.endswith("@acme.example") for u in demo.users)
    members = demo.chat_members()
    assert members[0].email == "admin@demo.example" and members[0].admin
    assert {c.owner_email for c in demo.connections} <= {m.email for m in members}


def test_the_demo_faults_are_the_documented_ones() -> None:
    demo = load_scenario("demo")
    by_id = {c.id: c for c in demo.connections}

    def faults(conn_id: str) -> set[str]:
        user = demo.user(by_id[conn_id].mailbox_email)
        assert user is not None
        return {f.name for f in user.faults}

    assert faults("conn-ana") == {"revoked"}
    ben = demo.user("ben@acme.example")
    assert ben is not None and ben.faults[0].integer("code") == 700082
    assert faults("conn-chloe") == {"missing_scopes"}
    assert demo.salesforce_org(demo.user("dev@acme.example")).used_requests == 96000  # type: ignore[arg-type]
    assert faults("conn-eva") == {"rate_limited"}
    assert by_id["conn-finn"].crm_user_email.endswith("@acme.io")
    assert [(j.interval_minutes, j.duration_minutes) for j in by_id["conn-grace"].sync_jobs] == [
        (5, 4),
        (5, 3),
    ]
    hugo = demo.user("hugo@acme.example")
    assert hugo is not None and (hugo.mailbox_timezone, hugo.crm_timezone) == (
        "Pacific Standard Time",
        "America/New_York",
    )
    assert by_id["conn-iris"].sync_account == "eac-sync@acme.example"
    assert faults("conn-jon") == {"mailbox_not_enabled"}
    assert by_id["conn-kai"].mail_host == "mail.invalid"


def test_a_scenario_loads_from_a_yaml_or_a_json_path(tmp_path: Path, scenario_file: Path) -> None:
    as_json = tmp_path / "faults.json"
    as_json.write_text(json.dumps(fault_scenario()), encoding="utf-8")

    from_yaml, from_json = load_scenario(str(scenario_file)), load_scenario(str(as_json))

    assert from_yaml.name == from_json.name == "faults"
    assert from_yaml.users == from_json.users


def _broken(tmp_path: Path, change: Any) -> str:
    data = fault_scenario()
    change(data)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(str(path))
    return str(caught.value)


def test_an_unknown_fault_names_the_file_the_user_and_the_field(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["users"][1]["faults"] = ["revokd"]

    message = _broken(tmp_path, change)

    assert message.startswith(f"{tmp_path / 'broken.yaml'}: users[1] (g-empty@{DOMAIN}).faults[0]: fault: ")
    assert "unknown fault 'revokd'" in message and "revoked" in message


def test_an_unknown_provider_names_the_connection_and_the_field(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["connections"][0]["crm"] = "zoho"

    message = _broken(tmp_path, change)

    assert "broken.yaml: connections[0] (google-g-good): crm: unknown value 'zoho'" in message
    assert "salesforce, hubspot, dynamics" in message


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["connections"][2]["grants"][0]["account"]

    message = _broken(tmp_path, change)

    assert message.endswith(
        "broken.yaml: connections[2] (google-g-revoked).grants[0]: account: required field missing"
    )


def test_a_fault_for_the_wrong_provider_is_refused(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["users"][0]["faults"] = [{"aadsts": 700082, "provider": "google"}]

    assert "provider: aadsts does not apply to google" in _broken(tmp_path, change)


def test_a_bad_fault_parameter_is_named(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["users"][0]["faults"] = [{"slow": {"delay_s": "fast"}}]

    assert f"users[0] (g-good@{DOMAIN}).faults[0] (slow): delay_s: must be a number" in _broken(
        tmp_path, change
    )


def test_an_unknown_aadsts_code_is_refused(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["users"][0]["faults"] = [{"aadsts": 12345}]

    assert "code: unknown value 12345" in _broken(tmp_path, change)


def test_a_grant_for_someone_not_in_the_scenario_is_refused(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["connections"][0]["grants"][0]["account"] = "stranger@ex.example"

    assert "grants[0]: account: stranger@ex.example is not one of the scenario's users" in _broken(
        tmp_path, change
    )


def test_an_unknown_field_is_refused(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["users"][0]["timezone"] = "UTC"

    assert f"users[0] (g-good@{DOMAIN}): timezone: unknown field" in _broken(tmp_path, change)


def test_an_unknown_scenario_name_says_what_exists() -> None:
    with pytest.raises(ScenarioError, match=r"no-such: no such scenario: not a built-in name \(demo"):
        load_scenario("no-such")


def test_every_fault_kind_is_used_by_the_test_scenario(scenario: Scenario) -> None:
    used = {f.name for u in scenario.users for f in u.faults}
    assert used == set(FAULTS)


def test_connection_records_are_bound_to_the_simulator(scenario: Scenario) -> None:
    clock = FakeClock()
    records = scenario.connection_records("http://127.0.0.1:9999/", now=clock.now())

    assert "{simulator}" not in json.dumps(records)
    by_name = {r["name"]: r for r in records}
    sf = by_name["sf-s-good"]
    assert list(sf) == [
        "id",
        "name",
        "owner_email",
        "crm",
        "crm_user_email",
        "mailbox_provider",
        "mailbox_email",
        "calendar_provider",
        "sync_account",
        "mail_host",
        "calls_per_sync",
        "sync_jobs",
        "grants",
    ]
    [grant] = sf["grants"]
    assert list(grant) == [
        "role",
        "provider",
        "account",
        "scopes",
        "refresh_token",
        "access_token",
        "expires_at",
        "instance_url",
        "keeper",
    ]
    assert grant["instance_url"] == "http://127.0.0.1:9999/salesforce"
    assert grant["expires_at"] == "2026-11-30T11:00:00Z"  # the org's 120-minute session
    expired = by_name["google-g-expired"]["grants"][0]
    assert expired["expires_at"] < "2026-11-30T09:00:00Z"
    assert GMAIL_READONLY not in by_name["google-g-scopes"]["grants"][0]["scopes"]
    assert GMAIL_READONLY in by_name["google-g-good"]["grants"][0]["scopes"]


def test_connection_records_import_with_the_connection_importer(scenario: Scenario) -> None:
    from chatops.imports import parse_connections

    records = scenario.connection_records("http://127.0.0.1:9999")
    connections = parse_connections(json.dumps({"connections": records}), "local", source="records.json")

    assert len(connections) == len(scenario.connections)
    assert connections[0].grants[0].access_token.reveal().startswith("ya29.")


# ======================================================================================== routes and settings


def _sample_path(route: Any) -> str:
    """The doc's URL path with placeholders filled, under the route's prefix."""
    url = route.doc if route.doc.startswith(("http", "{")) else route.doc_root + "/" + route.doc.lstrip("/")
    url = url.split("?", 1)[0]
    url = re.sub(r"^(https?://[^/]+|\{instance\}|\{org\})", "", url)
    return f"/{route.prefix}" + re.sub(r"\{[^}]+\}", "x1", url)


_DOC_HOSTS = {
    "google-oauth": ("https://oauth2.googleapis.com",),
    "google": ("https://gmail.googleapis.com", "https://www.googleapis.com"),
    "microsoft-login": ("https://login.microsoftonline.com",),
    "graph": ("https://graph.microsoft.com",),
    "salesforce": ("https://login.salesforce.com", "{instance}"),
    "hubspot": ("https://api.hubapi.com",),
    "dynamics": ("{org}",),
}


def test_every_route_is_a_documented_provider_endpoint(scenario: Scenario) -> None:
    doc = PROVIDER_APIS.read_text(encoding="utf-8")
    app = build_simulator(scenario)
    served = list(app.router.routes())
    assert len(served) == len(ROUTES) + len(EXTRA_ROUTES)

    for route, registered in zip(ROUTES, served[: len(ROUTES)], strict=True):
        assert route.doc in doc, f"{route.method} {route.full_path}: {route.doc!r} is not in provider-apis.md"
        for ref in route.ref.split():
            assert f"| {ref} |" in doc, f"{route.full_path}: no row {ref} in provider-apis.md"
        full = route.doc if route.doc.startswith(("http", "{")) else route.doc_root
        assert full.startswith(_DOC_HOSTS[route.prefix]), f"{route.full_path} documents another host: {full}"
        sample = _sample_path(route)
        first = next(r for r in served if r.method == route.method and _matches(r, sample))
        assert first is registered, f"{route.method} {sample} is served by {first.resource} instead"


def _matches(registered: Any, path: str) -> bool:
    info = registered.resource.get_info()
    if "pattern" in info:
        return info["pattern"].fullmatch(path) is not None
    return bool(info.get("path") == path)


def test_every_documented_endpoint_has_a_route() -> None:
    doc = PROVIDER_APIS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| ([GMSHD]\d) \|", doc, re.MULTILINE))
    served = {ref for route in ROUTES for ref in route.ref.split()}

    assert documented == served


async def test_settings_env_points_every_provider_setting_at_the_simulator(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sim.settings_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    settings = ProviderSettings(_env_file=None)  # type: ignore[call-arg]

    assert {k for k, _ in SETTINGS_URLS} <= set(env)
    assert settings.google_oauth_url == f"{sim.base_url}/google-oauth"
    assert settings.google_auth_url == f"{sim.base_url}/google-accounts"
    assert settings.google_api_url == f"{sim.base_url}/google"
    assert settings.microsoft_login_url == f"{sim.base_url}/microsoft-login"
    assert settings.microsoft_graph_url == f"{sim.base_url}/graph"
    assert settings.salesforce_url == f"{sim.base_url}/salesforce"
    assert settings.hubspot_url == f"{sim.base_url}/hubspot"
    assert settings.dynamics_url == f"{sim.base_url}/dynamics"
    assert settings.microsoft_tenant == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert (settings.google_client_id, settings.google_client_secret.get_secret_value()) == (
        "id-google",
        "secret-google",
    )
    assert settings.dynamics_client_id == "id-dynamics"


async def test_unknown_paths_answer_in_each_providers_404_envelope(wire: Wire) -> None:
    google = await wire.google("/gmail/v1/users/me/drafts", "x")
    graph = await wire.graph("/me/contacts", "x")
    salesforce = await wire.salesforce("/services/data/v62.0/sobjects", "x")
    hubspot = await wire.hubspot("/crm/v3/objects/companies/search", "x")
    dataverse = await wire.dataverse("/accounts", "x")

    assert (google.status_code, google.json()["error"]["status"]) == (404, "NOT_FOUND")
    assert graph.json()["error"]["code"] == "ResourceNotFound"
    assert salesforce.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    assert hubspot.json()["category"] == "OBJECT_NOT_FOUND"
    assert dataverse.json()["error"] == {
        "code": "0x8006088a",
        "message": "Resource not found for the segment 'accounts'.",
    }


# ===================================================================================================== Google


async def test_google_refresh_answers_a_numeric_expiry_and_keeps_the_refresh_token(wire: Wire) -> None:
    answer = await wire.refresh("google", "rt-google-g-good")

    body = answer.json()
    assert answer.status_code == 200
    assert set(body) == {"access_token", "expires_in", "scope", "token_type", "id_token"}
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["access_token"].startswith("ya29.")
    assert GMAIL_READONLY in body["scope"].split(" ")
    claims = json.loads(base64.urlsafe_b64decode(body["id_token"].split(".")[1] + "=="))
    assert claims["email"] == email("g-good") and claims["aud"] == "id-google"


async def test_google_tokeninfo_sends_numbers_and_booleans_as_strings(wire: Wire) -> None:
    token = await wire.token("google", "g-good")

    answer = await wire.get("CHATOPS_GOOGLE_OAUTH_URL", "/tokeninfo", params={"access_token": token})
    posted = await wire.http.post(
        f"{wire.env['CHATOPS_GOOGLE_OAUTH_URL']}/tokeninfo", data={"access_token": token}
    )

    body = answer.json()
    assert isinstance(body["exp"], str) and isinstance(body["expires_in"], str)
    assert body["email_verified"] == "true" and body["email"] == email("g-good")
    assert 3590 <= int(body["expires_in"]) <= 3599
    assert body["aud"] == body["azp"] == "id-google"
    assert posted.json()["scope"] == body["scope"]


async def test_google_tokeninfo_for_an_unknown_token_is_invalid_value(wire: Wire) -> None:
    answer = await wire.get("CHATOPS_GOOGLE_OAUTH_URL", "/tokeninfo", params={"access_token": "ya29.nope"})

    assert (answer.status_code, answer.json()) == (
        400,
        {"error": "invalid_token", "error_description": "Invalid Value"},
    )


async def test_a_revoked_google_grant_refreshes_to_invalid_grant_and_its_token_is_refused(wire: Wire) -> None:
    refresh = await wire.refresh("google", "rt-google-g-revoked")
    api = await wire.google("/gmail/v1/users/me/profile", wire.stored_access_token("google", "g-revoked"))

    assert refresh.status_code == 400
    assert refresh.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    assert api.status_code == 401 and api.json()["error"]["errors"][0]["reason"] == "authError"


async def test_google_refuses_an_unknown_refresh_token_and_a_wrong_client_secret(wire: Wire) -> None:
    unknown = await wire.refresh("google", "1//nobody")
    wrong_secret = await wire.refresh("google", "rt-google-g-good", client_secret="guess")
    no_grant_type = await wire.http.post(f"{wire.env['CHATOPS_GOOGLE_OAUTH_URL']}/token", data={})

    assert unknown.json() == {"error": "invalid_grant", "error_description": "Bad Request"}
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert no_grant_type.json()["error"] == "invalid_request"


async def test_google_revoke_ends_the_whole_grant(wire: Wire) -> None:
    token = await wire.token("google", "g-good")

    revoked = await wire.http.post(f"{wire.env['CHATOPS_GOOGLE_OAUTH_URL']}/revoke", data={"token": token})
    again = await wire.http.post(f"{wire.env['CHATOPS_GOOGLE_OAUTH_URL']}/revoke", data={"token": "unknown"})

    assert (revoked.status_code, revoked.text) == (200, "")
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")
    assert (await wire.refresh("google", "rt-google-g-good")).json()["error"] == "invalid_grant"
    assert (await wire.google("/gmail/v1/users/me/profile", token)).status_code == 401


async def test_an_expired_google_access_token_is_refused_until_refreshed(wire: Wire) -> None:
    stored = wire.stored_access_token("google", "g-expired")

    before = await wire.google("/gmail/v1/users/me/profile", stored)
    fresh = await wire.token("google", "g-expired")
    after = await wire.google("/gmail/v1/users/me/profile", fresh)

    assert before.status_code == 401
    assert (
        before.headers["WWW-Authenticate"]
        == 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
    )
    assert after.status_code == 200


async def test_an_unknown_google_bearer_token_gets_googles_401_body(wire: Wire) -> None:
    answer = await wire.google("/gmail/v1/users/me/profile", "ya29.unknown")

    assert answer.status_code == 401
    assert answer.json() == {
        "error": {
            "code": 401,
            "message": (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            ),
            "errors": [
                {
                    "message": "Invalid Credentials",
                    "domain": "global",
                    "reason": "authError",
                    "location": "Authorization",
                    "locationType": "header",
                }
            ],
            "status": "UNAUTHENTICATED",
        }
    }


async def test_missing_google_scopes_show_in_refresh_tokeninfo_and_a_403(wire: Wire) -> None:
    refresh = await wire.refresh("google", "rt-google-g-scopes")
    token = refresh.json()["access_token"]
    info = await wire.get("CHATOPS_GOOGLE_OAUTH_URL", "/tokeninfo", params={"access_token": token})
    profile = await wire.google("/gmail/v1/users/me/profile", token)
    send_as = await wire.google("/gmail/v1/users/me/settings/sendAs", token)

    assert GMAIL_READONLY not in refresh.json()["scope"].split()
    assert GMAIL_READONLY not in info.json()["scope"].split()
    error = profile.json()["error"]
    assert (profile.status_code, error["status"]) == (403, "PERMISSION_DENIED")
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert 'error="insufficient_scope"' in profile.headers["WWW-Authenticate"]
    assert send_as.status_code == 200  # gmail.settings.basic is still granted


async def test_google_quota_errors_come_as_403_and_as_429(wire: Wire) -> None:
    quota = await wire.google("/gmail/v1/users/me/profile", await wire.token("google", "g-403"))
    limited = await wire.google(
        "/calendar/v3/users/me/settings/timezone", await wire.token("google", "g-429")
    )

    assert quota.status_code == 403
    assert quota.json()["error"]["errors"] == [
        {"message": "User Rate Limit Exceeded", "domain": "usageLimits", "reason": "userRateLimitExceeded"}
    ]
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
    assert limited.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert limited.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"


async def test_api_401_refuses_even_a_fresh_token(wire: Wire) -> None:
    answer = await wire.google("/gmail/v1/users/me/profile", await wire.token("google", "g-401"))

    assert answer.status_code == 401


async def test_a_gmail_less_google_account_answers_mail_service_not_enabled(wire: Wire) -> None:
    token = await wire.token("google", "g-nomail")

    gmail = await wire.google("/gmail/v1/users/me/profile", token)
    calendar = await wire.google("/calendar/v3/users/me/settings/timezone", token)

    assert gmail.status_code == 400
    assert gmail.json()["error"]["errors"][0] == {
        "message": "Mail service not enabled",
        "domain": "global",
        "reason": "failedPrecondition",
    }
    assert calendar.status_code == 200


async def test_gmail_profile_send_as_and_messages_shapes(wire: Wire) -> None:
    token = await wire.token("google", "g-good")

    profile = (await wire.google("/gmail/v1/users/me/profile", token)).json()
    send_as = (await wire.google("/gmail/v1/users/me/settings/sendAs", token)).json()["sendAs"]
    newest = (await wire.google("/gmail/v1/users/me/messages", token, params={"maxResults": 1})).json()
    everything = (await wire.google("/gmail/v1/users/me/messages", token)).json()
    other_user = await wire.google("/gmail/v1/users/someone@else.example/profile", token)

    assert profile["emailAddress"] == email("g-good")
    assert isinstance(profile["messagesTotal"], int) and isinstance(profile["historyId"], str)
    assert [(s["sendAsEmail"], s["isPrimary"]) for s in send_as] == [
        (email("g-good"), True),
        (email("g-good.alias"), False),
    ]
    assert set(newest) == {"messages", "nextPageToken", "resultSizeEstimate"}
    assert len(newest["messages"]) == 1 and set(newest["messages"][0]) == {"id", "threadId"}
    assert everything["resultSizeEstimate"] == 2  # the message dated in the future has not arrived
    assert other_user.status_code == 403


async def test_an_empty_gmail_mailbox_has_no_messages_key(wire: Wire) -> None:
    token = await wire.token("google", "g-empty")

    answer = await wire.google("/gmail/v1/users/me/messages", token, params={"maxResults": 1})

    assert answer.json() == {"resultSizeEstimate": 0}


async def test_google_calendar_timezone_primary_calendar_and_acl(wire: Wire) -> None:
    token = await wire.token("google", "g-good")

    setting = (await wire.google("/calendar/v3/users/me/settings/timezone", token)).json()
    primary = (await wire.google("/calendar/v3/users/me/calendarList/primary", token)).json()
    acl = (await wire.google("/calendar/v3/calendars/primary/acl", token)).json()
    missing = await wire.google("/calendar/v3/users/me/settings/nope", token)

    assert setting == {
        "kind": "calendar#setting",
        "etag": setting["etag"],
        "id": "timezone",
        "value": "America/New_York",
    }
    assert (primary["timeZone"], primary["accessRole"], primary["primary"]) == (
        "Europe/Berlin",
        "owner",
        True,
    )
    assert [(r["id"], r["scope"], r["role"]) for r in acl["items"]] == [
        (f"user:{email('g-good')}", {"type": "user", "value": email("g-good")}, "owner"),
        (f"user:{email('sync')}", {"type": "user", "value": email("sync")}, "reader"),
        (f"domain:{DOMAIN}", {"type": "domain", "value": DOMAIN}, "freeBusyReader"),
    ]
    assert missing.status_code == 404


# ================================================================================================== Microsoft


async def test_microsoft_refresh_rotates_the_refresh_token_and_the_old_one_keeps_working(wire: Wire) -> None:
    first = await wire.refresh("microsoft", "rt-microsoft-m-good")
    rotated = await wire.refresh("microsoft", first.json()["refresh_token"])
    old_again = await wire.refresh("microsoft", "rt-microsoft-m-good")

    body = first.json()
    assert first.status_code == rotated.status_code == old_again.status_code == 200
    assert body["refresh_token"] != "rt-microsoft-m-good"
    assert rotated.json()["refresh_token"] not in (body["refresh_token"], "rt-microsoft-m-good")
    assert 3600 <= body["expires_in"] < 5400 and body["ext_expires_in"] == body["expires_in"]
    assert body["token_type"] == "Bearer"
    scopes = body["scope"].split()
    assert "offline_access" not in scopes and f"{GRAPH}Mail.Read" in scopes
    assert {"access_token", "id_token"} <= set(body)


async def test_an_idle_microsoft_refresh_token_answers_aadsts700082_in_full(wire: Wire) -> None:
    answer = await wire.refresh("microsoft", "rt-microsoft-m-idle")

    body = answer.json()
    assert answer.status_code == 400
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    assert body["error"] == "invalid_grant" and body["error_codes"] == [700082]
    first, trace, correlation, stamp = body["error_description"].split("\r\n")
    assert first.startswith("AADSTS700082: The refresh token has expired due to inactivity.")
    assert (
        trace == f"Trace ID: {body['trace_id']}"
        and correlation == f"Correlation ID: {body['correlation_id']}"
    )
    assert stamp == f"Timestamp: {body['timestamp']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", body["timestamp"])
    assert body["error_uri"] == "https://login.microsoftonline.com/error?code=700082"


async def test_revoked_and_older_microsoft_grants_answer_their_aadsts_codes(wire: Wire) -> None:
    revoked = (await wire.refresh("microsoft", "rt-microsoft-m-revoked")).json()
    older = (await wire.refresh("microsoft", "rt-microsoft-m-old")).json()

    assert revoked["error_codes"] == [50173] and revoked["error_description"].startswith("AADSTS50173: ")
    assert older["error_codes"] == [70008]


async def test_the_identity_platform_refuses_bad_tenants_tokens_and_secrets(wire: Wire) -> None:
    tenant = await wire.refresh("microsoft", "rt-microsoft-m-good", tenant="nowhere.example")
    garbled = await wire.refresh("microsoft", "1.AQEA-garbled")
    secret = await wire.refresh("microsoft", "rt-microsoft-m-good", client_secret="guess")
    common = await wire.refresh("microsoft", "rt-microsoft-m-good", tenant="common")

    assert tenant.json()["error_codes"] == [90002]
    assert (garbled.json()["error"], garbled.json()["error_codes"]) == ("invalid_grant", [9002313])
    assert (secret.status_code, secret.json()["error"], secret.json()["error_codes"]) == (
        401,
        "invalid_client",
        [7000215],
    )
    assert common.status_code == 200


async def test_graph_answers_an_unknown_token_with_invalid_authentication_token(wire: Wire) -> None:
    answer = await wire.graph("/me", "EwB-unknown")

    error = answer.json()["error"]
    assert answer.status_code == 401 and error["code"] == "InvalidAuthenticationToken"
    assert error["message"] == "CompactToken parsing failed with error code: 80049217"
    assert set(error["innerError"]) == {"date", "request-id", "client-request-id"}
    assert answer.headers["WWW-Authenticate"].startswith('Bearer realm="", authorization_uri=')


async def test_graph_me_lists_proxy_addresses_only_when_selected(wire: Wire) -> None:
    token = await wire.token("microsoft", "m-good")

    selected = (
        await wire.graph(
            "/me", token, params={"$select": "id,displayName,mail,userPrincipalName,proxyAddresses"}
        )
    ).json()
    plain = (await wire.graph("/me", token)).json()
    bad = await wire.graph("/me", token, params={"$select": "shoeSize"})

    assert set(selected) == {
        "@odata.context",
        "id",
        "displayName",
        "mail",
        "userPrincipalName",
        "proxyAddresses",
    }
    assert selected["proxyAddresses"] == [f"SMTP:{email('m-good')}", f"smtp:{email('m-good.alias')}"]
    assert selected["userPrincipalName"] == "m-good@ex.onmicrosoft.example"
    assert "proxyAddresses" not in plain and plain["mail"] == email("m-good")
    assert bad.status_code == 400


async def test_graph_mailbox_settings_use_windows_zone_names(wire: Wire) -> None:
    token = await wire.token("microsoft", "m-good")

    settings = (await wire.graph("/me/mailboxSettings", token)).json()
    zone = (await wire.graph("/me/mailboxSettings/timeZone", token)).json()

    assert settings["timeZone"] == "Pacific Standard Time"
    assert settings["workingHours"]["timeZone"] == {"name": "Eastern Standard Time"}
    assert set(zone) == {"@odata.context", "value"} and zone["value"] == "Pacific Standard Time"


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("m-nomail", "The mailbox is either inactive, soft-deleted, or is hosted on-premise."),
    ],
)
async def test_a_mailbox_not_enabled_for_rest_is_a_404(wire: Wire, user: str, message: str) -> None:
    token = await wire.token("microsoft", user)

    settings = await wire.graph("/me/mailboxSettings", token)
    messages = await wire.graph("/me/messages", token, params={"$top": 1})
    me = await wire.graph("/me", token)

    for answer in (settings, messages):
        assert answer.status_code == 404
        assert (answer.json()["error"]["code"], answer.json()["error"]["message"]) == (
            "MailboxNotEnabledForRESTAPI",
            message,
        )
    assert me.status_code == 200


async def test_graph_throttling_sends_a_fractional_retry_after(wire: Wire) -> None:
    answer = await wire.graph("/me/messages", await wire.token("microsoft", "m-429"))

    error = answer.json()["error"]
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2.128"
    assert (error["code"], error["message"]) == ("TooManyRequests", "Please retry again later.")
    assert (error["innerError"]["code"], error["innerError"]["message"], error["innerError"]["status"]) == (
        "429",
        "Please retry after",
        "429",
    )


async def test_graph_messages_events_and_calendar_permissions(wire: Wire) -> None:
    token = await wire.token("microsoft", "m-good")

    messages = (
        await wire.graph("/me/messages", token, params={"$top": 1, "$select": "id,receivedDateTime,subject"})
    ).json()
    events = (
        await wire.graph(
            "/me/events", token, headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'}
        )
    ).json()
    utc = (await wire.graph("/me/events", token)).json()
    view = (
        await wire.graph(
            "/me/calendarView",
            token,
            params={"startDateTime": "2030-01-15T00:00:00Z", "endDateTime": "2030-01-16T00:00:00Z"},
        )
    ).json()
    shares = (await wire.graph("/me/calendar/calendarPermissions", token)).json()["value"]

    [message] = messages["value"]
    assert set(message) == {"@odata.etag", "id", "receivedDateTime", "subject"}
    assert message["subject"] == "Q2 renewal" and message["receivedDateTime"].endswith("Z")
    [event] = events["value"]
    assert event["start"] == {
        "dateTime": "2030-01-15T18:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    assert utc["value"][0]["start"] == {"dateTime": "2030-01-15T17:00:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Pacific Standard Time"
    assert [e["subject"] for e in view["value"]] == ["Review"]
    assert [(s["role"], s["emailAddress"].get("address")) for s in shares] == [
        ("read", email("sync")),
        ("freeBusyRead", None),
    ]
    assert shares[-1]["id"] == "RGVmYXVsdA=="


# ================================================================================================= Salesforce


async def test_salesforce_refresh_has_no_expires_in_and_issued_at_in_milliseconds(wire: Wire) -> None:
    answer = await wire.refresh("salesforce", "rt-salesforce-s-good")

    body = answer.json()
    assert answer.status_code == 200 and "expires_in" not in body and "refresh_token" not in body
    assert isinstance(body["issued_at"], str) and abs(int(body["issued_at"]) - time.time() * 1000) < 60_000
    assert body["instance_url"] == f"{wire.sim.base_url}/salesforce"
    assert re.fullmatch(rf"{re.escape(body['instance_url'])}/id/00D\w{{15}}/005\w{{15}}", body["id"])
    expected = base64.b64encode(
        hmac.new(b"secret-salesforce", (body["id"] + body["issued_at"]).encode(), hashlib.sha256).digest()
    ).decode()
    assert body["signature"] == expected and body["token_type"] == "Bearer"


async def test_salesforce_limits_any_version_and_the_limit_header_on_every_rest_answer(wire: Wire) -> None:
    token = await wire.token("salesforce", "s-good")

    first = await wire.salesforce("/services/data/v58.0/limits", token)
    second = await wire.salesforce("/services/data/v62.0/limits", token)
    versions = await wire.salesforce("/services/data/", "")

    assert first.json()["DailyApiRequests"]["Max"] == 100000
    assert first.headers["Sforce-Limit-Info"] == "api-usage=91001/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=91002/100000"
    assert second.json()["DailyApiRequests"]["Remaining"] == 100000 - 91002
    assert versions.status_code == 200 and "Sforce-Limit-Info" not in versions.headers
    assert {"label", "url", "version"} == set(versions.json()[0])


async def test_salesforce_soql_finds_the_user_and_the_eac_status(wire: Wire) -> None:
    token = await wire.token("salesforce", "s-good")

    users = (
        await wire.salesforce(
            "/services/data/v62.0/query",
            token,
            params=soql(
                "SELECT Id, Username, Email, TimeZoneSidKey, IsActive FROM User WHERE Email = "
                "'S-GOOD@ex.io' LIMIT 10"
            ),
        )
    ).json()
    [user] = users["records"]
    eac = (
        await wire.salesforce(
            "/services/data/v62.0/query",
            token,
            params=soql(
                "SELECT UserId, EmailAddress, ConnectivityStatus, RecommendedActionTitle FROM "
                "ActivityUsrConnectionStatus "
                f"WHERE UserId = '{user['Id']}'"
            ),
        )
    ).json()
    contact = (
        await wire.salesforce(
            "/services/data/v62.0/query",
            token,
            params=soql("SELECT Id FROM Contact WHERE Email = 'a@customer.example' LIMIT 1"),
        )
    ).json()
    record = (await wire.salesforce(f"/services/data/v62.0/sobjects/User/{user['Id']}", token)).json()

    assert (users["totalSize"], users["done"]) == (1, True)
    assert user["attributes"] == {"type": "User", "url": f"/services/data/v62.0/sobjects/User/{user['Id']}"}
    assert (user["Email"], user["TimeZoneSidKey"], user["IsActive"]) == (
        "s-good@ex.io",
        "America/New_York",
        True,
    )
    assert eac["records"][0]["ConnectivityStatus"] == "NEEDSATTENTION"
    assert eac["records"][0]["RecommendedActionTitle"] == "Reconnect your email account"
    assert contact["totalSize"] == 1
    assert record["Email"] == "s-good@ex.io"


async def test_salesforce_errors_are_json_arrays(wire: Wire) -> None:
    token = await wire.token("salesforce", "s-noeac")

    no_eac = await wire.salesforce(
        "/services/data/v62.0/query", token, params=soql("SELECT UserId FROM ActivityUsrConnectionStatus")
    )
    old_version = await wire.salesforce(
        "/services/data/v53.0/query",
        await wire.token("salesforce", "s-good"),
        params=soql("SELECT UserId FROM ActivityUsrConnectionStatus"),
    )
    bad_field = await wire.salesforce(
        "/services/data/v62.0/query", token, params=soql("SELECT Shoe FROM User")
    )
    malformed = await wire.salesforce("/services/data/v62.0/query", token, params=soql("SELEKT Id FROM User"))
    unknown = await wire.salesforce("/services/data/v62.0/limits", "00Dnope!AQ0")

    assert [no_eac.status_code, old_version.status_code] == [400, 400]
    assert no_eac.json()[0]["errorCode"] == old_version.json()[0]["errorCode"] == "INVALID_TYPE"
    assert bad_field.json()[0]["errorCode"] == "INVALID_FIELD"
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert (unknown.status_code, unknown.json()) == (
        401,
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
    )


async def test_salesforce_refresh_failures(wire: Wire) -> None:
    revoked = await wire.refresh("salesforce", "rt-salesforce-s-revoked")
    inactive = await wire.refresh("salesforce", "rt-salesforce-s-inactive")
    wrong_client = await wire.refresh("salesforce", "rt-salesforce-s-good", client_id="3MVG9nope")

    assert revoked.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    assert inactive.json() == {"error": "invalid_grant", "error_description": "inactive user"}
    assert wrong_client.json() == {
        "error": "invalid_client_id",
        "error_description": "client identifier invalid",
    }


async def test_a_spent_salesforce_allocation_is_request_limit_exceeded(wire: Wire) -> None:
    answer = await wire.salesforce("/services/data/v62.0/limits", await wire.token("salesforce", "s-quota"))

    assert answer.status_code == 403
    assert answer.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert answer.headers["Sforce-Limit-Info"] == "api-usage=5000/5000"


async def test_a_rate_limited_salesforce_org_answers_403_not_429(wire: Wire) -> None:
    answer = await wire.salesforce("/services/data/v62.0/limits", await wire.token("salesforce", "s-busy"))

    assert answer.status_code == 403 and answer.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


async def test_salesforce_userinfo_and_its_plain_text_refusal(wire: Wire) -> None:
    info = await wire.get(
        "CHATOPS_SALESFORCE_URL", "/services/oauth2/userinfo", await wire.token("salesforce", "s-good")
    )
    refused = await wire.get("CHATOPS_SALESFORCE_URL", "/services/oauth2/userinfo", "00Dnope")

    body = info.json()
    assert (body["email"], body["zoneinfo"], body["active"]) == ("s-good@ex.io", "America/New_York", True)
    assert "{version}" in body["urls"]["rest"] and isinstance(body["utcOffset"], int)
    assert (refused.status_code, refused.text, refused.headers["content-type"].split(";")[0]) == (
        403,
        "Bad_OAuth_Token",
        "text/plain",
    )


async def test_a_salesforce_test_task_can_be_written_and_deleted(wire: Wire) -> None:
    token = await wire.token("salesforce", "s-good")
    base = f"{wire.env['CHATOPS_SALESFORCE_URL']}/services/data/v62.0/sobjects"
    headers = {"Authorization": f"Bearer {token}"}

    created = await wire.http.post(f"{base}/Task", headers=headers, json={"Subject": "chatops sync test"})
    task_id = created.json()["id"]
    listed = await wire.salesforce(
        "/services/data/v62.0/query",
        token,
        params=soql(f"SELECT Id, Subject FROM Task WHERE Id = '{task_id}'"),
    )
    deleted = await wire.http.delete(f"{base}/Task/{task_id}", headers=headers)
    gone = await wire.http.delete(f"{base}/Task/{task_id}", headers=headers)

    assert created.status_code == 201 and created.json()["success"] is True
    assert listed.json()["records"][0]["Subject"] == "chatops sync test"
    assert deleted.status_code == 204 and gone.status_code == 404


# ==================================================================================================== HubSpot


async def test_hubspot_refresh_takes_a_form_body_and_keeps_the_refresh_token(wire: Wire) -> None:
    form = await wire.refresh("hubspot", "rt-hubspot-h-good")
    as_json = await wire.http.post(
        f"{wire.env['CHATOPS_HUBSPOT_URL']}/oauth/v1/token",
        json={"grant_type": "refresh_token", "refresh_token": "rt-hubspot-h-good", **wire.client("hubspot")},
    )

    assert form.status_code == 200
    assert form.json() == {
        "token_type": "bearer",
        "refresh_token": "rt-hubspot-h-good",
        "access_token": form.json()["access_token"],
        "expires_in": 1800,
    }
    assert as_json.status_code == 400 and as_json.json()["status"] == "BAD_GRANT_TYPE"


async def test_a_revoked_hubspot_grant_is_bad_refresh_token_in_both_shapes(wire: Wire) -> None:
    legacy = await wire.refresh("hubspot", "rt-hubspot-h-revoked")
    newer = await wire.http.post(
        f"{wire.env['CHATOPS_HUBSPOT_URL']}/oauth/2026-03/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "rt-hubspot-h-revoked",
            **wire.client("hubspot"),
        },
    )

    assert legacy.status_code == 400
    assert set(legacy.json()) == {"status", "message", "correlationId", "requestId"}
    assert legacy.json()["status"] == "BAD_REFRESH_TOKEN"
    assert (newer.json()["error"], newer.json()["status"]) == ("invalid_grant", "BAD_REFRESH_TOKEN")


async def test_hubspot_token_metadata_uses_integers(wire: Wire) -> None:
    token = await wire.token("hubspot", "h-good")

    access = (await wire.hubspot(f"/oauth/v1/access-tokens/{token}", "")).json()
    refresh = (await wire.hubspot("/oauth/v1/refresh-tokens/rt-hubspot-h-good", "")).json()
    unknown = await wire.hubspot("/oauth/v1/access-tokens/CKnope", "")

    assert (access["hub_id"], access["user"], access["token_type"]) == (62515, email("h-good"), "access")
    assert all(isinstance(access[k], int) for k in ("hub_id", "app_id", "user_id", "expires_in"))
    assert "crm.objects.owners.read" in access["scopes"]
    assert (refresh["token_type"], refresh["client_id"]) == ("refresh", "id-hubspot")
    assert unknown.status_code == 404


async def test_hubspot_owners_and_rate_limit_headers(wire: Wire) -> None:
    token = await wire.token("hubspot", "h-good")

    answer = await wire.hubspot(
        "/crm/v3/owners", token, params={"email": email("h-good"), "limit": 100, "archived": "false"}
    )
    private = await wire.hubspot(
        "/crm/v3/owners", await wire.token("hubspot", "h-private"), params={"limit": 1}
    )

    [owner] = answer.json()["results"]
    assert isinstance(owner["id"], str) and isinstance(owner["userId"], int)
    assert owner["email"] == email("h-good") and "paging" not in answer.json()
    assert answer.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "X-HubSpot-RateLimit-Daily" not in answer.headers  # OAuth calls carry no Daily headers (§8.7)
    assert private.headers["X-HubSpot-RateLimit-Daily"] == "500000"
    assert private.headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(500000 - 2)


async def test_hubspot_429_carries_policy_name_and_retry_after_while_usage_still_answers(wire: Wire) -> None:
    token = await wire.token("hubspot", "h-429")

    limited = await wire.hubspot("/crm/v3/owners", token)
    usage = await wire.hubspot("/account-info/v3/api-usage/daily/private-apps", token)

    body = limited.json()
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "10"
    assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "TEN_SECONDLY_ROLLING")
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    [daily] = usage.json()["results"]
    assert (daily["usageLimit"], daily["currentUsage"], daily["fetchStatus"]) == (250000, 240000, "SUCCESS")


async def test_a_spent_hubspot_daily_limit_is_a_daily_429(wire: Wire) -> None:
    answer = await wire.hubspot("/crm/v3/owners", await wire.token("hubspot", "h-daily"))

    assert answer.status_code == 429 and answer.json()["policyName"] == "DAILY"
    assert "Retry-After" not in answer.headers


async def test_hubspot_missing_scopes_and_unknown_tokens(wire: Wire) -> None:
    scopes = await wire.hubspot("/crm/v3/owners", await wire.token("hubspot", "h-scopes"))
    unknown = await wire.hubspot("/crm/v3/owners", "CKnope")

    assert scopes.status_code == 403 and scopes.json()["category"] == "MISSING_SCOPES"
    assert scopes.json()["errors"][0]["context"] == {"requiredGranularScopes": ["crm.objects.owners.read"]}
    assert (unknown.status_code, unknown.json()["category"]) == (401, "INVALID_AUTHENTICATION")


# =================================================================================================== Dynamics


async def test_dataverse_token_who_am_i_user_mailbox_and_alerts(wire: Wire) -> None:
    refreshed = await wire.refresh("dynamics", "rt-dynamics-d-good")
    token = refreshed.json()["access_token"]
    labels = {"Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"'}

    who = await wire.dataverse("/WhoAmI", token)
    user_id = who.json()["UserId"]
    users = (
        await wire.dataverse(
            "/systemusers",
            token,
            params={
                "$filter": f"internalemailaddress eq '{email('d-good').upper()}'",
                "$select": "systemuserid,fullname",
            },
        )
    ).json()
    box = (
        await wire.dataverse(
            "/mailboxes",
            token,
            headers=labels,
            params={"$filter": f"_regardingobjectid_value eq {user_id}", "$top": "1"},
        )
    ).json()["value"][0]
    plain = (await wire.dataverse(f"/mailboxes({box['mailboxid']})", token)).json()
    alerts = (
        await wire.dataverse(
            "/tracelogs",
            token,
            headers=labels,
            params={
                "$filter": f"_regardingobjectid_value eq {box['mailboxid']}",
                "$orderby": "modifiedon desc",
                "$select": "level,tracecode,text,createdon,modifiedon",
            },
        )
    ).json()["value"]
    zone = (
        await wire.dataverse(f"/usersettingscollection({user_id})", token, params={"$select": "timezonecode"})
    ).json()

    assert refreshed.json()["scope"] == f"{wire.env['CHATOPS_DYNAMICS_URL']}/user_impersonation"
    assert set(who.json()) == {"@odata.context", "BusinessUnitId", "UserId", "OrganizationId"}
    assert who.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "5990"
    assert [u["systemuserid"] for u in users["value"]] == [user_id]
    assert (
        box["incomingemailstatus"],
        box["incomingemailstatus" + "@OData.Community.Display.V1.FormattedValue"],
    ) == (2, "Failure")
    assert "incomingemailstatus@OData.Community.Display.V1.FormattedValue" not in plain
    assert [(a["level"], a["text"]) for a in alerts] == [
        (3, "Email can't be received"),
        (1, "Mailbox enabled"),
    ]
    assert zone["timezonecode"] == 110


async def test_dataverse_refuses_unknown_and_graph_tokens_with_an_empty_401(wire: Wire) -> None:
    graph_token = await wire.token("microsoft", "m-good")

    unknown = await wire.dataverse("/WhoAmI", "EwB-nope")
    wrong_resource = await wire.dataverse("/WhoAmI", graph_token)

    for answer in (unknown, wrong_resource):
        assert (answer.status_code, answer.text) == (401, "")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


async def test_a_throttled_dataverse_org_answers_429_with_retry_after(wire: Wire) -> None:
    answer = await wire.dataverse("/WhoAmI", await wire.token("dynamics", "d-throttled"))

    assert answer.status_code == 429 and answer.headers["Retry-After"] == "45"
    assert answer.json() == {
        "error": {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
        }
    }


async def test_one_microsoft_refresh_token_serves_graph_and_dataverse(wire: Wire) -> None:
    answer = await wire.refresh("dynamics", "rt-microsoft-m-good")

    assert answer.status_code == 200
    assert (await wire.dataverse("/WhoAmI", answer.json()["access_token"])).status_code == 200


# =========================================================================================== transport faults


async def test_a_slow_host_answers_late(wire: Wire) -> None:
    token = await wire.token("google", "g-good")  # refreshing g-slow would be slow too
    started = time.monotonic()
    slow = await wire.refresh("google", "rt-google-g-slow")
    elapsed = time.monotonic() - started

    assert slow.status_code == 200 and elapsed >= 0.6
    assert (await wire.google("/gmail/v1/users/me/profile", token)).status_code == 200


async def test_a_hanging_host_never_answers_and_the_simulator_still_stops(scenario: Scenario) -> None:
    sim = await start_simulator(scenario)
    async with httpx.AsyncClient(timeout=0.5, verify=TLS) as http:
        wire = Wire(sim, http)
        with pytest.raises(httpx.ReadTimeout):
            await wire.refresh("google", "rt-google-g-hang")
        with pytest.raises(httpx.ReadTimeout):
            await wire.google("/gmail/v1/users/me/profile", wire.stored_access_token("google", "g-hang"))
    started = time.monotonic()
    await sim.stop()

    assert time.monotonic() - started < 3.0


async def test_a_proxy_page_answers_instead_of_json(wire: Wire) -> None:
    refresh = await wire.refresh("google", "rt-google-g-html")
    api = await wire.google("/gmail/v1/users/me/profile", wire.stored_access_token("google", "g-html"))

    for answer in (refresh, api):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.text.startswith("<!DOCTYPE html>")


async def test_server_errors_use_each_providers_body(wire: Wire) -> None:
    google = await wire.google("/gmail/v1/users/me/profile", wire.stored_access_token("google", "g-503"))
    salesforce = await wire.refresh("salesforce", "rt-salesforce-s-500")

    assert google.status_code == 503 and google.json()["error"]["status"] == "UNAVAILABLE"
    assert google.json()["error"]["errors"][0]["reason"] == "backendError"
    assert salesforce.status_code == 500


async def test_access_tokens_expire_on_the_simulators_clock(scenario: Scenario) -> None:
    clock = FakeClock()
    sim = await start_simulator(scenario, clock=clock)
    try:
        async with httpx.AsyncClient(timeout=5.0, verify=TLS) as http:
            wire = Wire(sim, http)
            token = await wire.token("google", "g-good")
            assert (await wire.google("/gmail/v1/users/me/profile", token)).status_code == 200
            [record] = [r for r in sim.connection_records() if r["name"] == "google-g-good"]
            assert record["grants"][0]["expires_at"] == "2026-11-30T09:59:59Z"
            clock.advance(seconds=3600)
            assert (await wire.google("/gmail/v1/users/me/profile", token)).status_code == 401
    finally:
        await sim.stop()


# ======================================================================================= the demo on the wire


async def test_every_demo_fault_shows_on_the_wire(http: httpx.AsyncClient) -> None:
    demo = load_scenario("demo")
    sim = await start_simulator(demo)
    try:
        wire = Wire(sim, http)
        records = {r["id"]: r for r in sim.connection_records()}

        def refresh_token(conn: str, role: str) -> str:
            return next(str(g["refresh_token"]) for g in records[conn]["grants"] if g["role"] == role)

        async def token(conn: str, role: str) -> str:
            grant = next(g for g in records[conn]["grants"] if g["role"] == role)
            answer = await wire.refresh(grant["provider"], grant["refresh_token"])
            assert answer.status_code == 200, (conn, role, answer.text)
            return str(answer.json()["access_token"])

        # credentials
        ana = await wire.refresh("google", refresh_token("conn-ana", "mail"))
        assert ana.json()["error_description"] == "Token has been expired or revoked."
        ben = await wire.refresh("microsoft", refresh_token("conn-ben", "mail"))
        assert ben.json()["error_codes"] == [700082]
        chloe = await wire.refresh("google", refresh_token("conn-chloe", "mail"))
        assert GMAIL_READONLY not in chloe.json()["scope"].split()
        # rate_limit
        dev = (await wire.salesforce("/services/data/v62.0/limits", await token("conn-dev", "crm"))).json()
        assert dev["DailyApiRequests"]["Remaining"] <= 4000
        eva_token = await token("conn-eva", "crm")
        eva = await wire.hubspot("/crm/v3/owners", eva_token, params={"email": "eva@acme.example"})
        assert eva.status_code == 429 and eva.headers["Retry-After"] == "30"
        usage_answer = await wire.hubspot("/account-info/v3/api-usage/daily/private-apps", eva_token)
        usage = usage_answer.json()["results"][0]
        assert usage["currentUsage"] / usage["usageLimit"] >= 0.95
        # domain_mismatch
        finn = (
            await wire.salesforce(
                "/services/data/v62.0/query",
                await token("conn-finn", "crm"),
                params=soql("SELECT Email FROM User WHERE Email = 'finn@acme.io'"),
            )
        ).json()
        assert finn["totalSize"] == 1
        send_as = (
            await wire.google("/gmail/v1/users/me/settings/sendAs", await token("conn-finn", "mail"))
        ).json()
        assert not any(s["sendAsEmail"].endswith("@acme.io") for s in send_as["sendAs"])
        # calendar_timezone
        hugo = (await wire.graph("/me/mailboxSettings", await token("conn-hugo", "mail"))).json()
        hugo_crm = (
            await wire.salesforce(
                "/services/data/v62.0/query",
                await token("conn-hugo", "crm"),
                params=soql("SELECT TimeZoneSidKey FROM User WHERE Email = 'hugo@acme.example'"),
            )
        ).json()
        assert (hugo["timeZone"], hugo_crm["records"][0]["TimeZoneSidKey"]) == (
            "Pacific Standard Time",
            "America/New_York",
        )
        # calendar_permissions
        acl = (
            await wire.google("/calendar/v3/calendars/primary/acl", await token("conn-iris", "mail"))
        ).json()
        assert "eac-sync@acme.example" not in {r["scope"].get("value") for r in acl["items"]}
        # mailbox_config
        jon = await wire.graph("/me/messages", await token("conn-jon", "mail"))
        assert (jon.status_code, jon.json()["error"]["code"]) == (404, "MailboxNotEnabledForRESTAPI")
        # healthy connections: every grant refreshes and the mailbox and CRM answer
        for conn in ("conn-lea", "conn-max", "conn-nora"):
            for grant in records[conn]["grants"]:
                assert (await wire.refresh(grant["provider"], grant["refresh_token"])).status_code == 200
        lea_acl = (
            await wire.google("/calendar/v3/calendars/primary/acl", await token("conn-lea", "mail"))
        ).json()
        assert "eac-sync@acme.example" in {r["scope"].get("value") for r in lea_acl["items"]}
        max_box = await wire.dataverse("/WhoAmI", await token("conn-max", "crm"))
        assert max_box.status_code == 200
        nora = await wire.hubspot(
            "/crm/v3/owners", await token("conn-nora", "crm"), params={"email": "nora@acme.example"}
        )
        assert nora.status_code == 200 and len(nora.json()["results"]) == 1
        # the stored access tokens of healthy grants work as they are
        lea_stored = next(g["access_token"] for g in records["conn-lea"]["grants"] if g["role"] == "mail")
        assert (await wire.google("/gmail/v1/users/me/profile", lea_stored)).status_code == 200
    finally:
        await sim.stop()


async def test_a_started_simulator_accepts_a_builtin_name() -> None:
    sim = await start_simulator("demo")
    try:
        assert sim.scenario.name == "demo" and sim.base_url.startswith("http://127.0.0.1:")
        crm_urls = [
            g["instance_url"]
            for r in sim.connection_records()
            for g in r["grants"]
            if g["provider"] in ("salesforce", "dynamics")
        ]
        assert crm_urls and all(url.startswith(f"{sim.base_url}/") for url in crm_urls)
    finally:
        await sim.stop()


# ====================================================== extras: what the clients call beyond provider-apis.md


@pytest.fixture
async def extra_wire(scenario: Scenario, http: httpx.AsyncClient) -> AsyncIterator[Wire]:
    sim = await start_simulator(scenario)
    yield Wire(sim, http)
    await sim.stop()


def test_every_extra_route_names_its_vendor_page_and_its_caller() -> None:
    doc = PROVIDER_APIS.read_text(encoding="utf-8")
    documented = {(r.method, r.full_path) for r in ROUTES}

    for route in EXTRA_ROUTES:
        assert route.ref == "extra" and route.note, route.full_path
        assert route.doc.startswith("https://") and route.doc not in doc
        assert (route.method, route.full_path) not in documented


async def test_extra_routes_are_served_for_the_clients_that_call_them(extra_wire: Wire) -> None:
    extra = await extra_wire.graph("/me/calendar", await extra_wire.token("microsoft", "m-good"))

    assert extra.status_code == 200
    assert extra.json()["owner"] == {"name": "M Good", "address": email("m-good")}
    assert extra.json()["isDefaultCalendar"] is True


async def test_gmail_message_metadata_and_calendar_events(extra_wire: Wire) -> None:
    token = await extra_wire.token("google", "g-good")
    [newest] = (
        await extra_wire.google("/gmail/v1/users/me/messages", token, params={"maxResults": 1})
    ).json()["messages"]

    meta = await extra_wire.google(
        f"/gmail/v1/users/me/messages/{newest['id']}",
        token,
        params={"format": "metadata", "metadataHeaders": "From"},
    )
    missing = await extra_wire.google("/gmail/v1/users/me/messages/nope", token)
    events = await extra_wire.google(
        "/calendar/v3/calendars/primary/events",
        token,
        params={"singleEvents": "true", "orderBy": "startTime", "timeMin": "2030-01-15T17:10:00Z"},
    )
    unordered = await extra_wire.google(
        "/calendar/v3/calendars/primary/events", token, params={"orderBy": "startTime"}
    )

    body = meta.json()
    assert body["payload"]["headers"] == [{"name": "From", "value": "B <b@customer.example>"}]
    assert isinstance(body["internalDate"], str) and body["threadId"] == body["id"]
    assert missing.status_code == 404
    [event] = events.json()["items"]
    assert events.json()["timeZone"] == "Europe/Berlin"
    assert event["start"] == {"dateTime": "2030-01-15T18:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert event["attendees"] == [{"email": "a@customer.example", "responseStatus": "needsAction"}]
    later = await extra_wire.google(
        "/calendar/v3/calendars/primary/events", token, params={"timeMin": "2030-01-15T17:30:00Z"}
    )
    assert later.json()["items"] == []  # timeMin bounds the end: the 30-minute event is over
    assert unordered.status_code == 400


async def test_hubspot_contact_search_and_a_test_task(extra_wire: Wire) -> None:
    token = await extra_wire.token("hubspot", "h-good")
    base = extra_wire.env["CHATOPS_HUBSPOT_URL"]
    headers = {"Authorization": f"Bearer {token}"}
    query = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "EQ", "value": "A@customer.example"}]},
            {
                "filters": [
                    {"propertyName": "hs_additional_emails", "operator": "EQ", "value": "a@customer.example"}
                ]
            },
        ],
        "properties": ["email"],
        "limit": 1,
    }

    found = await extra_wire.http.post(f"{base}/crm/v3/objects/contacts/search", headers=headers, json=query)
    created = await extra_wire.http.post(
        f"{base}/crm/v3/objects/tasks",
        headers=headers,
        json={"properties": {"hs_timestamp": "2026-11-30T09:00:00.000Z", "hs_task_subject": "test"}},
    )
    no_write_scope = created.status_code
    deleted = await extra_wire.http.delete(f"{base}/crm/v3/objects/tasks/123", headers=headers)

    [contact] = found.json()["results"]
    assert found.json()["total"] == 1 and contact["properties"]["email"] == "a@customer.example"
    assert isinstance(contact["id"], str) and contact["properties"]["hs_object_id"] == contact["id"]
    assert "X-HubSpot-RateLimit-Max" in found.headers
    assert no_write_scope == 403  # the demo grants read scopes only; writing needs crm.objects.contacts.write
    assert deleted.status_code == 403


async def test_dataverse_contacts_time_zone_names_and_a_test_task(extra_wire: Wire) -> None:
    token = await extra_wire.token("dynamics", "d-good")
    user_id = (await extra_wire.dataverse("/WhoAmI", token)).json()["UserId"]
    base = f"{extra_wire.env['CHATOPS_DYNAMICS_URL']}/api/data/v9.2"
    headers = {"Authorization": f"Bearer {token}", "Prefer": "return=representation"}

    contacts = await extra_wire.dataverse(
        "/contacts",
        token,
        params={"$filter": "emailaddress1 eq 'a@customer.example'", "$select": "contactid"},
    )
    zone = await extra_wire.dataverse(
        "/timezonedefinitions", token, params={"$filter": "timezonecode eq 110", "$select": "standardname"}
    )
    created = await extra_wire.http.post(
        f"{base}/tasks",
        headers=headers,
        params={"$select": "activityid"},
        json={"subject": "chatops sync test", "ownerid@odata.bind": f"/systemusers({user_id})"},
    )
    task_id = created.json()["activityid"]
    quiet = await extra_wire.http.post(
        f"{base}/tasks", headers={"Authorization": f"Bearer {token}"}, json={"subject": "no body back"}
    )
    deleted = await extra_wire.http.delete(f"{base}/tasks({task_id})", headers=headers)
    again = await extra_wire.http.delete(f"{base}/tasks({task_id})", headers=headers)

    assert len(contacts.json()["value"]) == 1
    assert zone.json()["value"][0]["standardname"] == "W. Europe Standard Time"
    assert created.status_code == 201 and set(created.json()) == {
        "@odata.context",
        "@odata.etag",
        "activityid",
    }
    assert (quiet.status_code, quiet.text) == (204, "") and "/tasks(" in quiet.headers["OData-EntityId"]
    assert deleted.status_code == 204 and again.status_code == 404
