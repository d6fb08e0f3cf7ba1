"""Keeping a big run's findings: all of them, in bounded memory."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

from chatops.findings import Cause, Evidence, Finding, Status
from chatops.model import Workspace
from chatops.store import REPORT_BATCH, Store

W = "slack:TACME"


def test_a_run_of_ten_thousand_findings_is_kept_whole_in_bounded_memory(store: Store) -> None:
    # An audit of 10,000 connections has 80,000 findings; their rows built at once took 400 MB (bench/fleet.py).
    store.ensure_workspace(Workspace(W, "Acme"))
    findings = [Finding("quota", f"c{n}", Status.OK, Cause.RATE_LIMIT, "The daily API limit is at 10%.",
                        evidence=(Evidence("DailyApiRequests", "10,000 of 100,000 used (10%)"),),
                        details={"percent": 10.0}) for n in range(10 * REPORT_BATCH + 7)]
    now = datetime.now(UTC)

    tracemalloc.start()
    try:
        store.record_report(W, findings, started_at=now, finished_at=now)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 2**20  # one slice of rows at a time (all of them at once: about 17 MB here)
    assert [f.summary for f in store.latest_findings(W, "c0")] == ["The daily API limit is at 10%."]
    assert store.latest_findings(W, f"c{10 * REPORT_BATCH + 6}")
