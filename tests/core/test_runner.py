"""The runner's envelope: concurrency, per-check timeout, crash isolation, deadline, skipped checks."""

from __future__ import annotations

import asyncio

import pytest

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


def connection(n: int, crm: Provider = Provider.SALESFORCE) -> Connection:
    return Connection(id=f"c{n}", workspace_id="w", name=f"conn-{n}", owner_email=f"u{n}@acme.example",
                      crm=crm, crm_user_email=f"u{n}@acme.example", mailbox_provider=Provider.GOOGLE,
                      mailbox_email=f"u{n}@acme.example")


async def healthy(ctx: CheckContext) -> list[Finding]:
    return [ctx.ok("all good")]


async def hangs(ctx: CheckContext) -> list[Finding]:
    await asyncio.sleep(3600)
    return []


async def crashes(ctx: CheckContext) -> list[Finding]:
    raise ZeroDivisionError("boom")


def runner(*specs: CheckSpec, deadline_s: float = 5.0, concurrency: int = 8) -> Runner:
    return Runner(checks={s.name: s for s in specs}, providers=NO_PROVIDERS, probe=NoProbe(), clock=FakeClock(),
                  concurrency=concurrency, deadline_s=deadline_s)


async def test_a_hanging_check_is_an_error_for_itself_only() -> None:
    report = await runner(
        CheckSpec("good", Cause.OTHER, healthy),
        CheckSpec("slow", Cause.NETWORK, hangs, timeout_s=0.1),
    ).diagnose([connection(1)], MemoryHistory())

    by_check = {f.check: f for f in report.findings}
    assert by_check["good"].status is Status.OK
    assert by_check["slow"].status is Status.ERROR
    assert by_check["slow"].cause is Cause.NETWORK
    assert by_check["slow"].summary == "The slow check gave no answer within 0.1 s, so it was stopped."


async def test_a_crashing_check_is_an_error_and_names_the_exception() -> None:
    report = await runner(CheckSpec("good", Cause.OTHER, healthy), CheckSpec("bad", Cause.OTHER, crashes)) \
        .diagnose([connection(1), connection(2)], MemoryHistory())

    statuses = sorted((f.connection_id, f.check, f.status.value) for f in report.findings)
    assert statuses == [("c1", "bad", "error"), ("c1", "good", "ok"), ("c2", "bad", "error"), ("c2", "good", "ok")]
    assert all("ZeroDivisionError" in f.summary for f in report.findings if f.check == "bad")
    assert report.status is Status.ERROR


async def test_the_overall_deadline_turns_unfinished_pairs_into_errors() -> None:
    report = await runner(CheckSpec("slow", Cause.OTHER, hangs, timeout_s=60), deadline_s=0.2) \
        .diagnose([connection(1), connection(2)], MemoryHistory())

    assert [(f.connection_id, f.status) for f in report.findings] == [("c1", Status.ERROR), ("c2", Status.ERROR)]
    assert all("deadline" in f.summary for f in report.findings)


async def test_checks_that_do_not_apply_are_skipped_and_do_not_count_as_problems() -> None:
    only_hubspot = CheckSpec("hub", Cause.RATE_LIMIT, healthy, applies=lambda c: c.crm is Provider.HUBSPOT)
    report = await runner(only_hubspot).diagnose([connection(1)], MemoryHistory())

    [finding] = report.findings
    assert finding.status is Status.SKIPPED
    assert report.healthy


async def test_concurrency_is_bounded() -> None:
    running = 0
    peak = 0

    async def counted(ctx: CheckContext) -> list[Finding]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return [ctx.ok("fine")]

    report = await runner(CheckSpec("c", Cause.OTHER, counted), concurrency=3) \
        .diagnose([connection(i) for i in range(20)], MemoryHistory())

    assert len(report.findings) == 20
    assert peak == 3


async def test_findings_stream_to_the_callback_as_they_arrive() -> None:
    seen: list[str] = []

    async def on_finding(finding: Finding) -> None:
        seen.append(finding.connection_id)

    await runner(CheckSpec("good", Cause.OTHER, healthy)).diagnose(
        [connection(1), connection(2)], MemoryHistory(), on_finding=on_finding)

    assert sorted(seen) == ["c1", "c2"]


async def test_checks_share_one_answer_per_session_key() -> None:
    calls = 0

    async def read_once(ctx: CheckContext) -> list[Finding]:
        async def fetch() -> int:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            return 42

        value = await ctx.session.once("mailbox", fetch)
        return [ctx.ok(f"value {value}")]

    report = await runner(CheckSpec("a", Cause.OTHER, read_once), CheckSpec("b", Cause.OTHER, read_once)) \
        .diagnose([connection(1)], MemoryHistory())

    assert calls == 1
    assert [f.summary for f in report.findings] == ["value 42", "value 42"]


@pytest.mark.parametrize("statuses, expected", [
    ((Status.OK, Status.SKIPPED), Status.OK),
    ((Status.OK, Status.WARN), Status.WARN),
    ((Status.WARN, Status.ERROR, Status.FAIL), Status.FAIL),
])
def test_the_worst_status_wins(statuses: tuple[Status, ...], expected: Status) -> None:
    from chatops.report import worst

    assert worst(statuses) is expected
