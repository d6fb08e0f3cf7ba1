"""The shared httpx client: timeouts, Retry-After aware retries of idempotent calls, no tokens in logs.

The provider clients speak httpx (tests give them an httpx.MockTransport); on the wire the requests go
through aiohttp's connection pool (AiohttpTransport), not httpcore's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
import httpx

from adapters.providers.errors import expect_json, retry_after, translate
from chatops.errors import ConfigError
from chatops.model import Provider

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2
MAX_RETRY_WAIT_S = 5.0  # a longer Retry-After is the provider's answer, not something to wait out in a check
USER_AGENT = "chatops-syncdoctor/0.1"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_NOT_FORWARDED: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})  # aiohttp's own

Sleep = Callable[[float], Awaitable[None]]
Route = Callable[[httpx.URL], str | None]  # which provider a request goes to, if any

# Where a request goes when no configured base URL says: the vendors' own domains (instance and org URLs).
VENDOR_DOMAINS: Final = (
    ("googleapis.com", "google"), ("google.com", "google"), ("microsoftonline.com", "microsoft"),
    ("microsoft.com", "microsoft"), ("salesforce.com", "salesforce"), ("force.com", "salesforce"),
    ("hubapi.com", "hubspot"), ("hubspot.com", "hubspot"), ("dynamics.com", "dynamics"),
)


class RetryTransport(httpx.AsyncBaseTransport):
    """Retries idempotent requests on 429/502/503/504 and connect errors, honouring Retry-After."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, retries: int = DEFAULT_RETRIES,
        max_wait_s: float = MAX_RETRY_WAIT_S, sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._retries = retries
        self._max_wait_s = max_wait_s
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 0
        while True:
            retryable = request.method in _IDEMPOTENT and attempt < self._retries
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.ConnectError:
                if not retryable:
                    raise
                await self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            if not retryable or response.status_code not in _RETRY_STATUSES:
                return response
            wait = retry_after(response.headers)
            wait_s = wait.total_seconds() if wait is not None else self._backoff(attempt)
            if wait_s > self._max_wait_s:
                return response
            await response.aread()
            await response.aclose()
            log.info("retrying %s %s after %s (%.1f s)", request.method, request.url.host,
                     response.status_code, wait_s)
            await self._sleep(wait_s)
            attempt += 1

    @staticmethod
    def _backoff(attempt: int) -> float:
        return float(min(MAX_RETRY_WAIT_S, 0.2 * 2**attempt) * (0.5 + random.random() / 2))

    async def aclose(self) -> None:
        await self._inner.aclose()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent over aiohttp's connection pool; answers, timeouts and failures as httpx gives them.

    httpcore 1.0's pool scans every waiting request against every pooled connection whenever one is queued
    or returned. With many calls waiting (an audit's fan-out, or a burst of diagnoses while a provider
    hangs) the event loop spends its time there: about 300 calls/s at 32 in flight where aiohttp makes
    2,000, and slash-command acks that waited seconds behind it (README, Benchmarks).
    """

    def __init__(self, *, max_connections: int = 100, keepalive_s: float = 5.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None

    def _client(self) -> aiohttp.ClientSession:
        # made on first use, inside the event loop that uses it
        if self._session is None or self._session.closed:
            if self._ssl is None:
                import certifi  # the CA bundle httpx verifies with

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s,
                                             ssl=self._ssl)
            # httpx keeps the cookies and decodes gzip itself; aiohttp passes the bytes through untouched
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  cookie_jar=aiohttp.DummyCookieJar())
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = request.extensions.get("timeout", {})
        connect, pool = limits.get("connect"), limits.get("pool")
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=limits.get("read"),
                                        connect=None if connect is None or pool is None else connect + pool)
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _NOT_FORWARDED]
        try:
            async with self._client().request(
                request.method, str(request.url), headers=headers, data=await request.aread() or None,
                allow_redirects=False, timeout=timeout,
            ) as answer:
                body = await answer.read()
                return httpx.Response(answer.status, headers=answer.raw_headers, content=body, request=request,
                                      extensions={"http_version": b"HTTP/1.1",
                                                  "reason_phrase": (answer.reason or "").encode()})
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out connecting", request=request) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out reading", request=request) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                aiohttp.ClientResponseError) as exc:  # closed or cut off mid-answer, or not HTTP
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        except aiohttp.ClientOSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class TokenBucket:
    """At most `rate` calls a second on average and `burst` at once; callers wait their turn, in order."""

    def __init__(self, rate: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be above 0")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)  # 100 ms worth: a provider's window
        self._tokens = self.burst                                        # never sees a burst it did not allow
        self._clock = clock
        self._sleep = sleep
        self._stamp = clock()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / self.rate
                await self._sleep(wait)
                self._stamp, self._tokens = now + wait, 1.0
            self._tokens -= 1


class PerKeyLimit:
    """At most `limit` holders of a slot per key at once (e.g. Graph's 4 requests per mailbox); others wait.

    A key's semaphore lives only while someone holds or waits for it, so a fleet of keys costs nothing at rest.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("a concurrency limit must be at least 1")
        self._limit = limit
        self._keys: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        key = key.lower()
        semaphore, users = self._keys.setdefault(key, (asyncio.Semaphore(self._limit), [0]))
        users[0] += 1
        try:
            async with semaphore:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)


