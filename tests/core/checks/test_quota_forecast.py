"""A quota forecast from a trickle of use against a vast limit: no forecast, not a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.findings import Status
from tests.fakes.world import World, diagnose, part

pytestmark = pytest.mark.timeout(120)


async def test_a_vast_daily_limit_with_one_call_used_is_ok_without_a_forecast(tmp_path: Path) -> None:
    # Found by bench/fleet.py: 1 call of 100,000,000 "runs out" after the year 9999, and the check crashed
    # with OverflowError (an `error` finding) instead of saying the quota is fine.
    world = World()
    world.orgs["hubspot"].append({"id": "hs-vast", "hub_id": 62599, "daily": {"limit": 10**12, "used": 1}})
    vast = world.person("vast", crm="hubspot", crm_org="hs-vast")
    report = await diagnose(world, tmp_path, checks=["quota"])

    findings = [f for f in part(report, vast).findings if f.check == "quota"]
    assert findings and all(f.status is Status.OK for f in findings), [f.summary for f in findings]
    assert all(f.details.get("runs_out_at") is None for f in findings)
