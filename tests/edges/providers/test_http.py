"""The shared client on real 127.0.0.1 sockets: aiohttp on the wire, httpx answers and failures to the clients."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from adapters.providers.http import (
    AiohttpTransport,
    RateLimitTransport,
    RetryTransport,
    TokenBucket,
    build_http_client,
    call_json,
    parse_rate_limits,
    provider_route,
)
from chatops.errors import BadResponse, ConfigError, Unavailable
from tests.fakes.net import closed_port, raw_server, silent_listener


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        answer = web.json_response({"method": request.method, "query": dict(request.query), "body": body.decode(),
                                    "agent": request.headers.get("User-Agent"),
                                    "auth": request.headers.get("Authorization")})
        answer.headers.add("X-Twice", "1")
        answer.headers.add("X-Twice", "2")
        return answer

    async def zipped(request: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(b'{"zipped": true}'), content_type="application/json",
                            headers={"Content-Encoding": "gzip"})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"error": {"code": 404, "message": "Not Found"}}, status=404)

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/zipped", zipped)
    app.router.add_get("/missing", missing)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_requests_and_answers_cross_the_wire_as_httpx_sends_and_reads_them(server: str) -> None:
    async with build_http_client() as http:
        got = await http.post(f"{server}/echo", params={"q": "a b"}, data={"grant_type": "refresh_token"},
                              headers={"Authorization": "Bearer t0k"})
        zipped = await http.get(f"{server}/zipped")
        missing = await http.get(f"{server}/missing")

    assert got.status_code == 200
    assert got.json() == {"method": "POST", "query": {"q": "a b"}, "body": "grant_type=refresh_token",
                          "agent": "chatops-syncdoctor/0.1", "auth": "Bearer t0k"}
    assert got.headers.get_list("X-Twice") == ["1", "2"]
    assert zipped.json() == {"zipped": True}  # httpx decodes, as with its own transport
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Not Found"


async def test_a_silent_host_is_a_read_timeout() -> None:
    async with silent_listener() as silent, build_http_client(timeout_s=0.3, retries=0) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(f"http://127.0.0.1:{silent.port}/")
        with pytest.raises(Unavailable) as caught:
            await call_json(http, "GET", f"http://127.0.0.1:{silent.port}/", provider="google")

    assert caught.value.code == "timeout"


async def test_a_closed_port_is_a_connect_error() -> None:
    async with build_http_client(retries=0) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{closed_port()}/")
        with pytest.raises(Unavailable) as caught:
            await call_json(http, "GET", f"http://127.0.0.1:{closed_port()}/", provider="google")

    assert caught.value.code == "connect"


async def test_an_answer_cut_off_mid_body_is_a_truncated_answer() -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\": "
    async with raw_server(cut) as host, build_http_client(retries=0) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(f"http://127.0.0.1:{host.port}/")
        with pytest.raises(BadResponse) as caught:
            await call_json(http, "GET", f"http://127.0.0.1:{host.port}/", provider="hubspot")

    assert caught.value.code == "truncated"


async def test_a_thousand_calls_queue_for_a_full_pool_in_linear_time() -> None:
    # httpcore's pool rescans every waiting call against every connection whenever one is queued: 1,000 calls
    # to a host that hangs took 28 s of event loop to queue (0.7 s here), and chat acks waited behind it.
    async with silent_listener() as silent, \
            httpx.AsyncClient(transport=AiohttpTransport(max_connections=100), timeout=30) as http:
        started = time.perf_counter()
        calls = [asyncio.create_task(http.get(f"http://127.0.0.1:{silent.port}/{n}")) for n in range(1000)]
        await asyncio.sleep(0.01)  # returns once every call has run up to its wait for the pool or the answer
        queued = time.perf_counter() - started
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)

    assert queued < 5.0


# ---------------------------------------------------------------- per-provider rate limits


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_token_bucket_spaces_calls_at_its_rate_after_its_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(5, burst=2, clock=fake.clock, sleep=fake.sleep)

    for _ in range(12):
        await bucket.take()

    assert fake.now == pytest.approx(10 / 5)  # 2 at once, then one every 0.2 s
    assert len(fake.slept) == 10


async def test_only_the_limited_providers_calls_wait_and_retries_count_too() -> None:
    fake = FakeTime()
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        return httpx.Response(429 if len(seen) == 1 else 200, headers={"Retry-After": "0"}, json={})

    route = provider_route({"https://oauth2.googleapis.com": "google", "https://api.hubapi.com": "hubspot"})
    limited = RateLimitTransport(httpx.MockTransport(answer),
                                 {"google": TokenBucket(10, burst=1, clock=fake.clock, sleep=fake.sleep)}, route)
    async with httpx.AsyncClient(transport=RetryTransport(limited, sleep=fake.sleep)) as http:
        await http.get("https://gmail.googleapis.com/gmail/v1/users/me/profile")  # a 429, retried: 2 calls
        await http.get("https://gmail.googleapis.com/gmail/v1/users/me/profile")
        for _ in range(5):
            await http.get("https://api.hubapi.com/crm/v3/owners")

    assert len(seen) == 8
    assert fake.now == pytest.approx(2 * 0.1)  # three google calls, one token each at 10/s; hubspot unlimited


def test_a_url_belongs_to_its_configured_base_url_else_to_its_vendor() -> None:
    route = provider_route({"http://127.0.0.1:9/google": "google", "http://127.0.0.1:9/google-oauth": "google",
                            "http://127.0.0.1:9/salesforce": "salesforce", "": "dynamics"})

    assert route(httpx.URL("http://127.0.0.1:9/salesforce/services/data/v62.0/limits")) == "salesforce"
    assert route(httpx.URL("http://127.0.0.1:9/google-oauth/token")) == "google"
    assert route(httpx.URL("https://acme.my.salesforce.com/services/data")) == "salesforce"
    assert route(httpx.URL("https://acme.crm4.dynamics.com/api/data/v9.2/WhoAmI")) == "dynamics"
    assert route(httpx.URL("https://graph.microsoft.com/v1.0/me")) == "microsoft"
    assert route(httpx.URL("http://127.0.0.1:9/elsewhere")) is None
    assert route(httpx.URL("https://notgoogleapis.com/")) is None


def test_rate_limits_are_read_from_one_setting() -> None:
    assert parse_rate_limits("") == {}
    assert parse_rate_limits(" google=500, hubspot=10 ,") == {"google": 500.0, "hubspot": 10.0}
    for bad in ("google", "google=0", "google=fast", "imap=5", "slack=5"):
        with pytest.raises(ConfigError, match="CHATOPS_RATE_LIMITS"):
            parse_rate_limits(bad)
