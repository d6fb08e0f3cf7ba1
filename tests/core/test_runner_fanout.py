"""A diagnosis of many connections holds `concurrency` tasks, not one per (connection, check)."""

from __future__ import annotations

import asyncio

from chatops.checks.base import CheckContext, CheckSpec
from chatops.findings import Cause, Finding, Status
from chatops.model import Connection, Provider
from chatops.ports import Providers
from chatops.runner import Runner
from tests.fakes.clock import FakeClock
from tests.fakes.history import MemoryHistory

NO_PROVIDERS = Providers(oauth={}, mail={}, calendar={}, crm={}, endpoints={})


class NoProbe:
    async def probe(self, endpoint, timeout_s):  # type: ignore[no-untyped-def]
        raise AssertionError("no check here probes the network")


def connection(n: int) -> Connection:
    return Connection(id=f"c{n}", workspace_id="w", name=f"conn-{n}", owner_email=f"u{n}@acme.example",
                      crm=Provider.SALESFORCE, crm_user_email=f"u{n}@acme.example",
                      mailbox_provider=Provider.GOOGLE, mailbox_email=f"u{n}@acme.example")


async def test_a_fleet_is_worked_through_by_as_many_tasks_as_the_concurrency() -> None:
    # One task per (connection, check) held 80,000 waiting coroutines for an audit of 10,000 connections
    # (bench/fleet.py); `concurrency` workers hold only what is running.
    most = 0

    async def counts(ctx: CheckContext) -> list[Finding]:
        nonlocal most
        most = max(most, len(asyncio.all_tasks()))
        await ctx.session.once("answer", lambda: asyncio.sleep(0, result=1))  # shared by a connection's checks
        return [ctx.ok("counted")]

    specs = [CheckSpec(f"check{i}", Cause.OTHER, counts) for i in range(4)]
    runner = Runner(checks={s.name: s for s in specs}, providers=NO_PROVIDERS, probe=NoProbe(), clock=FakeClock(),
                    concurrency=10)
    report = await runner.diagnose([connection(n) for n in range(300)], MemoryHistory())

    assert len(report.findings) == 1200 and {f.status for f in report.findings} == {Status.OK}
    assert most <= 1 + 10 + 10  # the test's own task, the workers, and one shared answer each at most
