"""Exactly-once delivery in Slack over real HTTP: a digest carries its key as message metadata, and a run that
reclaims a key after a crash finds the message in the channel's history instead of posting it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.sandbox.slack_api import FakeSlack, Message, Team
from adapters.slack.sink import SlackCards, SlackSink
from chatops.audits.delivery import Delivery, Outcome
from chatops.chat import MessageRef, Reply
from chatops.model import Workspace
from chatops.store import Store
from tests.fakes.clock import FakeClock

TEAM = "T0ACME"
WS = f"slack:{TEAM}"
CHANNEL = "C0SALES"
KEY = "digest:sub-1:2026-11-30"


class Died(BaseException):
    """The process was killed: nothing after this point runs."""


class DiesAfterPosting(SlackCards):
    """The real Slack sink in a process that is killed the moment Slack has accepted the message."""

    async def post(self, workspace_id: str, destination: str, reply: Reply, *, key: str = "") -> MessageRef:
        await super().post(workspace_id, destination, reply, key=key)
        raise Died()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = await FakeSlack().start()
    try:
        yield slack
    finally:
        await slack.stop()


def sink_class(fake: FakeSlack, team: Team, kind: type[SlackCards] = SlackCards) -> SlackCards:
    async def client_for(team_id: str) -> AsyncWebClient | None:
        return AsyncWebClient(token=team.bot_token, base_url=fake.api_url) if team_id == team.id else None

    return kind(SlackSink(), client_for)


async def crash_after_posting(store: Store, fake: FakeSlack, team: Team, clock: FakeClock) -> Delivery:
    """Claim, post, die before marking sent; then the restarted process's Delivery, past the crashed lease."""
    store.ensure_workspace(Workspace(WS, "Acme", "slack", TEAM))
    crashed = Delivery(store, {"slack": sink_class(fake, team, DiesAfterPosting)}, clock)
    assert await crashed.claim(WS, KEY) is None
    with pytest.raises(Died):
        await crashed.post_claimed(WS, KEY, "slack", CHANNEL, Reply("Weekly sync audit"))
    assert store.audits.key_state(WS, KEY) == "pending"
    clock.advance(minutes=crashed.lease.total_seconds() / 60 + 1)
    restarted = Delivery(store, {"slack": sink_class(fake, team)}, clock)
    assert await restarted.claim(WS, KEY) is None  # the crashed run's lease ran out: ours now
    return restarted


async def test_a_digest_slack_took_before_the_crash_is_found_by_its_key_and_not_posted_again(
        store: Store, fake: FakeSlack) -> None:
    team = fake.add_team(TEAM, "Acme")
    clock = FakeClock(datetime.now(UTC))  # Slack stamps messages with its own (real) clock
    restarted = await crash_after_posting(store, fake, team, clock)

    delivered = await restarted.post_claimed(WS, KEY, "slack", CHANNEL, Reply("Weekly sync audit"))

    [posted] = fake.called("chat.postMessage")
    assert posted.params["metadata"] == {"event_type": "chatops_delivery", "event_payload": {"key": KEY}}
    [(channel, ts)] = list(fake.messages)
    assert fake.messages[(channel, ts)].metadata == posted.params["metadata"]
    assert delivered.outcome is Outcome.SENT and delivered.message == MessageRef(CHANNEL, ts)
    assert store.audits.key_state(WS, KEY) == "sent"
    [history] = fake.called("conversations.history")
    assert history.params["channel"] == CHANNEL and history.params["include_all_metadata"] in ("1", "true")
    assert float(history.params["oldest"]) < float(ts)  # from the first claim (less a minute for clock skew)
    assert len(fake.called("chat.postMessage")) == 1  # exactly one message in the channel


async def test_without_the_history_scope_the_digest_goes_out_again_rather_than_never(
        store: Store, fake: FakeSlack) -> None:
    team = fake.add_team(TEAM, "Acme", scopes=("commands", "chat:write", "users:read", "users:read.email"))
    clock = FakeClock(datetime.now(UTC))
    restarted = await crash_after_posting(store, fake, team, clock)

    delivered = await restarted.post_claimed(WS, KEY, "slack", CHANNEL, Reply("Weekly sync audit"))

    assert delivered.outcome is Outcome.SENT and store.audits.key_state(WS, KEY) == "sent"
    assert len(fake.called("conversations.history")) == 1
    assert len(fake.called("chat.postMessage")) == 2  # at least once: a duplicate, never a lost digest


async def test_history_is_read_page_by_page_until_the_key_turns_up(store: Store, fake: FakeSlack) -> None:
    team = fake.add_team(TEAM, "Acme")
    clock = FakeClock(datetime.now(UTC))
    restarted = await crash_after_posting(store, fake, team, clock)
    [(_, digest_ts)] = list(fake.messages)
    for i in range(1, 451):  # the channel moved on: newest first, the digest is on the third page of 200
        ts = f"{float(digest_ts) + i:.6f}"
        fake.messages[(CHANNEL, ts)] = Message(CHANNEL, ts, f"message {i}", [])

    delivered = await restarted.post_claimed(WS, KEY, "slack", CHANNEL, Reply("Weekly sync audit"))

    assert delivered.outcome is Outcome.SENT and delivered.message == MessageRef(CHANNEL, digest_ts)
    assert [c.params.get("cursor", "") for c in fake.called("conversations.history")] == ["", "200", "400"]
    assert len(fake.called("chat.postMessage")) == 1
