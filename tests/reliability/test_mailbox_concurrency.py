"""Microsoft Graph allows 4 concurrent requests per app per mailbox (MailboxConcurrency, a 429 past that): 100
checks against one mailbox (two Graph calls each) keep to 4 in flight, and another mailbox is not held up by the first.

The Graph side is a local server over a real socket that answers like Graph and counts requests in flight per
mailbox; the client is the product's own, on the product's own HTTP client."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from adapters.providers.http import build_http_client
from adapters.providers.microsoft import MicrosoftClient
from adapters.providers.settings import ProviderSettings
from chatops.clock import SystemClock
from chatops.model import Grant, GrantRole, Provider

LIMIT = 4  # learn.microsoft.com/graph/throttling-limits: Outlook service, 4 concurrent requests per mailbox
ANSWER_S = 0.05


@dataclass
class Graph:
    url: str = ""
    in_flight: Counter[str] = field(default_factory=Counter)
    most: Counter[str] = field(default_factory=Counter)
    refused: int = 0


@pytest.fixture
async def graph() -> AsyncIterator[Graph]:
    state = Graph()

    async def me(request: web.Request) -> web.Response:
        mailbox = request.headers["Authorization"].removeprefix("Bearer ")  # each test token names its mailbox
        state.in_flight[mailbox] += 1
        state.most[mailbox] = max(state.most[mailbox], state.in_flight[mailbox])
        try:
            if state.in_flight[mailbox] > LIMIT:
                state.refused += 1
                return web.json_response({"error": {
                    "code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit."}},
                    status=429, headers={"Retry-After": "1"})
            await asyncio.sleep(ANSWER_S)
            if request.path.endswith("/mailboxSettings"):
                return web.json_response({"timeZone": "W. Europe Standard Time"})
            return web.json_response({"mail": mailbox, "userPrincipalName": mailbox, "displayName": "Ben",
                                      "proxyAddresses": [f"SMTP:{mailbox}"]})
        finally:
            state.in_flight[mailbox] -= 1

    app = web.Application()
    app.router.add_get("/v1.0/me", me)
    app.router.add_get("/v1.0/me/mailboxSettings", me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield state
    finally:
        await runner.cleanup()


def grant(mailbox: str, n: int = 0) -> Grant:
    return Grant(id=f"g-{mailbox}-{n}", role=GrantRole.MAIL, provider=Provider.MICROSOFT, account=mailbox)


async def test_a_hundred_checks_against_one_mailbox_keep_to_four_in_flight(graph: Graph) -> None:
    http = build_http_client(timeout_s=10)
    client = MicrosoftClient(http, ProviderSettings(microsoft_graph_url=graph.url), SystemClock())
    try:
        shared, other = "ben@acme.example", "ana@acme.example"
        loop = asyncio.get_running_loop()
        started = loop.time()
        # several grants (connections) may point at one mailbox: the limit is the mailbox's, not the grant's
        calls = [client.mailbox(grant(shared, n % 3), shared) for n in range(100)]
        calls += [client.mailbox(grant(other), other) for _ in range(LIMIT)]
        answers = await asyncio.gather(*calls)
        took = loop.time() - started
    finally:
        await http.aclose()

    assert len(answers) == 104 and all(a.primary_address for a in answers)
    assert graph.most[shared] == LIMIT, graph.most  # as many as allowed, never more
    assert graph.refused == 0  # no MailboxConcurrency 429
    assert graph.most[other] == LIMIT  # the other mailbox was not queued behind the first
    assert took < 2 * 100 / LIMIT * ANSWER_S * 3, took  # two calls per check, queued four at a time
