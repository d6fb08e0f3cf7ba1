"""Report: the findings of one diagnosis run, grouped per connection, with an overall status."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chatops.findings import Cause, Finding, Status
from chatops.model import Connection


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status; OK when there is nothing but OK or SKIPPED."""
    ranked = max(statuses, key=lambda s: s.rank, default=Status.OK)
    return Status.OK if ranked is Status.SKIPPED else ranked


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    connection: Connection
    findings: tuple[Finding, ...]

    @property
    def status(self) -> Status:
        """The worst finding; SKIPPED ("not checked") when nothing was checked yet."""
        if not self.findings:
            return Status.SKIPPED
        return worst(f.status for f in self.findings)

    @property
    def problems(self) -> tuple[Finding, ...]:
        """Non-ok findings, worst first."""
        bad = [f for f in self.findings if f.status in (Status.FAIL, Status.ERROR, Status.WARN)]
        return tuple(sorted(bad, key=lambda f: -f.status.rank))

    @property
    def causes(self) -> tuple[Cause, ...]:
        return tuple(dict.fromkeys(f.cause for f in self.problems))


@dataclass(frozen=True, slots=True)
class Report:
    connections: tuple[ConnectionReport, ...]
    started_at: datetime
    finished_at: datetime

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for c in self.connections for f in c.findings)

    @property
    def status(self) -> Status:
        return worst(c.status for c in self.connections)

    @property
    def healthy(self) -> bool:
        return self.status is Status.OK

    def counts(self) -> Counter[Status]:
        return Counter(c.status for c in self.connections)

    def cause_counts(self) -> Counter[Cause]:
        return Counter(cause for c in self.connections for cause in c.causes)

    def worst_first(self) -> tuple[ConnectionReport, ...]:
        return tuple(sorted(self.connections, key=lambda c: (-c.status.rank, c.connection.name)))

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.findings]

    @classmethod
    def build(cls, connections: Sequence[Connection], findings: Iterable[Finding], started_at: datetime,
              finished_at: datetime) -> Report:
        by_connection: dict[str, list[Finding]] = {c.id: [] for c in connections}
        for finding in findings:
            by_connection.setdefault(finding.connection_id, []).append(finding)
        return cls(
            tuple(ConnectionReport(c, tuple(by_connection[c.id])) for c in connections),
            started_at, finished_at,
        )
