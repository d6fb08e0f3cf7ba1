"""The progress driver between the runner and a chat message: throttled, within a budget, never after the end.

The chat platform is the boundary here: a recording CardUpdater stands in for it; the runner, the checks
(test-local, with chosen durations), the cards and the driver are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from chatops.cards import CHECKING, Card
from chatops.chat import MessageRef, Reply
from chatops.checks.base import CheckContext, CheckSpec
from chatops.findings import Cause, Finding
from chatops.model import Connection, Provider
from chatops.ports import Providers
from chatops.progress import Progress
from chatops.runner import Runner
from tests.fakes.clock import FakeClock
from tests.fakes.history import MemoryHistory

NO_PROVIDERS = Providers(oauth={}, mail={}, calendar={}, crm={}, endpoints={})
MESSAGE = MessageRef("C0GENERAL", "", "https://hooks.example/r/1")


class NoProbe:
    async def probe(self, endpoint, timeout_s):  # type: ignore[no-untyped-def]
        raise AssertionError("no check here probes the network")


@dataclass
class Chat:
    """The platform's side: every update it was asked for, when, and whether it takes them."""

    takes: bool = True
    latency_s: float = 0.0
    updates: list[tuple[float, Reply]] = field(default_factory=list)
    landed: list[float] = field(default_factory=list)

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        assert (workspace_id, message) == ("w", MESSAGE)
        self.updates.append((time.monotonic(), reply))
        await asyncio.sleep(self.latency_s)
        self.landed.append(time.monotonic())
        return self.takes


def connection(name: str) -> Connection:
    return Connection(id=f"id-{name}", workspace_id="w", name=name, owner_email="ana@acme.example",
                      crm=Provider.SALESFORCE, crm_user_email="ana@acme.example", mailbox_provider=Provider.GOOGLE,
                      mailbox_email="ana@acme.example")


async def takes_its_time(ctx: CheckContext) -> list[Finding]:
    """A connection named `<anything>-<seconds>` takes that long; `broken-*` fails."""
    await asyncio.sleep(float(ctx.connection.name.rsplit("-", 1)[1]))
    if ctx.connection.name.startswith("broken"):
        return [ctx.fail("Gmail access was revoked.")]
    return [ctx.ok("Fine.")]


RUNNER = Runner(checks={"timing": CheckSpec("timing", Cause.OTHER, takes_its_time, timeout_s=30)},
                providers=NO_PROVIDERS, probe=NoProbe(), clock=FakeClock())


async def run(progress: Progress, names: list[str]) -> float:
    """Diagnose as Chatops.diagnosis_reply does; returns when the final card could go out."""
    connections = [connection(n) for n in names]
    progress.watch(connections)
    try:
        await RUNNER.diagnose(connections, MemoryHistory(), on_connection=progress.finished)
    finally:
        await progress.close()
    return time.monotonic()


def shown(card: Card | None) -> str:
    assert card is not None
    return json.dumps([repr(b) for b in card.blocks], ensure_ascii=False)


async def test_finished_connections_show_their_result_and_the_others_checking() -> None:
    chat = Chat()
    started = time.monotonic()

    await run(Progress(chat, "w", MESSAGE, interval_s=0.2), ["broken-fast-0.05", "slow-0.6"])

    [(at, reply)] = chat.updates
    assert at - started >= 0.2  # nothing before the first interval is out
    text = shown(reply.card)
    assert "broken-fast-0.05: Gmail access was revoked." in text
    assert f"slow-0.6: {CHECKING}" in text and "Checked 1 of 2" in text
    assert reply.replace_original and reply.text == "Checked 1 of 2 connections…"
    assert "Buttons(" not in text  # buttons come with the final card only


async def test_a_quick_diagnosis_shows_no_progress_at_all() -> None:
    chat = Chat()

    await run(Progress(chat, "w", MESSAGE, interval_s=0.3), ["a-0.01", "b-0.05", "c-0.1"])

    assert chat.updates == []


async def test_updates_are_throttled_and_stop_at_the_budget() -> None:
    chat = Chat()
    names = [f"c{n}-{0.05 * n:.2f}" for n in range(1, 21)]  # one connection finishes every 50 ms for 1 s

    await run(Progress(chat, "w", MESSAGE, interval_s=0.15, updates=3), names)

    times = [at for at, _ in chat.updates]
    assert len(times) == 3
    assert all(b - a >= 0.14 for a, b in zip(times, times[1:], strict=False)), times
    checked = [int(r.text.split()[1]) for _, r in chat.updates]
    assert checked == sorted(checked) and checked[0] < checked[-1] < 20


async def test_without_a_budget_the_interval_alone_limits_updates() -> None:
    chat = Chat()
    names = [f"c{n}-{0.05 * n:.2f}" for n in range(1, 21)]

    await run(Progress(chat, "w", MESSAGE, interval_s=0.15), names)

    assert 4 <= len(chat.updates) <= 7, len(chat.updates)  # ~1 s of finishes at one update per 0.15 s


async def test_an_update_on_the_wire_lands_before_close_returns() -> None:
    chat = Chat(latency_s=0.4)

    final_at = await run(Progress(chat, "w", MESSAGE, interval_s=0.1), ["a-0.02", "b-0.15"])

    [landed] = chat.landed
    assert landed <= final_at  # the final card goes out after the progress, so it replaces it


async def test_a_refused_update_stops_the_progress() -> None:
    chat = Chat(takes=False)

    await run(Progress(chat, "w", MESSAGE, interval_s=0.1), [f"c{n}-{0.1 * n:.1f}" for n in range(1, 8)])

    assert len(chat.updates) == 1


async def test_a_message_known_late_gets_the_progress_from_then_on() -> None:
    chat = Chat()
    progress = Progress(chat, "w", interval_s=0.05)
    connections = [connection(n) for n in ("a-0.01", "b-0.5")]
    progress.watch(connections)
    diagnosis = asyncio.ensure_future(RUNNER.diagnose(connections, MemoryHistory(), on_connection=progress.finished))
    await asyncio.sleep(0.2)
    assert chat.updates == []  # nowhere to show it yet

    progress.at(MESSAGE)
    await diagnosis
    await progress.close()
    progress.at(MESSAGE)  # after the end: nothing more

    [(_, reply)] = chat.updates
    assert "a-0.01: Everything checked out." in shown(reply.card) and f"b-0.5: {CHECKING}" in shown(reply.card)


async def test_a_page_of_rows_then_a_count_of_the_rest() -> None:
    chat = Chat()

    await run(Progress(chat, "w", MESSAGE, interval_s=0.1), [f"c{n:02d}-0.01" for n in range(12)] + ["slow-0.4"])

    card = chat.updates[0][1].card
    text = shown(card)
    assert card is not None and card.title == "Sync status: 13 connections"
    assert "…and 5 more connections." in text and "Checked 12 of 13" in text
