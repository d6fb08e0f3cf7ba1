"""Chatops: the one entry the edges call (CLI, Slack, Teams, scheduler)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chatops.history import StoreHistory
from chatops.model import Connection
from chatops.report import Report
from chatops.runner import OnFinding, Runner
from chatops.store import Store


class Chatops:
    def __init__(self, store: Store, runner: Runner) -> None:
        self.store = store
        self.runner = runner

    async def diagnose(
        self, workspace_id: str, connections: Sequence[Connection], *, only: Sequence[str] | None = None,
        on_finding: OnFinding | None = None,
    ) -> Report:
        """Diagnose the connections of one workspace and keep the report."""
        history = StoreHistory(self.store, workspace_id)
        report = await self.runner.diagnose(connections, history, only=only, on_finding=on_finding)
        await asyncio.to_thread(self.store.record_report, workspace_id, report.findings,
                                started_at=report.started_at, finished_at=report.finished_at)
        return report
