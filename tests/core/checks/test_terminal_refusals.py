"""Scenario 21: a refresh the provider refuses for good marks the grant needs_reconnect after one token call,
so no later run nor any other replica asks the token endpoint again until Reconnect; a refusal that can
recover (MFA, Conditional Access, IP restrictions, a wrong client secret) marks nothing."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.network import SocketProbe
from adapters.providers.oauth import refresh_token, token_set
from chatops.checks import credentials
from chatops.checks.base import CheckContext, History, Session
from chatops.findings import ActionKind, Cause, Finding, Status
from chatops.history import StoreHistory
from chatops.model import Connection, Grant, GrantRole, Provider, Secret, Workspace
from chatops.ports import OAuthApi, Providers, TokenSet
from chatops.store import Store
from tests.fakes.clock import FakeClock
from tests.fakes.history import MemoryHistory
from tests.fakes.http import Router

HOST = "login.example.test"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
WS = "slack:TACME"
OK_BODY = {"access_token": "FAKE-new-access", "expires_in": 3599, "scope": "openid email",
           "token_type": "Bearer"}


class TokenEndpoint:
    """The OAuth port over HTTP: the real refresh request and error translation, answered by a Router."""

    def __init__(self, router: Router, provider: Provider) -> None:
        self.router = router
        self.provider = provider

    def required_scopes(self, role: GrantRole) -> frozenset[str]:
        return frozenset()

    async def refresh(self, grant: Grant) -> TokenSet:
        async with self.router.client() as http:
            body = await refresh_token(http, token_url=f"https://{HOST}/token", client_id="app", client_secret="s",
                                       refresh_token=grant.refresh_token.reveal(), provider=self.provider.value)
        return token_set(body, now=NOW, scopes_fallback=grant.scopes)


def connection(provider: Provider, grant_id: str = "g1") -> Connection:
    crm = provider if provider in (Provider.SALESFORCE, Provider.HUBSPOT, Provider.DYNAMICS) else Provider.HUBSPOT
    mail = provider if provider in (Provider.GOOGLE, Provider.MICROSOFT) else Provider.GOOGLE
    role = GrantRole.MAIL if provider is mail else GrantRole.CRM
    grant = Grant(id=grant_id, provider=provider, role=role, account="ana@acme.example",
                  scopes=frozenset({"openid", "email"}), access_token=Secret("FAKE-old-access"),
                  refresh_token=Secret("FAKE-refresh"), expires_at=NOW - timedelta(minutes=5))
    return Connection(id="c1", workspace_id=WS, name="ana", owner_email="ana@acme.example", crm=crm,
                      crm_user_email="ana@acme.example", mailbox_provider=mail,
                      mailbox_email="ana@acme.example", grants=(grant,))


async def run_credentials(conn: Connection, router: Router, history: History) -> Finding:
    """One run of the credentials check in a fresh Session (what a Retest, a sweep or another replica does)."""
    provider = conn.grants[0].provider
    oauth: dict[Provider, OAuthApi] = {provider: TokenEndpoint(router, provider)}
    clock = FakeClock(NOW)
    session = Session(conn, Providers(oauth=oauth, mail={}, calendar={}, crm={}, endpoints={}), history, clock)
    ctx = CheckContext(spec=credentials.CHECK, session=session, probe=SocketProbe(), clock=clock,
                       log=logging.LoggerAdapter(logging.getLogger("test"), {}))
    try:
        [finding] = await credentials.check_credentials(ctx)
    finally:
        session.close()
    return finding


def refusal(status: int, body: dict[str, Any]) -> Router:
    return Router().add("POST", HOST, "/token", status=status, json=body)


def aadsts(code: int, text: str) -> dict[str, Any]:
    return {"error": "invalid_grant", "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0000",
            "error_codes": [code]}


TERMINAL = [
    pytest.param(Provider.GOOGLE, 400, {"error": "invalid_grant",
                                        "error_description": "Token has been expired or revoked."}, id="google"),
    pytest.param(Provider.MICROSOFT, 400, aadsts(700082, "The refresh token has expired due to inactivity."),
                 id="AADSTS700082"),
    pytest.param(Provider.MICROSOFT, 400, aadsts(70008, "The provided authorization code or refresh token has "
                                                        "expired due to inactivity."), id="AADSTS70008"),
    pytest.param(Provider.MICROSOFT, 400, aadsts(50173, "The provided grant has expired due to it being revoked."),
                 id="AADSTS50173"),
    pytest.param(Provider.DYNAMICS, 400, aadsts(700084, "The refresh token was issued to a single page app "
                                                        "(SPA), and therefore has a fixed, limited lifetime."),
                 id="AADSTS700084"),
    pytest.param(Provider.SALESFORCE, 400, {"error": "invalid_grant",
                                            "error_description": "expired access/refresh token"}, id="salesforce"),
    pytest.param(Provider.HUBSPOT, 400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh "
                                         "token", "correlationId": "x"}, id="hubspot"),
]

RECOVERABLE = [
    pytest.param(Provider.MICROSOFT, 400, aadsts(50076, "you must use multi-factor authentication."), id="MFA"),
    pytest.param(Provider.MICROSOFT, 400, aadsts(53003, "Access has been blocked by Conditional Access policies."),
                 id="conditional-access"),
    pytest.param(Provider.MICROSOFT, 401, {"error": "invalid_client", "error_description":
                                           "AADSTS7000215: Invalid client secret provided."}, id="client-secret"),
    pytest.param(Provider.SALESFORCE, 400, {"error": "invalid_grant", "error_description": "ip restricted"},
                 id="salesforce-ip"),
    pytest.param(Provider.SALESFORCE, 400, {"error": "invalid_grant",
                                            "error_description": "login hours restricted"}, id="login-hours"),
    pytest.param(Provider.GOOGLE, 400, {"error": "invalid_grant", "error_description": "Bad Request"},
                 id="google-bad-request"),
]


@pytest.mark.parametrize(("provider", "status", "body"), TERMINAL)
async def test_a_terminal_refusal_calls_the_token_endpoint_once_and_marks_the_grant(
        provider: Provider, status: int, body: dict[str, Any]) -> None:
    router, history, conn = refusal(status, body), MemoryHistory(), connection(provider)

    finding = await run_credentials(conn, router, history)

    assert len(router.requests("POST", "/token")) == 1
    assert history.marked == {"g1"}
    assert (finding.status, finding.cause) == (Status.FAIL, Cause.CREDENTIALS)
    assert [a.kind for a in finding.actions] == [ActionKind.RECONNECT]


@pytest.mark.parametrize(("provider", "status", "body"), RECOVERABLE)
async def test_a_refusal_that_can_recover_marks_nothing(provider: Provider, status: int, body: dict[str, Any]) -> None:
    router, history = refusal(status, body), MemoryHistory()

    finding = await run_credentials(connection(provider), router, history)

    assert finding.status is Status.FAIL
    assert history.marked == set() and len(router.requests("POST", "/token")) == 1


async def test_a_marked_grant_is_refused_without_a_token_call_and_still_offers_reconnect() -> None:
    router, history = Router(), MemoryHistory()  # any call would fail the test: the router has no route
    conn = connection(Provider.GOOGLE)
    marked = replace(conn, grants=(replace(conn.grants[0], needs_reconnect=True),))

    finding = await run_credentials(marked, router, history)

    assert router.calls == []
    assert (finding.status, finding.cause, finding.details["code"]) == (Status.FAIL, Cause.CREDENTIALS,
                                                                        "needs_reconnect")
    assert finding.summary.startswith("Google access was refused for good on an earlier check")
    assert finding.remedy == ("Click Reconnect and sign in again with the same account.",)
    assert [(a.kind, a.target) for a in finding.actions] == [(ActionKind.RECONNECT, "c1:mail")]


async def test_over_the_store_the_mark_holds_for_every_replica_until_new_tokens_clear_it(store: Store) -> None:
    store.ensure_workspace(Workspace(WS, "Acme", platform="slack", external_id="TACME"))
    added = store.add_connection(WS, connection(Provider.MICROSOFT, grant_id=""))
    router = refusal(400, aadsts(700082, "The refresh token has expired due to inactivity."))
    router.add("POST", HOST, "/token", json=OK_BODY)  # what the endpoint answers after a Reconnect
    replica_a, replica_b = StoreHistory(store, WS), StoreHistory(store, WS)

    first = await run_credentials(store.get_connection(WS, added.id), router, replica_a)
    assert first.details["code"] == "AADSTS700082" and len(router.calls) == 1
    assert store.get_connection(WS, added.id).grants[0].needs_reconnect

    again = await run_credentials(store.get_connection(WS, added.id), router, replica_a)
    other = await run_credentials(store.get_connection(WS, added.id), router, replica_b)
    assert len(router.calls) == 1  # neither the next run nor another replica asked the token endpoint
    for finding in (again, other):
        assert (finding.status, finding.details["code"]) == (Status.FAIL, "needs_reconnect")
        assert [a.kind for a in finding.actions] == [ActionKind.RECONNECT]

    grant_id = added.grants[0].id
    store.save_tokens(WS, grant_id, TokenSet("FAKE-consented", NOW + timedelta(hours=1), frozenset(),
                                             refresh_token="FAKE-new-refresh"))  # what Reconnect stores
    assert not store.get_connection(WS, added.id).grants[0].needs_reconnect
    after = await run_credentials(store.get_connection(WS, added.id), router, replica_b)
    assert after.status is Status.OK and len(router.calls) == 2
