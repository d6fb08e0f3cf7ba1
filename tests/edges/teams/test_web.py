"""`chatops serve`'s app mounts /api/messages only when Teams is configured (credentials, or the demo)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.web import build_app
from adapters.wiring import Config, Services
from chatops.store import Store
from tests.edges.teams.conftest import CHECKS, NO_PROVIDERS, NoProbe


def routes(store: Store, tmp_path: Path) -> set[str]:
    from chatops.clock import SystemClock
    from chatops.core import Chatops
    from chatops.runner import Runner

    core = Chatops(store, Runner(checks=CHECKS, providers=NO_PROVIDERS, probe=NoProbe(), clock=SystemClock()))
    app = build_app(Services(Config.load({"CHATOPS_DATA_DIR": str(tmp_path)}), store, httpx.AsyncClient(), core))
    return {r.resource.canonical for r in app.router.routes() if r.resource is not None}


def test_the_demo_mounts_the_teams_endpoint(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATOPS_TEAMS_DEMO", "1")

    assert "/api/messages" in routes(store, tmp_path)


def test_nothing_configured_leaves_it_off(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHATOPS_TEAMS_DEMO", "MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TYPE"):
        monkeypatch.delenv(name, raising=False)

    assert "/api/messages" not in routes(store, tmp_path)
