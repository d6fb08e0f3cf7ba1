"""The Bot Framework's OpenID metadata slow (10 s) or down while activities arrive: the keys held keep validating
at once, the event loop is never blocked, and a refresh is not repeated for every request. A local endpoint over a
real socket plays login.botframework.com."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from adapters.teams.auth import OpenIdKeys
from tests.edges.teams.tokens import jwk, new_key

SLOW_S = 10.0


@dataclass
class Metadata:
    url: str = ""
    slow: bool = False
    down: bool = False
    requests: int = 0


@pytest.fixture
async def metadata() -> AsyncIterator[Metadata]:
    state = Metadata()
    key = jwk(new_key(), "k1", ["msteams"])

    async def document(request: web.Request) -> web.Response:
        state.requests += 1
        if state.slow:
            await asyncio.sleep(SLOW_S)
        if state.down:
            return web.Response(status=503)
        return web.json_response({"issuer": "https://api.botframework.com",
                                  "jwks_uri": f"{state.url.rsplit('/', 1)[0]}/keys"})

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"keys": [key]})

    app = web.Application()
    app.router.add_get("/v1/openidconfiguration", document)
    app.router.add_get("/v1/keys", keys)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    state.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1/openidconfiguration"
    try:
        yield state
    finally:
        await runner.cleanup()


async def lag_while(work: asyncio.Future[object] | asyncio.Task[object]) -> float:
    """The longest the event loop was late for a 10 ms tick while `work` ran."""
    worst = 0.0
    while not work.done():
        before = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - before - 0.01)
    return worst


async def test_held_keys_answer_at_once_while_the_daily_refresh_is_slow(metadata: Metadata) -> None:
    keys = OpenIdKeys(metadata.url, max_age_s=0.2)
    assert await keys.get("k1") is not None
    await asyncio.sleep(0.3)  # the key set is now due for its refresh
    metadata.slow = True

    started = time.monotonic()
    asked = asyncio.gather(*(keys.get("k1") for _ in range(20)))
    lag = await lag_while(asked)
    found = await asked
    took = time.monotonic() - started

    assert all(k is not None and k.kid == "k1" for k in found)
    assert took < 1.0, took  # not the 5 s metadata timeout, let alone the 10 s the endpoint takes
    assert lag < 0.1, lag
    await asyncio.sleep(0.2)
    assert metadata.requests == 2  # one refresh, behind the twenty requests, not one each
    assert await keys.get("k1") is not None and metadata.requests == 2  # nor one more while it runs


async def test_an_unknown_kid_while_the_endpoint_is_slow_does_not_hold_up_known_keys(metadata: Metadata) -> None:
    keys = OpenIdKeys(metadata.url, unknown_kid_refresh_s=0.1)
    assert await keys.get("k1") is not None
    await asyncio.sleep(0.2)  # an unknown kid may now look the key set up again
    metadata.slow = True

    started = time.monotonic()
    unknown = asyncio.gather(*(keys.get(f"k-rolled-{n}") for n in range(5)))
    await asyncio.sleep(0.05)
    known = await keys.get("k1")

    assert known is not None and time.monotonic() - started < 0.5
    assert await unknown == [None] * 5  # given up: a 403, not a hang or a 500
    assert time.monotonic() - started < 7.0  # within the metadata timeout, well inside Teams' 15 s
    assert metadata.requests == 2  # one lookup for the five unknown kids


async def test_held_keys_keep_working_when_the_refresh_fails(metadata: Metadata) -> None:
    keys = OpenIdKeys(metadata.url, max_age_s=0.2)
    assert await keys.get("k1") is not None
    await asyncio.sleep(0.3)
    metadata.down = True

    for _ in range(3):
        assert await keys.get("k1") is not None
        await asyncio.sleep(0.05)
