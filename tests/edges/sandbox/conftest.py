"""Fixtures for the provider simulator: a scenario with one user per fault, a running simulator, a client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml

from adapters.sandbox.scenario import Scenario, load_scenario
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from tests.edges.sandbox.fault_scenario import fault_scenario

# One TLS context for every client: building one per test costs more than the test.
_TLS = httpx.create_ssl_context()


@pytest.fixture(scope="session")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "faults.yaml"
    path.write_text(yaml.safe_dump(fault_scenario(), sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def scenario(scenario_file: Path) -> Scenario:
    """Immutable, so one for the session; each simulator keeps its own state."""
    return load_scenario(str(scenario_file))


@pytest.fixture
async def sim(scenario: Scenario) -> AsyncIterator[RunningSimulator]:
    running = await start_simulator(scenario)
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, verify=_TLS) as client:
        yield client
