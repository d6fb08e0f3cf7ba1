"""Prometheus metrics for `GET /metrics`: HTTP requests and their latency (a slash command's ack), checks run."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from chatops.report import Report

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Slack wants an ack within 3 s; the buckets resolve the fast end and the limit.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 10.0)


class Metrics:
    """One registry per app (no global state), so tests and several apps in one process don't mix."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("chatops_http_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("chatops_http_request_seconds", "Time to answer (for Slack: the ack)",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.checks = Counter("chatops_checks", "Check findings produced, by check, cause and status",
                              ["check", "cause", "status"], registry=self.registry)
        self.diagnoses = Histogram("chatops_diagnosis_seconds", "Wall time of one diagnosis run",
                                   registry=self.registry)

    def observe_report(self, report: Report) -> None:
        for finding in report.findings:
            self.checks.labels(finding.check, finding.cause.value, finding.status.value).inc()
        self.diagnoses.observe((report.finished_at - report.started_at).total_seconds())

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        began = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.requests.labels(route, str(status)).inc()
            self.latency.labels(route).observe(time.perf_counter() - began)

    async def endpoint(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
