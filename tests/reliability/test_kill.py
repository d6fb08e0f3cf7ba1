"""The process killed with SIGKILL mid-work: during a diagnosis, during a Microsoft token refresh (before and right
after the provider rotated the refresh token), and during a digest. The real `chatops serve` and `chatops audit
--post` run as subprocesses against a file database (SQLite, and PostgreSQL when configured), the provider
simulator slows Microsoft so the kill lands mid-work, and the local fake of Slack counts every post.

After each restart: no grant lost (every grant decrypts, a rotated refresh token is the one kept), no message
sent twice, and nothing left "running" (no delivery key in the way of the next run). On PostgreSQL a killed
`chatops scheduler` leaves no leader lock behind: the next scheduler process takes over.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import RunningSimulator, start_simulator
from adapters.sandbox.slack_api import Call, FakeSlack
from chatops.model import Workspace
from chatops.store import Store, new_id
from chatops.store.audits import SubscriptionRow
from chatops.store.crypto import GrantCipher
from tests.conftest import _postgres_schema
from tests.fakes.world import World

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0ACME"
WORKSPACE = Workspace(f"slack:{TEAM}", "Acme", "slack", TEAM)
CHANNEL = "C0SALES"
SLOW_S = 2.0  # every Microsoft call (token endpoint and Graph) answers this late
ROTATED = "1.AQEA-sim-"  # the simulator's prefix of a rotated Microsoft refresh token


class Background:
    """An event loop in a thread holding the simulator and the fake Slack, so the test may block on processes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class Rig:
    """The simulator, the fake Slack, a seeded database and how to start `chatops` against them."""

    background: Background
    simulator: RunningSimulator
    slack: FakeSlack
    url: str
    key: str
    tmp: Path

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("CHATOPS_", "SLACK_", "MICROSOFT_APP"))}
        return {**clean, **self.simulator.settings_env(), "CHATOPS_DATABASE_URL": self.url,
                "CHATOPS_ENCRYPTION_KEYS": self.key, "CHATOPS_DATA_DIR": str(self.tmp),
                "CHATOPS_CHECK_TIMEOUT_S": "30", "CHATOPS_DEADLINE_S": "60",
                "SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": self.slack.teams[TEAM].bot_token,
                "CHATOPS_SLACK_API_URL": self.slack.api_url}

    def store(self) -> Store:
        return Store.open(self.url, GrantCipher([self.key]))

    def microsoft_refresh_tokens(self) -> list[str]:
        """Every Microsoft refresh token the simulator knows, oldest first (rotations append)."""
        return [value for value, token in list(self.simulator.state.refresh.items()) if "microsoft" in token.scopes]

    def rotations(self) -> list[str]:
        return [value for value in self.microsoft_refresh_tokens() if value.startswith(ROTATED)]

    def token_calls(self) -> int:
        return int(self.simulator.state.served["microsoft"])

    def posts(self, method: str, **where: str) -> list[Call]:
        return [c for c in self.slack.called(method) if all(c.params.get(k) == v for k, v in where.items())]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'chatops.db'}"
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    world = World()
    world.person("ben", crm="hubspot", mail="microsoft", faults=[{"slow": SLOW_S, "provider": "microsoft"}])
    world.person("ana", mail="google")
    background = Background()
    simulator = background.run(start_simulator(parse_scenario(world.scenario(), source="kill")))
    slack = FakeSlack()
    background.run(slack.start())
    slack.add_team(TEAM, "Acme")
    slack.add_user(TEAM, "U0BEN", "ben@acme.example", "Ben Okafor")
    slack.add_user(TEAM, "U0ADMIN", "admin@acme.example", "Ada Admin", is_admin=True)
    try:
        with database(request.param, tmp_path) as url:
            rig = Rig(background, simulator, slack, url, GrantCipher.generate_key(), tmp_path)
            store = rig.store()
            try:
                install(store, simulator, WORKSPACE)
            finally:
                store.close()
            yield rig
    finally:
        background.run(slack.stop())
        background.run(simulator.stop())
        background.close()


