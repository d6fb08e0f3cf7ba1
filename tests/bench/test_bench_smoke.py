"""CI smoke: `python -m bench --quick` runs all five benchmarks and prints their figures (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.shared import ROOT


@pytest.mark.timeout(900)
def test_every_benchmark_runs_and_prints_its_figures() -> None:
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    out = done.stdout

    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    for figure in ("ack p99, 50 concurrent", "time to card, hubspot+google, L=50 ms", "audit of 150 connections",
                   "refused by the simulator", "classify 100,000 lines", "chatops --help",
                   "chatops serve -> /readyz (restart)"):
        assert figure in out
    assert "== summary (quick) ==" in out
    summary = json.loads((ROOT / "bench" / "results" / "summary-quick.json").read_text(encoding="utf-8"))
    assert summary["failed"] == []
    assert set(summary["results"]) == {"ack", "time_to_card", "fleet", "classify", "cold_start"}
    for rows in summary["results"].values():
        assert rows and all(isinstance(row["value"], int | float) for row in rows)
