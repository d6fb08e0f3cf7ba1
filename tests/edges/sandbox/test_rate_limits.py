"""The simulator's per-provider rate limits (scenario `rate_limits`), and the client's limits keeping under them."""

from __future__ import annotations

import json

import httpx
import pytest

from adapters.providers.http import build_http_client, provider_route
from adapters.sandbox.scenario import ScenarioError, parse_scenario
from adapters.sandbox.simulator import start_simulator
from bench.common import scenario_data


def scenario(**limits: float) -> str:
    return json.dumps(scenario_data(3, rate_limits=limits))


async def test_past_its_limit_a_provider_answers_its_rate_limit_error_and_others_do_not() -> None:
    sim = await start_simulator(parse_scenario(scenario(google=3), source="limits.json"))
    try:
        async with httpx.AsyncClient() as http:
            google = [await http.get(sim.url("google") + "/gmail/v1/users/me/profile") for _ in range(6)]
            graph = [await http.get(sim.url("graph") + "/v1.0/me") for _ in range(6)]
    finally:
        await sim.stop()

    refused = [r for r in google if r.status_code == 429]
    assert len(refused) == 3  # a bucket of one second: 3 at once, then nothing until it refills
    assert refused[0].headers["Retry-After"] == "1"
    assert refused[0].json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert not [r for r in graph if r.status_code == 429]
    assert (sim.state.served["google"], sim.state.throttled["google"]) == (6, 3)
    assert sim.state.throttled["microsoft"] == 0


async def test_a_client_limited_to_the_providers_rate_is_never_refused() -> None:
    sim = await start_simulator(parse_scenario(scenario(google=20), source="limits.json"))
    try:
        route = provider_route({sim.url("google"): "google"})
        async with build_http_client(rate_limits={"google": 20}, route=route, retries=0) as http:
            answers = [await http.get(sim.url("google") + "/gmail/v1/users/me/profile") for _ in range(30)]
    finally:
        await sim.stop()

    assert [a.status_code for a in answers if a.status_code == 429] == []
    assert sim.state.served["google"] == 30


@pytest.mark.parametrize("limits", [{"google": 0}, {"slack": 5}, {"google": "fast"}])
def test_a_rate_limit_is_a_known_provider_and_at_least_one_call_a_second(limits: dict[str, object]) -> None:
    data = scenario_data(1)
    data["rate_limits"] = limits
    with pytest.raises(ScenarioError, match="rate_limits"):
        parse_scenario(json.dumps(data), source="limits.json")
