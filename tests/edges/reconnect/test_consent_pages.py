"""The simulator's consent pages and code redemption, over HTTP: approve, deny, another user, PKCE, replays."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest

from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.sim_consent import EXTRA_ROUTES, s256
from adapters.sandbox.simulator import EXTRA_ROUTES as ALL_EXTRAS
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from tests.edges.reconnect.conftest import query, world
from tests.fakes.world import email

CALLBACK = "http://127.0.0.1:9/oauth/callback/google"
VERIFIER = "k" * 64
G = "https://www.googleapis.com/auth/"


@pytest.fixture
async def sim() -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(parse_scenario(world().scenario(), source="world"))
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        yield client


def google_params(**extra: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": "id-google", "redirect_uri": CALLBACK, "state": "st-1",
            "scope": f"{G}gmail.readonly openid {G}userinfo.email", "code_challenge": s256(VERIFIER),
            "code_challenge_method": "S256", "login_hint": email("ana"), **extra}


async def approve(sim: RunningSimulator, http: httpx.AsyncClient, *, account: str = "", decision: str = "allow",
                  **extra: str) -> httpx.Response:
    return await http.post(f"{sim.base_url}/google-accounts/o/oauth2/v2/auth",
                           data={**google_params(**extra), "decision": decision, "email": account or email("ana")})


async def redeem(sim: RunningSimulator, http: httpx.AsyncClient, code: str, verifier: str = VERIFIER,
                 **extra: str) -> httpx.Response:
    return await http.post(f"{sim.base_url}/google-oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "client_id": "id-google",
        "client_secret": "secret-google", "code_verifier": verifier, **extra})


def test_every_consent_page_is_an_extra_route_with_its_vendor_reference() -> None:
    assert set(EXTRA_ROUTES) <= set(ALL_EXTRAS)
    assert {(r.method, r.full_path) for r in EXTRA_ROUTES} == {
        (m, p) for m in ("GET", "POST") for p in (
            "/google-accounts/o/oauth2/v2/auth", "/microsoft-login/{tenant}/oauth2/v2.0/authorize",
            "/salesforce/services/oauth2/authorize", "/hubspot/oauth/authorize")}
    assert all(r.doc.startswith("https://") and r.note for r in EXTRA_ROUTES)


async def test_the_consent_page_lists_the_scopes_and_the_account_escaped(sim: RunningSimulator,
                                                                         http: httpx.AsyncClient) -> None:
    page = await http.get(f"{sim.base_url}/google-accounts/o/oauth2/v2/auth?"
                          + urlencode(google_params(state='"><script>x</script>')))

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert f"{G}gmail.readonly" in page.text and email("ana") in page.text
    assert "<script>x" not in page.text
    assert 'value="allow"' in page.text and 'value="deny"' in page.text


async def test_an_unknown_client_or_redirect_uri_gets_a_page_not_a_redirect(sim: RunningSimulator,
                                                                            http: httpx.AsyncClient) -> None:
    for params in (google_params(client_id="nope"), google_params(redirect_uri="javascript:alert(1)")):
        page = await http.get(f"{sim.base_url}/google-accounts/o/oauth2/v2/auth?" + urlencode(params))
        assert page.status_code == 400 and "location" not in page.headers


async def test_deny_redirects_with_access_denied_and_the_state(sim: RunningSimulator,
                                                               http: httpx.AsyncClient) -> None:
    answer = await approve(sim, http, decision="deny")

    assert answer.status_code == 302
    assert query(answer.headers["location"]) == {"error": "access_denied", "state": "st-1",
                                                 "error_description": "The user denied access to the app."}


async def test_an_unknown_account_shows_the_form_again(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    answer = await approve(sim, http, account="nobody@nowhere.example")

    assert answer.status_code == 200
    assert "Couldn't find an account for nobody@nowhere.example" in html.unescape(answer.text)


async def test_a_code_redeems_once_with_the_right_verifier(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    code = query((await approve(sim, http)).headers["location"])["code"]

    wrong = await redeem(sim, http, code, verifier="w" * 64)
    right = await redeem(sim, http, code)
    replay = await redeem(sim, http, code)

    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant",
                                                       "error_description": "Invalid code verifier."})
    assert right.status_code == 200
    body = right.json()
    assert body["refresh_token"].startswith("1//") and body["scope"].split()[0] == f"{G}gmail.readonly"
    assert "id_token" in body
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # a replayed code revokes what it was redeemed into (RFC 6749 §4.1.2)
    refreshed = await http.post(f"{sim.base_url}/google-oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": "id-google",
        "client_secret": "secret-google"})
    assert refreshed.json()["error"] == "invalid_grant"


async def test_a_code_needs_its_redirect_uri_and_client(sim: RunningSimulator, http: httpx.AsyncClient) -> None:
    first = query((await approve(sim, http)).headers["location"])["code"]
    second = query((await approve(sim, http)).headers["location"])["code"]

    elsewhere = await redeem(sim, http, first, redirect_uri="https://evil.example/cb")
    stranger = await redeem(sim, http, second, client_secret="guess")

    assert elsewhere.json()["error"] == "invalid_grant"
    assert (stranger.status_code, stranger.json()["error"]) == (401, "invalid_client")


async def test_a_revoked_user_is_healthy_after_a_fresh_consent(sim: RunningSimulator,
                                                               http: httpx.AsyncClient) -> None:
    old = await http.post(f"{sim.base_url}/google-oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": "rt-google-ana", "client_id": "id-google",
        "client_secret": "secret-google"})
    code = query((await approve(sim, http)).headers["location"])["code"]
    fresh = (await redeem(sim, http, code)).json()

    refreshed = await http.post(f"{sim.base_url}/google-oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": fresh["refresh_token"], "client_id": "id-google",
        "client_secret": "secret-google"})
    profile = await http.get(f"{sim.base_url}/google/gmail/v1/users/me/profile",
                             headers={"Authorization": f"Bearer {fresh['access_token']}"})

    assert old.json()["error"] == "invalid_grant"  # the scenario's revoked grant stays revoked
    assert refreshed.status_code == 200 and profile.status_code == 200
    assert profile.json()["emailAddress"] == email("ana")


async def test_microsoft_refuses_a_wrong_verifier_with_aadsts501481(sim: RunningSimulator,
                                                                   http: httpx.AsyncClient) -> None:
    tenant = sim.scenario.organisation.tenant_id
    authorize = f"{sim.base_url}/microsoft-login/{tenant}/oauth2/v2.0/authorize"
    redirect = "http://127.0.0.1:9/oauth/callback/microsoft"
    answer = await http.post(authorize, data={
        "response_type": "code", "client_id": "id-microsoft", "redirect_uri": redirect, "state": "s",
        "scope": "offline_access openid email User.Read Mail.Read", "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256", "decision": "allow", "email": email("ben")})
    code = query(answer.headers["location"])["code"]
    token_url = f"{sim.base_url}/microsoft-login/{tenant}/oauth2/v2.0/token"
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": "id-microsoft",
            "client_secret": "secret-microsoft"}

    wrong = await http.post(token_url, data={**form, "code_verifier": "w" * 64})
    right = await http.post(token_url, data={**form, "code_verifier": VERIFIER})

    assert wrong.status_code == 400 and re.match(r"AADSTS501481: ", wrong.json()["error_description"])
    assert right.status_code == 200 and "https://graph.microsoft.com/Mail.Read" in right.json()["scope"]
    refreshed = await http.post(token_url, data={"grant_type": "refresh_token", "client_id": "id-microsoft",
                                                 "client_secret": "secret-microsoft", "scope": "Mail.Read",
                                                 "refresh_token": right.json()["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text  # ben's AADSTS700082 was about the old grant