@contextmanager
def chatops(rig: Rig, *args: str, log: str) -> Iterator[subprocess.Popen[bytes]]:
    """`chatops <args>` as a process; killed (SIGKILL) on the way out if it still runs."""
    with open(rig.tmp / log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "adapters.cli", *args], cwd=ROOT, env=rig.env(),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


@contextmanager
def serving(rig: Rig, log: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with chatops(rig, "serve", "--port", str(port), "--no-scheduler", log=log) as process:
        url = f"http://127.0.0.1:{port}"

        async def ready() -> bool:
            async with aiohttp.ClientSession() as http:
                try:
                    async with http.get(f"{url}/readyz") as answer:
                        return answer.status == 200
                except aiohttp.ClientError:
                    return False

        deadline = time.monotonic() + 60
        while not rig.background.run(ready()):
            assert process.poll() is None, (rig.tmp / log).read_text()[-2000:]
            assert time.monotonic() < deadline, "chatops serve never became ready"
            time.sleep(0.1)
        yield process, url


def command(rig: Rig, url: str, user: str, text: str = "") -> str:
    """Send a signed /syncstatus; returns its response_url once the bot acknowledged it (200)."""
    body = rig.slack.command_body(TEAM, user, text)
    response_url = next(v for k, v in _form(body) if k == "response_url")

    async def send() -> int:
        async with aiohttp.ClientSession() as http:
            status, _, _ = await rig.slack.send(http, f"{url}/slack/events", body, SECRET)
            return status

    assert rig.background.run(send()) == 200
    return response_url


def _form(body: bytes) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(body.decode())


def cards(rig: Rig, response_url: str) -> list[Call]:
    """The status cards delivered for one command (a card carries a Retest button)."""
    return [c for c in rig.slack.called("response_url")
            if c.url == response_url and "chatops:retest" in json.dumps(c.params.get("blocks", []))]


def grants(rig: Rig) -> dict[str, tuple[str, str, bool]]:
    """Every stored grant, read back in a fresh process' way: id -> (provider, refresh token, needs reconnect)."""
    store = rig.store()
    try:
        return {g.id: (g.provider.value, g.refresh_token.reveal() if g.refresh_token else "", g.needs_reconnect)
                for c in store.list_connections(WORKSPACE.id) for g in c.grants}
    finally:
        store.close()


def microsoft_refresh(rig: Rig) -> str:
    [(_, token, locked)] = [v for v in grants(rig).values() if v[0] == "microsoft"]
    assert not locked  # it still decrypts
    return token


def test_killed_mid_refresh_and_mid_diagnosis_loses_no_grant_and_sends_no_card_twice(rig: Rig) -> None:
    before = grants(rig)
    assert all(not locked and token for _, token, locked in before.values())
    original = microsoft_refresh(rig)

    # 1. Killed while Microsoft's token endpoint is still answering the refresh: nothing rotated yet.
    with serving(rig, "serve-1.log") as (process, url):
        first = command(rig, url, "U0BEN")
        until(lambda: rig.token_calls() >= 1, 30, "the refresh to start")
        time.sleep(SLOW_S / 2)
        assert rig.rotations() == []  # the kill lands inside the refresh
        kill(process)
    assert microsoft_refresh(rig) == original  # the old refresh token is kept, still valid at the provider
    time.sleep(SLOW_S + 0.5)  # the provider finishes the orphaned refresh: a rotation nobody received
    orphaned = len(rig.rotations())

    # 2. Killed right after the provider rotated the refresh token, while the Graph calls are still slow.
    with serving(rig, "serve-2.log") as (process, url):
        second = command(rig, url, "U0BEN")
        until(lambda: len(rig.rotations()) > orphaned, 30, "the provider to rotate the refresh token")
        time.sleep(0.5)
        assert cards(rig, second) == []  # the diagnosis was still running
        kill(process)
    rotated = rig.rotations()
    assert len(rotated) == orphaned + 1
    assert microsoft_refresh(rig) == rotated[-1]  # the rotation the bot received was kept, not lost
    assert {g: v for g, v in grants(rig).items() if v[0] != "microsoft"} == {
        g: v for g, v in before.items() if v[0] != "microsoft"}

    # 3. Restarted: the next /syncstatus refreshes with the kept token and answers once.
    with serving(rig, "serve-3.log") as (_, url):
        third = command(rig, url, "U0BEN")
        until(lambda: len(cards(rig, third)) >= 1, 60, "the card after the restart")
        time.sleep(1.0)  # anything else the restarted process might send
        texts = json.dumps(cards(rig, third)[0].params)
        assert "ben-hubspot-microsoft" in texts
        assert "invalid_grant" not in texts and "AADSTS" not in texts, texts[:2000]
    assert [len(cards(rig, u)) for u in (first, second, third)] == [0, 0, 1]  # no card sent twice
    assert len(rig.rotations()) >= 2 and microsoft_refresh(rig) == rig.rotations()[-1]
    assert all(not locked for _, _, locked in grants(rig).values())


def subscribe(rig: Rig) -> SubscriptionRow:
    store = rig.store()
    try:
        now = datetime.now(UTC)
        return store.audits.subscribe(SubscriptionRow(
            id=new_id("s_"), workspace_id=WORKSPACE.id, platform="slack", destination=CHANNEL,
            destination_name="sales", cadence="weekly", weekday=0, hour=9, minute=0, timezone="UTC",
            created_by="U0ADMIN", created_at=now - timedelta(days=30)))
    finally:
        store.close()


def delivery_keys(rig: Rig) -> dict[str, str]:
    store = rig.store()
    try:
        with store.engine.connect() as db:
            return {str(k): str(v) for k, v in db.exec_driver_sql("SELECT key, state FROM idempotency_keys")}
    finally:
        store.close()


def test_killed_mid_digest_the_digest_is_posted_once_after_the_restart(rig: Rig) -> None:
    subscribe(rig)
    workspace = ["--workspace", WORKSPACE.id]

    with chatops(rig, "audit", "--post", *workspace, log="audit-1.log") as process:
        until(lambda: rig.token_calls() >= 1, 60, "the audit to reach the providers")
        time.sleep(SLOW_S / 2)
        assert process.poll() is None  # still auditing
        kill(process)
    assert rig.posts("chat.postMessage", channel=CHANNEL) == []  # nothing went out half-done
    grants_after_kill = grants(rig)
    assert all(not locked and token for _, token, locked in grants_after_kill.values())

    with chatops(rig, "audit", "--post", *workspace, log="audit-2.log") as process:
        assert process.wait(timeout=120) in (0, 1), (rig.tmp / "audit-2.log").read_text()[-2000:]
    output = (rig.tmp / "audit-2.log").read_text()
    assert ": sent" in output, output[-2000:]
    posted = rig.posts("chat.postMessage", channel=CHANNEL)
    assert len(posted) == 1, [p.params.get("text") for p in posted]
    assert "audit" in str(posted[0].params.get("text", "")).lower()
    # the rerun's key is sent; the killed run's own key (a manual run's, never retried) is all it left behind
    assert sorted(delivery_keys(rig).values()) == ["pending", "sent"]
    assert all(not locked for _, _, locked in grants(rig).values())


def test_a_killed_scheduler_leaves_no_lock_behind_and_the_next_one_leads(rig: Rig) -> None:
    if not rig.url.startswith("postgresql"):
        pytest.skip("the leader lock is PostgreSQL's (SQLite deployments run one process, always the leader)")
    leading = "now runs the scheduled jobs (leader)"

    with chatops(rig, "scheduler", log="scheduler-1.log") as first:
        until(lambda: leading in (rig.tmp / "scheduler-1.log").read_text(), 60, "the first scheduler to lead")
        with chatops(rig, "scheduler", log="scheduler-2.log") as second:
            time.sleep(2.0)
            assert leading not in (rig.tmp / "scheduler-2.log").read_text()  # one leader at a time
            kill(first)
            killed = time.monotonic()
            # PostgreSQL ends the dead process' session, and its lock with it; the follower asks every 15 s
            until(lambda: leading in (rig.tmp / "scheduler-2.log").read_text(), 60, "the second scheduler to lead")
            assert time.monotonic() - killed < 60
            assert second.poll() is None
