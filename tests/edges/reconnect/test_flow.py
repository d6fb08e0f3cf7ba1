"""The Reconnect flow over real HTTP: start link -> simulator's consent page -> our callback, and every bad input.

Each refusal must end on a clear page and leave the stored grant exactly as it was (same ciphertexts).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from aiohttp import web

from adapters.reconnect_web import COOKIE
from chatops.findings import Status
from chatops.model import GrantRole
from chatops.reconnect import LinkClaims
from tests.edges.reconnect.conftest import ADMIN, OTHER, USERS, WORKSPACE, MakeRig, Rig, bound_socket, query, text_of
from tests.fakes.clock import FakeClock
from tests.fakes.world import email

PLAINTEXT_SHAPES = ("ya29.", "1//", "EwB4", "1.AQEA", "00Dsim", "5Aep", "CKsim", "de3a", "rt-")


def unchanged(before: dict, after: dict) -> bool:
    keys = ("access_token_enc", "refresh_token_enc", "key_id", "scopes", "expires_at", "account", "needs_reconnect")
    return all(before[k] == after[k] for k in keys)


def credentials(rig: Rig, local: str) -> list:
    findings = rig.store.latest_findings(WORKSPACE.id, rig.connections[local].id)
    return [f for f in findings if f.check == "credentials"]


# ---------------------------------------------------------------- the way it should go, per provider


async def test_google_reconnect_stores_a_fresh_encrypted_grant_and_rediagnoses(rig: Rig) -> None:
    before = rig.raw("ana")
    old = rig.grant("ana")
    runs = len(rig.store.run_history(WORKSPACE.id))
    browser = rig.browser()

    consent_url = await browser.start(rig.link("ana"))
    asked = query(consent_url)
    landing = await browser.get(await browser.answer(consent_url))

    assert consent_url.startswith(f"{rig.simulator.base_url}/google-accounts/o/oauth2/v2/auth?")
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == f"{rig.url}/oauth/callback/google" and asked["login_hint"] == email("ana")
    assert landing.status_code == 200, text_of(landing)
    assert "Google reconnected" in text_of(landing) and "You can close this tab." in text_of(landing)
    assert "New status of ana-salesforce-google: Healthy." in text_of(landing)
    after, fresh = rig.raw("ana"), rig.grant("ana")
    assert after["access_token_enc"] != before["access_token_enc"]
    assert after["refresh_token_enc"] != before["refresh_token_enc"]
    assert fresh.refresh_token.reveal() and fresh.refresh_token != old.refresh_token  # the old one is gone
    assert not fresh.needs_reconnect and fresh.account == email("ana")
    for shape in (fresh.access_token.reveal(), fresh.refresh_token.reveal(), *PLAINTEXT_SHAPES):
        assert shape not in after["access_token_enc"] + after["refresh_token_enc"]
    assert len(rig.store.run_history(WORKSPACE.id)) == runs + 1  # the diagnosis ran again
    assert {f.status for f in credentials(rig, "ana")} == {Status.OK}


async def test_microsoft_reconnect_clears_an_idle_expired_refresh_token(rig: Rig) -> None:
    before = rig.raw("ben")

    landing = await rig.browser().reconnect(rig.link("ben"))

    assert landing.status_code == 200, text_of(landing)
    assert "Microsoft 365 reconnected" in text_of(landing)
    assert rig.raw("ben")["refresh_token_enc"] != before["refresh_token_enc"]
    assert {f.status for f in credentials(rig, "ben")} == {Status.OK}


async def test_microsoft_consent_page_is_the_tenants_authorize_endpoint(rig: Rig) -> None:
    consent_url = await rig.browser().start(rig.link("ben"))

    tenant = rig.simulator.scenario.organisation.tenant_id
    assert consent_url.startswith(f"{rig.simulator.base_url}/microsoft-login/{tenant}/oauth2/v2.0/authorize?")
    assert query(consent_url)["scope"].split() == [
        "offline_access", "openid", "email", "Mail.Read", "MailboxSettings.Read", "User.Read"]


async def test_salesforce_reconnect_of_the_crm_grant(rig: Rig) -> None:
    before = rig.raw("sam", GrantRole.CRM)

    landing = await rig.browser().reconnect(rig.link("sam", GrantRole.CRM))

    assert landing.status_code == 200, text_of(landing)
    assert "Salesforce reconnected" in text_of(landing)
    after = rig.raw("sam", GrantRole.CRM)
    assert after["refresh_token_enc"] != before["refresh_token_enc"]
    assert after["instance_url"].startswith(rig.simulator.base_url)
    assert {f.status for f in credentials(rig, "sam")} == {Status.OK}


async def test_hubspot_reconnect_at_its_app_hubspot_com_path(rig: Rig) -> None:
    browser = rig.browser()
    consent_url = await browser.start(rig.link("hana", GrantRole.CRM))
    landing = await browser.get(await browser.answer(consent_url, account=email("hana")))

    assert consent_url.startswith(f"{rig.simulator.base_url}/hubspot/oauth/authorize?")
    assert landing.status_code == 200, text_of(landing)
    assert "HubSpot reconnected" in text_of(landing)
    assert {f.status for f in credentials(rig, "hana")} == {Status.OK}


async def test_dynamics_reconnect_through_the_microsoft_sign_in(rig: Rig) -> None:
    consent_url_browser = rig.browser()
    consent_url = await consent_url_browser.start(rig.link("dora", GrantRole.CRM))
    landing = await consent_url_browser.get(await consent_url_browser.answer(consent_url))

    assert "/microsoft-login/" in consent_url and query(consent_url)["scope"].endswith("/dynamics/user_impersonation")
    assert landing.status_code == 200, text_of(landing)
    assert "Dynamics 365 reconnected" in text_of(landing)
    assert {f.status for f in credentials(rig, "dora")} == {Status.OK}


async def test_an_admin_may_reconnect_a_members_connection_with_the_members_account(rig: Rig) -> None:
    landing = await rig.browser().reconnect(rig.link("ana", user=ADMIN, admin=True), account=email("ana"))

    assert landing.status_code == 200, text_of(landing)


# ---------------------------------------------------------------- the link


async def test_a_used_link_says_so_the_second_time(rig: Rig) -> None:
    link = rig.link("ana")
    assert (await rig.browser().reconnect(link)).status_code == 200
    before = rig.raw("ana")

    again = await rig.browser().get(link)

    assert again.status_code == 410 and "This Reconnect link was already used" in text_of(again)
    assert unchanged(before, rig.raw("ana"))


async def test_an_expired_link_is_refused_before_any_sign_in(make_rig: MakeRig) -> None:
    clock = FakeClock()
    rig = await make_rig(clock=clock)
    link = rig.link("ana")
    clock.advance(minutes=16)

    page = await rig.browser().get(link)

    assert page.status_code == 410 and "This Reconnect link has expired" in text_of(page)
    assert "15 minutes" in text_of(page)


async def test_a_changed_or_foreign_link_is_not_valid(rig: Rig) -> None:
    link = rig.link("ana")
    token = link.rsplit("/", 1)[1]
    forged = link[: -len(token)] + token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    for url in (forged, f"{rig.url}/connect/not-a-token", f"{rig.url}/connect/{'x' * 3000}"):
        page = await rig.browser().get(url)
        assert page.status_code == 400 and "This Reconnect link is not valid" in text_of(page), url
        assert "Traceback" not in page.text


async def test_a_link_for_another_workspaces_connection_changes_nothing(rig: Rig) -> None:
    before = rig.raw("zed", workspace=OTHER)
    links = rig.services.core.reconnect.links  # type: ignore[union-attr]
    forged = links.prefix + links.token(LinkClaims(
        workspace_id=WORKSPACE.id, platform="slack", user_id=USERS["ana"], connection_id=rig.connections["zed"].id,
        role=GrantRole.MAIL, link_id="L1", expires_at=rig.services.core.reconnect._clock.now() + timedelta(minutes=5),
        admin=True))  # type: ignore[union-attr]

    page = await rig.browser().get(forged)

    assert page.status_code == 404 and "That connection is not in this workspace" in text_of(page)
    assert unchanged(before, rig.raw("zed", workspace=OTHER))


async def test_a_link_made_for_another_chat_user_is_refused(rig: Rig) -> None:
    before = rig.raw("ana")

    page = await rig.browser().get(rig.link("ana", user=USERS["ben"]))  # Ben's token for Ana's connection

    assert page.status_code == 403 and "This link can't change that connection" in text_of(page)
    assert unchanged(before, rig.raw("ana"))


async def test_where_the_crm_keeps_the_tokens_the_page_points_to_the_crm(rig: Rig) -> None:
    page = await rig.browser().get(rig.link("kim"))

    assert page.status_code == 409 and "Reconnect this in Salesforce" in text_of(page)


# ---------------------------------------------------------------- the consent and the callback


async def test_denied_consent_changes_nothing(rig: Rig) -> None:
    before = rig.raw("ana")

    page = await rig.browser().reconnect(rig.link("ana"), decision="deny")

    assert page.status_code == 403 and "You declined access" in text_of(page)
    assert "nothing was changed" in text_of(page)
    assert unchanged(before, rig.raw("ana"))


async def test_an_error_on_the_callback_is_explained(rig: Rig) -> None:
    before = rig.raw("ana")
    browser = rig.browser()
    state = query(await browser.start(rig.link("ana")))["state"]

    page = await browser.get(f"{rig.url}/oauth/callback/google?state={state}&error=invalid_scope&"
                             "error_description=Some+requested+scopes+were+invalid.+<script>alert(1)</script>")

    assert page.status_code == 400 and "Google refused the sign-in" in text_of(page)
    assert "invalid_scope: Some requested scopes were invalid." in text_of(page)
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert unchanged(before, rig.raw("ana"))


async def test_an_unknown_state_is_refused_without_an_exchange(rig: Rig) -> None:
    before = rig.raw("ana")
    browser = rig.browser()
    await browser.start(rig.link("ana"))  # the browser has a cookie, the state is another

    for url in (f"{rig.url}/oauth/callback/google?state=made-up&code=sim-code-x",
                f"{rig.url}/oauth/callback/google?code=sim-code-x"):
        page = await browser.get(url)
        assert page.status_code == 400, url
    assert "doesn't match a Reconnect we started" in text_of(browser.pages[-2])
    assert "incomplete" in text_of(browser.pages[-1])
    assert unchanged(before, rig.raw("ana"))


async def test_a_reused_state_is_refused(rig: Rig) -> None:
    browser = rig.browser()
    callback = await browser.answer(await browser.start(rig.link("ana")))
    assert (await browser.get(callback)).status_code == 200
    after_first = rig.raw("ana")

    again = await browser.get(callback)

    assert again.status_code == 409 and "already used" in text_of(again)
    assert unchanged(after_first, rig.raw("ana"))


async def test_a_state_older_than_ten_minutes_is_expired(make_rig: MakeRig) -> None:
    clock = FakeClock()
    rig = await make_rig(clock=clock)
    before = rig.raw("ana")
    browser = rig.browser()
    callback = await browser.answer(await browser.start(rig.link("ana")))
    clock.advance(minutes=11)

    page = await browser.get(callback)

    assert page.status_code == 410 and "This sign-in took too long" in text_of(page)
    assert unchanged(before, rig.raw("ana"))


async def test_a_callback_in_another_browser_is_refused(rig: Rig) -> None:
    before = rig.raw("ana")
    mine = rig.browser()
    callback = await mine.answer(await mine.start(rig.link("ana")))

    page = await rig.browser().get(callback)  # someone else's browser, no cookie

    assert page.status_code == 400 and "started in another browser" in text_of(page)
    assert unchanged(before, rig.raw("ana"))
    assert mine.client.cookies.get(COOKIE)


async def test_a_wrong_code_verifier_is_refused_by_the_provider(rig: Rig) -> None:
    """A code bound to another PKCE challenge (an injected code) fails the exchange with invalid_grant."""
    before = rig.raw("ana")
    browser = rig.browser()
    consent_url = await browser.start(rig.link("ana"))
    other_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B's
    injected = consent_url.replace(query(consent_url)["code_challenge"], other_challenge)

    page = await browser.get(await browser.answer(injected))

    assert page.status_code == 502 and "Google did not accept the sign-in" in text_of(page)
    assert "invalid_grant: Invalid code verifier." in text_of(page)
    assert unchanged(before, rig.raw("ana"))


# (connection, grant role, who signs in instead, provider, the simulator's token endpoint)
WRONG_ACCOUNTS = {
    "google": ("ana", GrantRole.MAIL, "sam", "/google-oauth/token"),
    "salesforce": ("sam", GrantRole.CRM, "ana", "/salesforce/services/oauth2/token"),
    "hubspot": ("hana", GrantRole.CRM, "nobody", "/hubspot/oauth/v1/token"),
}


async def _refresh(rig: Rig, provider: str, path: str, refresh_token: str) -> httpx.Response:
    """A refresh at the simulator's token endpoint, as the provider's client would send it."""
    client = rig.simulator.scenario.clients[provider]
    async with httpx.AsyncClient() as http:
        return await http.post(f"{rig.simulator.base_url}{path}", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client.client_id,
            "client_secret": client.client_secret})


@pytest.mark.parametrize("provider", sorted(WRONG_ACCOUNTS))
async def test_consent_by_another_account_changes_nothing_and_revokes_its_tokens(rig: Rig, provider: str) -> None:
    local, role, intruder, token_path = WRONG_ACCOUNTS[provider]
    before = rig.raw(local, role)

    page = await rig.browser().reconnect(rig.link(local, role), account=email(intruder))

    assert page.status_code == 403
    assert f"You signed in as {email(intruder)}, not " in text_of(page)
    label = rig.grant(local, role).provider.label
    assert f"The access {email(intruder)} gave was revoked at {label}." in text_of(page)
    assert unchanged(before, rig.raw(local, role))
    # the provider saw the revocation of the tokens the other account gave, and they work no more
    [revoked] = rig.simulator.state.revocations
    assert (revoked.provider, revoked.user) == (provider, email(intruder))
    refreshed = await _refresh(rig, provider, token_path, revoked.token)
    assert refreshed.status_code == 400 and "access_token" not in refreshed.json()


@pytest.mark.parametrize(("local", "intruder", "label"), [("ben", "dora", "Microsoft 365"),
                                                         ("dora", "ben", "Dynamics 365")])
async def test_a_wrong_microsoft_account_is_told_there_is_no_revocation(rig: Rig, local: str, intruder: str,
                                                                       label: str) -> None:
    role = GrantRole.MAIL if local == "ben" else GrantRole.CRM
    before = rig.raw(local, role)

    page = await rig.browser().reconnect(rig.link(local, role), account=email(intruder))

    assert page.status_code == 403 and unchanged(before, rig.raw(local, role))
    assert f"{label} offers apps no way to revoke a single sign-in" in text_of(page)
    assert rig.simulator.state.revocations == []


async def test_a_failing_revocation_still_ends_on_the_page_and_logs_no_token(make_rig: MakeRig, caplog) -> None:
    """Google's revoke answers 503 quoting the token: the landing page says so plainly, nothing shows a token."""
    import logging

    caplog.set_level(logging.DEBUG)
    upstream: list[str] = []
    seen: list[str] = []

    async def google_oauth(request: web.Request) -> web.StreamResponse:
        fields = dict(await request.post())
        if request.path == "/revoke":
            seen.append(str(fields.get("token", "")))
            return web.json_response({"error": "temporarily_unavailable",
                                      "error_description": f"could not revoke {fields.get('token')}"}, status=503)
        async with httpx.AsyncClient() as http:  # everything else goes to the simulated Google
            answer = await http.post(f"{upstream[0]}{request.path}", data=fields)
        return web.Response(body=answer.content, status=answer.status_code, content_type="application/json")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", google_oauth)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    try:
        rig = await make_rig(env={"CHATOPS_GOOGLE_OAUTH_URL": f"http://127.0.0.1:{sock.getsockname()[1]}"})
        upstream.append(f"{rig.simulator.base_url}/google-oauth")
        before = rig.raw("ana")

        page = await rig.browser().reconnect(rig.link("ana"), account=email("sam"))

        assert page.status_code == 403 and unchanged(before, rig.raw("ana"))
        assert f"The access {email('sam')} gave was not stored, but Google did not confirm its revocation" \
            in text_of(page)
        [token] = seen
        assert token.startswith("1//sim-")  # the refresh token was what we asked Google to revoke
        ours = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records
                         if r.name.startswith(("chatops", "adapters")))
        assert "revoking the tokens of a refused consent failed: 503" in ours
        assert token not in ours and token not in page.text
    finally:
        await runner.cleanup()


