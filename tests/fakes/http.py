"""Router: canned answers for httpx.MockTransport by (method, host, path); unknown routes fail the test.

Usage::

    router = Router()
    router.add("GET", "www.googleapis.com", "/gmail/v1/users/me/profile", json=fixture("google/profile.json"))
    router.add("GET", "graph.microsoft.com", "/v1.0/me/messages", status=429, headers={"Retry-After": "2"})
    router.add("GET", "graph.microsoft.com", "/v1.0/me/messages", json={"value": []})  # the 2nd call
    client = SomeProviderClient(router.client(), ...)
    ...
    assert [r.url.path for r in router.calls] == [...]

Rules:

- A route matches on the method, the host (``"127.0.0.1:8080"`` also matches the port) and the exact
  path. ``query={"maxResults": "1"}`` narrows a route to requests carrying those query parameters (other
  parameters may be present too); routes with a query are tried before routes without one.
- Several ``add`` calls for the same route answer successive calls in order; the last answer then
  repeats, so a route added once answers every call.
- ``error=httpx.ConnectError`` (a class or an instance) raises instead of answering, the way a refused
  connection or a timeout surfaces from a real transport.
- A request that matches no route fails the test at once (``pytest.fail``, which ``except Exception``
  in the code under test cannot swallow), naming the request and the known routes.
- ``router.calls`` holds every request in order, bodies already read; ``router.sleeps`` every wait the
  retrying transport asked for (the client built by ``router.client()`` never really sleeps).
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from adapters.providers.http import build_http_client


@dataclass(slots=True)
class Answer:
    """One canned answer: a response to build, or an httpx error to raise."""

    status: int = 200
    json: Any = None
    text: str | None = None
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    error: type[httpx.HTTPError] | httpx.HTTPError | None = None

    def respond(self, request: httpx.Request) -> httpx.Response:
        if self.error is not None:
            if isinstance(self.error, BaseException):
                raise self.error
            raise _make_error(self.error, request)
        headers = dict(self.headers or {})
        if self.content is not None:
            return httpx.Response(self.status, content=self.content, headers=headers, request=request)
        if self.text is not None:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return httpx.Response(self.status, text=self.text, headers=headers, request=request)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            return httpx.Response(self.status, content=jsonlib.dumps(self.json).encode(), headers=headers,
                                  request=request)
        return httpx.Response(self.status, headers=headers, request=request)


def _make_error(kind: type[httpx.HTTPError], request: httpx.Request) -> httpx.HTTPError:
    message = f"{kind.__name__} (simulated by Router)"
    if issubclass(kind, httpx.RequestError):
        return kind(message, request=request)
    return kind(message)


@dataclass(slots=True)
class Route:
    method: str
    host: str
    path: str
    query: Mapping[str, str] | None = None
    answers: list[Answer] = field(default_factory=list)
    hits: int = 0

    def matches(self, request: httpx.Request) -> bool:
        url = request.url
        if request.method != self.method or url.path != self.path:
            return False
        if self.host not in (url.host, f"{url.host}:{url.port}"):
            return False
        if self.query is not None:
            return all(value in url.params.get_list(key) for key, value in self.query.items())
        return True

    def next_answer(self) -> Answer:
        answer = self.answers[min(self.hits, len(self.answers) - 1)]
        self.hits += 1
        return answer

    def __str__(self) -> str:
        query = f"?{'&'.join(f'{k}={v}' for k, v in self.query.items())}" if self.query else ""
        return f"{self.method} {self.host}{self.path}{query}"


class Router:
    """An httpx.MockTransport handler serving canned answers per (method, host, path); see the module doc."""

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self.calls: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def add(
        self, method: str, host: str, path: str, *, status: int = 200, json: Any = None,
        text: str | None = None, content: bytes | None = None, headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None, error: type[httpx.HTTPError] | httpx.HTTPError | None = None,
    ) -> Router:
        """Add one answer for a route (a later `add` for the same route answers the next call)."""
        method = method.upper()
        frozen = dict(query) if query is not None else None
        route = next((r for r in self._routes
                      if (r.method, r.host, r.path, r.query) == (method, host, path, frozen)), None)
        if route is None:
            route = Route(method, host, path, frozen)
            self._routes.append(route)
        route.answers.append(Answer(status, json, text, content, headers, error))
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        candidates = [r for r in self._routes if r.matches(request)]
        route = next((r for r in candidates if r.query is not None), None) or next(iter(candidates), None)
        if route is None:
            known = "\n  ".join(str(r) for r in self._routes) or "(none)"
            pytest.fail(f"Router: no route for {request.method} {request.url}\nknown routes:\n  {known}",
                        pytrace=False)
        return route.next_answer().respond(request)

    def requests(self, method: str | None = None, path: str | None = None) -> list[httpx.Request]:
        """The recorded requests, optionally only those with this method and/or path."""
        return [r for r in self.calls
                if (method is None or r.method == method.upper()) and (path is None or r.url.path == path)]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self, **options: Any) -> httpx.AsyncClient:
        """The shared client (retries, timeouts, user agent) over this router; sleeps recorded, not slept."""

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return build_http_client(transport=self.transport(), sleep=sleep, **options)
