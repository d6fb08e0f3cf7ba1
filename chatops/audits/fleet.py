"""Audit every connection of a workspace without tripping the quotas it reports on.

Connections are diagnosed in batches, one after another: a batch holds at most `batch` connections and at
most `per_provider` that call the same provider, so no provider sees more than that many connections' checks
at once (inside a batch the runner's own concurrency bound applies). When a provider answered 429 with
Retry-After, the next batch that needs it waits that long first; the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from chatops.findings import Finding
from chatops.model import Connection, Provider
from chatops.report import Report

if TYPE_CHECKING:
    from chatops.core import Chatops

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    batch: int = 50
    per_provider: int = 8
    max_pause: timedelta = timedelta(seconds=60)


def providers_of(connection: Connection) -> frozenset[Provider]:
    found = {connection.crm, connection.mailbox_provider}
    if connection.calendar_provider is not None:
        found.add(connection.calendar_provider)
    return frozenset(found)


def batches(connections: Sequence[Connection], limits: Limits) -> list[list[Connection]]:
    """Greedy packing in the given order: each batch within both bounds, every connection in one batch."""
    left = list(connections)
    out: list[list[Connection]] = []
    while left:
        batch: list[Connection] = []
        counts: Counter[Provider] = Counter()
        rest: list[Connection] = []
        for connection in left:
            wanted = providers_of(connection)
            if len(batch) < limits.batch and all(counts[p] < limits.per_provider for p in wanted):
                batch.append(connection)
                counts.update(wanted)
            else:
                rest.append(connection)
        out.append(batch)
        left = rest
    return out


async def audit(core: Chatops, workspace_id: str, connections: Sequence[Connection],
                limits: Limits = Limits()) -> Report:
    """Diagnose `connections` batch by batch (one stored run per batch); one report for all of them."""
    clock = core.runner.clock
    started = clock.now()
    paused_until: dict[Provider, float] = {}
    loop = asyncio.get_running_loop()
    findings: list[Finding] = []
    for batch in batches(connections, limits):
        wait = max((paused_until.get(p, 0.0) for c in batch for p in providers_of(c)), default=0.0) - loop.time()
        if wait > 0:
            log.info("waiting %.1f s for a provider's Retry-After before the next batch", wait,
                     extra={"workspace": workspace_id})
            await asyncio.sleep(wait)
        report = await core.diagnose(workspace_id, batch)
        findings.extend(report.findings)
        by_id = {c.id: c for c in batch}
        for finding in report.findings:
            retry_after = finding.details.get("retry_after_s")
            if isinstance(retry_after, int | float) and retry_after > 0 and finding.connection_id in by_id:
                pause = min(float(retry_after), limits.max_pause.total_seconds())
                provider = by_id[finding.connection_id].crm  # the quota check's 429s are the CRM's
                paused_until[provider] = max(paused_until.get(provider, 0.0), loop.time() + pause)
    return Report.build(connections, findings, started, clock.now())
