"""A real core (store, runner, commands, audits) with test-local checks, a FakeClock and a recording chat sink.

A connection named broken-* fails its sign-in check, busy-* has a quota above its threshold (full-* one that
will run out); everything else is healthy. Tests change a connection's fate by renaming it in FATES.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from chatops.chat import ChatUser, MessageRef, Reply
from chatops.checks.base import CheckContext, CheckSpec, reconnect_action
from chatops.core import Chatops
from chatops.errors import ChatopsError
from chatops.findings import Cause, Finding
from chatops.model import Connection, GrantRole, Provider, Workspace
from chatops.ports import Providers
from chatops.runner import Runner
from chatops.store import Store
from tests.fakes.clock import FakeClock

WS = "slack:T0ACME"
CHANNEL = "C0SALES"
ADMIN = ChatUser("slack", "U0ADMIN", "admin@acme.example", "Ada", is_admin=True)
ANA = ChatUser("slack", "U0ANA", "ana@acme.example", "Ana")
MONDAY_9_BERLIN = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Mon 30 Nov 2026 09:00 Europe/Berlin
NO_PROVIDERS = Providers(oauth={}, mail={}, calendar={}, crm={}, endpoints={})
FATES: dict[str, str] = {}  # connection name -> "ok" | "broken" | "busy" | "full"; default from the name


def fate(connection: Connection) -> str:
    return FATES.get(connection.name, connection.name.split("-", 1)[0])


async def sign_in(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    if fate(c) == "broken":
        return [ctx.fail(f"Gmail access for {c.mailbox_email} was revoked (password change).",
                         remedy=["Click Reconnect and sign in again."],
                         actions=[reconnect_action(c, GrantRole.MAIL, Provider.GOOGLE)])]
    return [ctx.ok(f"Google access for {c.mailbox_email} works.")]


async def quota(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    if fate(c) == "busy":
        return [ctx.warn("The Salesforce daily API limit is at 85% of 100,000.", subject="salesforce:DailyApiRequests")]
    if fate(c) == "full":
        return [ctx.fail("The Salesforce daily API limit is at 97% and will run out before it resets. At this rate "
                         "it runs out at 15:40 UTC.", subject="salesforce:DailyApiRequests")]
    return [ctx.ok("The Salesforce daily API limit is at 10%.", subject="salesforce:DailyApiRequests")]


CHECKS = {spec.name: spec for spec in (CheckSpec("credentials", Cause.CREDENTIALS, sign_in),
                                       CheckSpec("quota", Cause.RATE_LIMIT, quota))}


class NoProbe:
    async def probe(self, endpoint, timeout_s):  # type: ignore[no-untyped-def]
        raise AssertionError("no check here probes the network")


class Crash(BaseException):
    """What a killed process looks like to the code that was running: nothing after it happens."""


@dataclass
class Posted:
    workspace_id: str
    destination: str
    reply: Reply
    key: str = ""  # the delivery key the message carries (Slack keeps it as message metadata)


@dataclass
class RecordingSink:
    """A ChatSink that keeps what was posted, with its delivery key; `fail_next`/`crash_next` make the next posts
    refuse or crash before they reach the platform, `crash_after_next` crash once the platform has them."""

    posts: list[Posted] = field(default_factory=list)
    fail_next: int = 0
    crash_next: int = 0
    crash_after_next: int = 0
    delay_s: float = 0.0
    keeps_keys: bool = True  # False: a platform that can't be asked for a key (Teams)

    async def post(self, workspace_id: str, destination: str, reply: Reply, *, key: str = "") -> MessageRef:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.crash_next:
            self.crash_next -= 1
            raise Crash()
        if self.fail_next:
            self.fail_next -= 1
            raise ChatopsError("the platform refused it")
        self.posts.append(Posted(workspace_id, destination, reply, key))
        if self.crash_after_next:
            self.crash_after_next -= 1
            raise Crash()
        return MessageRef(destination, f"{len(self.posts)}.000")

    async def find_posted(self, workspace_id: str, destination: str, key: str, since: datetime) -> MessageRef | None:
        if not self.keeps_keys:
            return None
        for i, posted in enumerate(self.posts, 1):
            if (posted.workspace_id, posted.destination, posted.key) == (workspace_id, destination, key):
                return MessageRef(destination, f"{i}.000")
        return None

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        return True

    def titles(self, destination: str | None = None) -> list[str]:
        return [p.reply.card.title if p.reply.card else p.reply.text for p in self.posts
                if destination is None or p.destination == destination]


def connection(name: str, owner: str = "ana@acme.example", **changes: Any) -> Connection:
    values: dict[str, Any] = dict(id=f"conn-{name}", workspace_id="", name=name, owner_email=owner,
                                  crm=Provider.SALESFORCE, crm_user_email=owner, mailbox_provider=Provider.GOOGLE,
                                  mailbox_email=owner)
    values.update(changes)
    return Connection(**values)


MakeCore = Callable[..., Chatops]


@pytest.fixture(autouse=True)
def _fates() -> Any:
    FATES.clear()
    yield
    FATES.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_9_BERLIN.replace(hour=6))


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def seeded(store: Store) -> Store:
    store.ensure_workspace(Workspace(WS, "Acme", "slack", "T0ACME"))
    store.upsert_member(WS, "U0ANA", "ana@acme.example", name="Ana")
    for name in ("ok-ana", "broken-ben", "busy-cy"):
        store.add_connection(WS, connection(name, owner=f"{name.split('-')[1]}@acme.example"))
    return store


@pytest.fixture
def make_core(seeded: Store, clock: FakeClock, sink: RecordingSink) -> MakeCore:
    """make_core(store=None, sink=None): a core over the seeded database, as one process would have it."""

    def make(store: Store | None = None, chat: RecordingSink | None = None) -> Chatops:
        runner = Runner(checks=CHECKS, providers=NO_PROVIDERS, probe=NoProbe(), clock=clock, deadline_s=10)
        core = Chatops(store or seeded, runner)
        core.sinks["slack"] = chat or sink
        return core

    return make
