"""The web app's own endpoints over a real socket: health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from adapters.web import build_app
from adapters.wiring import Config, build
from chatops.classify import default_classifier
from chatops.model import Connection, Provider, Workspace


def config(tmp_path: Path) -> Config:
    return Config.load({"CHATOPS_DATA_DIR": str(tmp_path), "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
                        "CHATOPS_ENCRYPTION_KEYS": "", "CHATOPS_HUBSPOT_URL": "http://127.0.0.1:1"})


async def test_health_readiness_and_metrics(tmp_path: Path) -> None:
    services = build(config(tmp_path))
    server = TestServer(build_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.make_url("/healthz")) as health:
                assert (health.status, await health.json()) == (200, {"status": "ok"})
            async with http.get(server.make_url("/readyz")) as ready:
                assert (ready.status, await ready.json()) == (200, {"status": "ok", "database": "ok"})
            async with http.get(server.make_url("/nope")) as missing:
                assert missing.status == 404

            services.store.ensure_workspace(Workspace("local", "Acme"))
            imap = Connection(id="", workspace_id="local", name="kai", owner_email="kai@acme.example",
                              crm=Provider.HUBSPOT, crm_user_email="kai@acme.example",
                              mailbox_provider=Provider.IMAP, mailbox_email="kai@acme.example",
                              mail_host="mail.invalid")
            [stored] = services.store.import_connections("local", [imap])
            await services.core.diagnose("local", [stored], only=["network"])

            async with http.get(server.make_url("/metrics")) as metrics:
                text = await metrics.text()
                assert metrics.status == 200 and metrics.content_type.startswith("text/plain")
    finally:
        await server.close()

    assert 'chatops_http_requests_total{route="/healthz",status="200"} 1.0' in text
    assert 'chatops_http_requests_total{route="unmatched",status="404"} 1.0' in text
    assert 'chatops_http_request_seconds_bucket{le="0.1",route="/readyz"} 1.0' in text
    # mail.invalid:993, mail.invalid:587 and the HubSpot host on a closed port
    assert 'chatops_checks_total{cause="network",check="network",status="fail"} 3.0' in text
    assert "chatops_diagnosis_seconds_count 1.0" in text


async def test_the_log_catalog_loads_in_a_thread_at_start_not_on_the_loop_in_the_first_diagnosis(
        tmp_path: Path) -> None:
    # Loading it took 0.45 s of the event loop inside the first diagnosis after a start, holding every ack.
    default_classifier.cache_clear()
    server = TestServer(build_app(build(config(tmp_path))), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.make_url("/readyz")) as ready:
            assert ready.status == 200
        deadline = time.monotonic() + 10
        while default_classifier.cache_info().currsize == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await server.close()

    assert default_classifier.cache_info().currsize == 1
