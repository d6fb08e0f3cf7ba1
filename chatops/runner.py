"""diagnose(): every applicable check of every connection, concurrently, under a deadline and a bound."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from chatops.checks.base import CheckContext, CheckSpec, History, Session, Thresholds
from chatops.findings import Finding, Status
from chatops.model import Connection
from chatops.ports import Clock, NetworkProbe, Providers
from chatops.report import Report

log = logging.getLogger(__name__)

OnFinding = Callable[[Finding], Awaitable[None] | None]
OnConnection = Callable[[Connection, Sequence[Finding]], Awaitable[None] | None]
"""Told once per connection, with all its findings, when its last check is done (a card filling in)."""


@dataclass(frozen=True, slots=True)
class Runner:
    """Everything a diagnosis needs besides the connections; built once by the wiring."""

    checks: Mapping[str, CheckSpec]
    providers: Providers
    probe: NetworkProbe
    clock: Clock
    concurrency: int = 32
    deadline_s: float = 25.0
    check_timeout_s: float = 10.0
    thresholds: Thresholds = Thresholds()

    async def diagnose(
        self, connections: Sequence[Connection], history: History, *,
        only: Sequence[str] | None = None, on_finding: OnFinding | None = None,
        on_connection: OnConnection | None = None, write_probe: bool = False,
    ) -> Report:
        """Run the checks; a check that hangs or crashes yields an `error` finding for itself only."""
        started = self.clock.now()
        specs = [spec for name, spec in self.checks.items() if only is None or name in only]
        sessions = [Session(c, self.providers, history, self.clock) for c in connections]
        findings: list[Finding] = []

        async def emit(batch: list[Finding]) -> None:
            findings.extend(batch)
            if on_finding is not None:
                for finding in batch:
                    result = on_finding(finding)
                    if result is not None:
                        await result

        # `concurrency` workers take (connection, check) pairs in turn: a task per pair held 80,000 waiting
        # coroutines for an audit of 10,000 connections (bench/fleet.py). A connection's answers are let go
        # as soon as its last check is done.
        work = ((s, spec) for s in sessions for spec in specs)
        left = {id(s): len(specs) for s in sessions}
        # a connection's own findings, kept only for on_connection (a fleet audit keeps none twice)
        own: dict[int, list[Finding]] = {id(s): [] for s in sessions} if on_connection is not None else {}

        async def worker() -> None:
            for session, spec in work:
                batch = await self._run_one(session, spec, write_probe)
                await emit(batch)
                left[id(session)] -= 1
                if on_connection is not None:
                    own[id(session)].extend(batch)
                if not left[id(session)]:
                    session.close()
                    if on_connection is not None:
                        result = on_connection(session.connection, own.pop(id(session)))
                        if result is not None:
                            await result

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(sessions) * len(specs)))]
        try:
            done, pending = await asyncio.wait(tasks, timeout=self.deadline_s) if tasks else (set(), set())
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                seen = {(f.connection_id, f.check) for f in findings}
                late = [
                    self._error(spec, s.connection, f"{spec.name} check did not finish before the "
                                f"{self.deadline_s:g} s deadline of this diagnosis.")
                    for s in sessions for spec in specs if (s.connection.id, spec.name) not in seen
                ]
                await emit(late)
        finally:
            for session in sessions:
                session.close()
        order = {name: i for i, name in enumerate(self.checks)}
        findings.sort(key=lambda f: order.get(f.check, len(order)))
        return Report.build(connections, findings, started, self.clock.now())

    async def _run_one(self, session: Session, spec: CheckSpec, write_probe: bool) -> list[Finding]:
        connection = session.connection
        if not spec.applies(connection):
            return [Finding(spec.name, connection.id, Status.SKIPPED, spec.cause,
                            f"The {spec.name} check does not apply to this connection.")]
        ctx = CheckContext(
            spec=spec, session=session, probe=self.probe, clock=self.clock,
            log=logging.LoggerAdapter(log, {"workspace": connection.workspace_id,
                                            "connection": connection.id, "check": spec.name}),
            thresholds=self.thresholds, write_probe=write_probe,
        )
        timeout_s = spec.timeout_s or self.check_timeout_s
        began = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                result = await spec.run(ctx)
        except TimeoutError:
            result = [self._error(spec, connection, f"The {spec.name} check gave no answer within "
                                                    f"{timeout_s:g} s, so it was stopped.")]
        except Exception as exc:  # the runner is the one place that catches everything
            ctx.log.exception("check crashed")
            result = [self._error(spec, connection, f"The {spec.name} check failed unexpectedly "
                                                    f"({type(exc).__name__}).")]
        elapsed = int((time.perf_counter() - began) * 1000)
        return [f.timed(elapsed) for f in result]

    @staticmethod
    def _error(spec: CheckSpec, connection: Connection, summary: str) -> Finding:
        return Finding(spec.name, connection.id, Status.ERROR, spec.cause, summary,
                       remedy=("Click Retest; if it happens again, contact support with this message.",))
