"""The shared httpx client: timeouts, Retry-After aware retries of idempotent calls, no tokens in logs."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.providers.errors import expect_json, retry_after, translate

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_RETRIES = 2
MAX_RETRY_WAIT_S = 5.0  # a longer Retry-After is the provider's answer, not something to wait out in a check
USER_AGENT = "chatops-syncdoctor/0.1"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})

Sleep = Callable[[float], Awaitable[None]]


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


def build_http_client(
    *, timeout_s: float = DEFAULT_TIMEOUT_S, transport: httpx.AsyncBaseTransport | None = None,
    retries: int = DEFAULT_RETRIES, max_connections: int = 100, sleep: Sleep = asyncio.sleep,
) -> httpx.AsyncClient:
    """The one AsyncClient every provider client receives (tests pass a MockTransport)."""
    inner = transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=max_connections))
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
