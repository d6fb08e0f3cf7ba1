"""Slack's response_url takes 5 posts within 30 minutes: a result after that, or a sixth answer, goes out through
chat.postMessage instead, and the fallback is logged. The real sink posts to the local fake of Slack over HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.sandbox.slack_api import FakeSlack
from adapters.slack.sink import RESPONSE_URL_USES, Origin, SlackSink
from chatops.chat import Reply

TEAM, CHANNEL, USER = "T0ACME", "C0GENERAL", "U0ANA"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = await FakeSlack().start()
    fake.add_team(TEAM, "Acme")
    fake.add_user(TEAM, USER, "ana@acme.example", "Ana Ruiz")
    try:
        yield fake
    finally:
        await fake.stop()


def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.teams[TEAM].bot_token, base_url=slack.api_url)


async def test_a_result_after_thirty_minutes_goes_through_chat_post_message_and_the_fallback_is_logged(
        slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="adapters.slack.sink")
    url = slack.response_url(TEAM, CHANNEL, USER)  # the fake would still take it: only we know it is too old
    origin = Origin(CHANNEL, USER, url, received_at=time.monotonic() - 31 * 60)

    how = await SlackSink().deliver(client(slack), origin, Reply("ana-salesforce-gmail: Healthy"))

    assert how == "chat.postMessage"
    assert slack.called("response_url") == []
    [posted] = slack.called("chat.postMessage")
    assert posted.params["channel"] == CHANNEL and "ana-salesforce-gmail" in posted.params["text"]
    assert any("falling back" in r.getMessage() for r in caplog.records)
    assert url not in caplog.text  # the response_url is a capability: never logged


async def test_a_sixth_answer_goes_through_chat_post_message(slack: FakeSlack) -> None:
    url = slack.response_url(TEAM, CHANNEL, USER)
    origin = Origin(CHANNEL, USER, url)
    sink = SlackSink()

    ways = [await sink.deliver(client(slack), origin, Reply(f"update {n}")) for n in range(RESPONSE_URL_USES + 1)]

    assert ways == ["response_url"] * RESPONSE_URL_USES + ["chat.postMessage"]
    assert len(slack.called("response_url")) == RESPONSE_URL_USES  # Slack would refuse a sixth
    assert slack.response_urls[url].uses == RESPONSE_URL_USES
    assert [c.params["text"] for c in slack.called("chat.postMessage")] == [f"update {RESPONSE_URL_USES}"]


async def test_a_response_url_refused_as_expired_falls_back_too(slack: FakeSlack) -> None:
    url = slack.response_url(TEAM, CHANNEL, USER)
    slack.response_urls[url].created -= 31 * 60  # Slack's own clock says it expired, before ours does

    how = await SlackSink().deliver(client(slack), Origin(CHANNEL, USER, url), Reply("late result"))

    assert how == "chat.postMessage"
    assert [c.params["text"] for c in slack.called("chat.postMessage")] == ["late result"]