async def test_the_token_endpoint_down_changes_nothing(make_rig: MakeRig) -> None:
    closed = bound_socket()
    port = closed.getsockname()[1]
    closed.close()
    rig = await make_rig(env={"CHATOPS_GOOGLE_OAUTH_URL": f"http://127.0.0.1:{port}"})
    before = rig.raw("ana")

    page = await rig.browser().reconnect(rig.link("ana"))

    assert page.status_code == 502 and "Google's sign-in service did not answer" in text_of(page)
    assert unchanged(before, rig.raw("ana"))


async def test_the_token_endpoint_answering_html_changes_nothing(make_rig: MakeRig) -> None:
    async def portal(request: web.Request) -> web.Response:
        return web.Response(text="<html><body><h1>Acme Secure Web Gateway</h1>Sign in</body></html>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", portal)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    try:
        rig = await make_rig(env={"CHATOPS_GOOGLE_OAUTH_URL": f"http://127.0.0.1:{sock.getsockname()[1]}"})
        before = rig.raw("ana")

        page = await rig.browser().reconnect(rig.link("ana"))

        assert page.status_code == 502 and "answered something unexpected" in text_of(page)
        assert "HTML instead of JSON" in text_of(page)
        assert unchanged(before, rig.raw("ana"))
    finally:
        await runner.cleanup()


async def test_two_callbacks_racing_for_one_link_store_once(rig: Rig) -> None:
    link = rig.link("ana")
    first, second = rig.browser(), rig.browser()
    callbacks = [await b.answer(await b.start(link)) for b in (first, second)]

    pages = await asyncio.gather(first.get(callbacks[0]), second.get(callbacks[1]))

    assert sorted(p.status_code for p in pages) == [200, 410]


async def test_no_token_or_code_reaches_the_page_or_our_log(rig: Rig, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    browser = rig.browser()
    callback = await browser.answer(await browser.start(rig.link("ana")))
    code, state = query(callback)["code"], query(callback)["state"]

    landing = await browser.get(callback)

    fresh = rig.grant("ana")
    ours = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records
                     if r.name.startswith(("chatops", "adapters")))
    assert landing.status_code == 200 and "reconnect stored a fresh grant" in ours
    for secret in (fresh.access_token.reveal(), fresh.refresh_token.reveal(), code, state):
        assert secret not in landing.text and secret not in ours