class RateLimitTransport(httpx.AsyncBaseTransport):
    """Every call (and retry) to a provider with a rate limit waits for that provider's bucket; others go on.

    Fan-out over many connections is bounded by the runner's concurrency and by these per-provider limits,
    so an audit never trips the quotas it reports on (the simulator's rate limits check it: bench/fleet.py).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, buckets: Mapping[str, TokenBucket], route: Route) -> None:
        self._inner = inner
        self._buckets = buckets
        self._route = route

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        provider = self._route(request.url)
        bucket = self._buckets.get(provider) if provider is not None else None
        if bucket is not None:
            await bucket.take()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def parse_rate_limits(text: str) -> dict[str, float]:
    """CHATOPS_RATE_LIMITS: "google=500,hubspot=10" (calls per second per provider) as a dict."""
    limits: dict[str, float] = {}
    known = {p.value for p in Provider if p is not Provider.IMAP}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        try:
            rate = float(value)
        except ValueError:
            rate = 0.0
        if name.strip() not in known or not rate > 0:
            raise ConfigError(f"CHATOPS_RATE_LIMITS: {item!r} is not provider=calls-per-second with a provider "
                              f"of {', '.join(sorted(known))} and a number above 0")
        limits[name.strip()] = rate
    return limits


def provider_route(base_urls: Mapping[str, str]) -> Route:
    """The provider of a URL: the longest configured base URL it starts with, else the vendor's domain."""
    prefixes = sorted(((url.rstrip("/") + "/", provider) for url, provider in base_urls.items() if url),
                      key=lambda item: -len(item[0]))

    def route(url: httpx.URL) -> str | None:
        text = str(url)
        for prefix, provider in prefixes:
            if text.startswith(prefix):
                return provider
        host = url.host
        return next((p for domain, p in VENDOR_DOMAINS if host == domain or host.endswith("." + domain)), None)

    return route


def build_http_client(
    *, timeout_s: float = DEFAULT_TIMEOUT_S, transport: httpx.AsyncBaseTransport | None = None,
    retries: int = DEFAULT_RETRIES, max_connections: int = 100, sleep: Sleep = asyncio.sleep,
    rate_limits: Mapping[str, float] | None = None, route: Route | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient every provider client receives (tests pass a MockTransport).

    Args:
        rate_limits: calls per second per provider ("google": 500); `route` tells a request's provider.
    """
    inner: httpx.AsyncBaseTransport = transport or AiohttpTransport(max_connections=max_connections)
    if rate_limits:
        buckets = {provider: TokenBucket(rate) for provider, rate in rate_limits.items()}
        inner = RateLimitTransport(inner, buckets, route or provider_route({}))
    return httpx.AsyncClient(
        transport=RetryTransport(inner, retries=retries, sleep=sleep),
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, DEFAULT_CONNECT_TIMEOUT_S)),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


async def call_json(
    client: httpx.AsyncClient, method: str, url: str, *, provider: str, token: str | None = None,
    **kwargs: Any,
) -> tuple[Any, httpx.Headers]:
    """Send one request and return (JSON body, headers), or raise the ProviderError it means."""
    headers = dict(kwargs.pop("headers", None) or {})
    headers.setdefault("Accept", "application/json")
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        response = await client.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise translate(exc, provider) from exc
    return expect_json(response, provider), response.headers
