"""The aiohttp application that hosts every HTTP endpoint of the product (health first; chat platforms mount here)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from aiohttp import web

from adapters import reconnect_web, slack, teams
from adapters.metrics import Metrics
from adapters.wiring import Services
from chatops.classify import Classifier, default_classifier
from chatops.errors import StoreError

log = logging.getLogger(__name__)

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
WARMING: web.AppKey[asyncio.Future[Classifier]] = web.AppKey("warming")
WORKER_THREADS: Final = 64  # threads for blocking store calls; they mostly wait on the database, not the CPU


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers too."""
    services = request.app[SERVICES]
    try:
        await asyncio.wait_for(asyncio.to_thread(services.store.ping), timeout=3)
    except (StoreError, TimeoutError) as exc:
        return web.json_response({"status": "unavailable", "database": str(exc) or "timed out"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def build_app(services: Services) -> web.Application:
    metrics = Metrics()
    app = web.Application(client_max_size=1024 * 1024, middlewares=[metrics.middleware])
    app[SERVICES] = services
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics.endpoint)
    services.core.report_observers.append(metrics.observe_report)
    slack.mount(app, services)  # POST /slack/events (+ install routes); nothing when Slack is not configured
    teams.mount(app, services)  # POST /api/messages; nothing without MICROSOFT_APP_ID or the Teams demo
    reconnect_web.mount(app, services)  # GET /connect/<token>, GET /oauth/callback/<provider>

    async def threads(_: web.Application) -> None:
        # Every store call runs in a worker thread (asyncio.to_thread). asyncio's default pool, min(32, CPUs + 4)
        # threads, filled up with a burst's post-ack writes waiting their turn, and the next requests' acks
        # (an installation and a count to read) queued behind them past Slack's 3 s (tests/reliability/test_load.py)
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="chatops"))

    async def warm(_: web.Application) -> None:
        # The log classifier's catalog loads on first use: 0.45 s of the event loop in the first diagnosis after
        # a start, every ack waiting behind it. Loaded in a worker thread instead, while /readyz already answers.
        app[WARMING] = asyncio.get_running_loop().run_in_executor(None, default_classifier)

    async def close(_: web.Application) -> None:
        await services.close()

    app.on_startup.append(threads)
    app.on_startup.append(warm)
    app.on_cleanup.append(close)
    return app
