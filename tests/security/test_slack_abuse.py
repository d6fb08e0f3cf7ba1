"""Hostile requests to /slack/events over real HTTP: replays, other workspaces' ids, oversize and malformed
bodies, and text built to ping a channel or spoof a link. None reaches another workspace's data, none is a 500."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import slack_sdk.signature

from adapters.sandbox.slack_api import Message
from tests.edges.slack.conftest import ACME, OTHER, SECRET, Bot, StartBot
from tests.security.rendered import assert_slack_text_is_inert, assert_valid_blocks, slack_texts

B_MARKERS = ("zoe-salesforce-gmail", "zoe@other.example", "1//zoe-refresh")


def everything_sent(bot: Bot) -> str:
    """Every call the bot made to Slack and every message Slack holds, as one text."""
    parts = [json.dumps(c.params, ensure_ascii=False, default=str) for c in bot.fake.calls]
    parts += [json.dumps(v, ensure_ascii=False) for v in bot.fake.views.values()]
    return "\n".join(parts)


async def b_ids(bot: Bot) -> list[str]:
    found = await asyncio.to_thread(bot.services.store.list_connections, f"slack:{OTHER}")
    return [c.id for c in found] + [g.id for c in found for g in c.grants]


def assert_nothing_of_b(bot: Bot, ids: list[str]) -> None:
    sent = everything_sent(bot)
    for marker in (*B_MARKERS, *[f'"t": "{i}"' for i in ids]):
        assert marker not in sent, marker


async def settle(bot: Bot, seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)  # listeners run after the ack; give them time to do (or not do) things


async def first_card(bot: Bot, team: str = ACME, user: str = "U0ANA", text: str = "") -> Message:
    before = len(bot.delivered())
    await bot.command(team, user, text)
    [delivery] = (await bot.responses(before + 1))[before:]
    hook = bot.fake.response_urls[delivery.url]
    assert hook.message is not None
    return hook.message


def forged_click(bot: Bot, team: str, user: str, message: Message | None, kind: str, target: str,
                 value: str = "", view: dict[str, Any] | None = None) -> bytes:
    """A click on a button of ours whose value names `target` (a shared channel, a copied card, a crafted
    payload signed by Slack all look like this to the bot)."""
    action = {"action_id": f"chatops:{kind}:0", "value": json.dumps({"t": target, "v": value}),
              "text": {"type": "plain_text", "text": kind}}
    return bot.fake.action_body(team, user, message, action, block_id="actions-9", view=view)


# ---------------------------------------------------------------- replays


async def test_a_captured_request_replayed_after_the_window_is_refused(start_bot: StartBot,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bot: Bot = await start_bot()
    body = bot.fake.command_body(ACME, "U0ANA")
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               **bot.fake.sign(SECRET, body, int(time.time()) - 200)}  # captured 200 s ago, still valid
    async with bot.http.post(f"{bot.url}/slack/events", data=body, headers=headers) as answer:
        assert answer.status == 200
    await bot.responses(1)
    looked_up = len(bot.fake.called("users.info"))

    # two minutes later the same bytes come back: 320 s after they were signed
    monkeypatch.setattr(slack_sdk.signature.Clock, "now", lambda self: time.time() + 120)
    for _ in range(3):
        async with bot.http.post(f"{bot.url}/slack/events", data=body, headers=headers) as answer:
            assert answer.status == 401
    await settle(bot)
    assert len(bot.fake.called("response_url")) == 1 and len(bot.fake.called("users.info")) == looked_up


@pytest.mark.parametrize("signature", ["v1={digest}", "v0={digest}0", "v0={upper}", "{digest}", "v0=", "v0=" + "0" * 64,
                                       "v0={digest},v0={digest}"])
async def test_malformed_signatures_are_refused(start_bot: StartBot, signature: str) -> None:
    bot: Bot = await start_bot()
    body = bot.fake.command_body(ACME, "U0ANA")
    signed = bot.fake.sign(SECRET, body)
    digest = signed["X-Slack-Signature"].removeprefix("v0=")
    headers = {**signed, "X-Slack-Signature": signature.format(digest=digest, upper=digest.upper()),
               "Content-Type": "application/x-www-form-urlencoded"}

    async with bot.http.post(f"{bot.url}/slack/events", data=body, headers=headers) as answer:
        assert answer.status == 401
    await settle(bot)
    assert bot.fake.calls == []


@pytest.mark.parametrize("timestamp", ["-1", "0", "99999999999999999999999", "1e9", " 17", "１７００"])
async def test_odd_timestamps_are_refused_never_a_500(start_bot: StartBot, timestamp: str) -> None:
    bot: Bot = await start_bot()
    body = bot.fake.command_body(ACME, "U0ANA")
    headers = {**bot.fake.sign(SECRET, body), "X-Slack-Request-Timestamp": timestamp,
               "Content-Type": "application/x-www-form-urlencoded"}

    async with bot.http.post(f"{bot.url}/slack/events", data=body, headers=headers) as answer:
        assert answer.status == 401
    await settle(bot)
    assert bot.fake.calls == []


# ---------------------------------------------------------------- another workspace's connections


@pytest.mark.parametrize("user", ["U0ANA", "U0ADMIN"])
async def test_a_command_naming_another_workspaces_connection_is_refused(start_bot: StartBot, user: str) -> None:
    bot: Bot = await start_bot()
    ids = await b_ids(bot)
    texts = [*ids, "zoe-salesforce-gmail", "zoe@other.example", "<mailto:zoe@other.example|zoe@other.example>",
             f"logs {ids[0]}", "logs zoe-salesforce-gmail", "<@U0ZOE>", f"{ids[0]} {ids[1]}", "all"]

    for n, text in enumerate(texts, start=1):
        status, ack = await bot.command(ACME, user, text)
        assert status == 200
        reply = json.dumps([ack, (await bot.responses(n, timeout=20))[-1].params], ensure_ascii=False)
        for marker in (*B_MARKERS, *ids):  # what was typed may be echoed ("no connection called ..."), no more
            assert marker not in reply or marker in text, (text, marker, reply[:500])
        assert "Something went wrong" not in reply


@pytest.mark.parametrize("kind", ["retest", "details", "page", "snooze", "reconnect", "open_url"])
async def test_buttons_naming_another_workspaces_connection_are_refused(start_bot: StartBot, kind: str) -> None:
    bot: Bot = await start_bot()
    ids = await b_ids(bot)
    card = await first_card(bot, user="U0ADMIN", text="all")

    for target in (ids[0], f"{ids[0]}:mail", ids[-1], "zoe-salesforce-gmail"):
        for user in ("U0ADMIN", "U0ANA"):
            status, _ = await bot.post(forged_click(bot, ACME, user, card, kind, target, value="2"))
            assert status == 200
    await settle(bot, 1.0)

    assert_nothing_of_b(bot, ids)


async def test_a_member_of_another_workspace_clicking_a_shared_card_gets_nothing(start_bot: StartBot) -> None:
    """Slack Connect: Acme's card sits in a channel shared with Other Corp, whose owner clicks its buttons."""
    bot: Bot = await start_bot()
    card = await first_card(bot, user="U0ADMIN", text="all")
    acme = await asyncio.to_thread(bot.services.store.list_connections, f"slack:{ACME}")
    before = everything_sent(bot)

    for element in [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]:
        await bot.post(bot.fake.action_body(OTHER, "U0ZOE", card, element, block_id="actions-1"))
    await settle(bot, 1.0)

    after = everything_sent(bot)[len(before):]
    for c in acme:  # nothing about Acme's connections beyond what the card already showed
        assert c.mailbox_email not in after and c.grants[0].id not in after
    assert "Retest" not in [m.get("text") for m in bot.fake.views.values()]


async def test_app_home_and_its_buttons_stay_in_the_viewers_workspace(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    ids = await b_ids(bot)
    await first_card(bot, user="U0ADMIN", text="all")  # Acme has results
    await bot.command(OTHER, "U0ZOE", "all")  # and so does Other Corp
    await bot.responses(2)

    await bot.event(ACME, {"type": "app_home_opened", "user": "U0ADMIN", "tab": "home", "event_ts": "1.2"})
    [call] = await bot.fake.wait_for("views.publish")
    view = bot.fake.views["U0ADMIN"]
    for kind in ("retest", "details", "page"):
        await bot.post(forged_click(bot, ACME, "U0ADMIN", None, kind, ids[0], value="2", view=view))
    await settle(bot, 1.0)

    sent = [c for c in bot.fake.calls if c.team_id == ACME]
    shown = json.dumps([c.params for c in sent], default=str)
    for marker in (*B_MARKERS, *ids):
        assert marker not in shown, marker


# ---------------------------------------------------------------- oversize and malformed bodies


async def test_a_body_over_one_megabyte_is_refused_quickly(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    for size in (1024 * 1024 + 1, 8 * 1024 * 1024):
        body = b"text=" + b"a" * size
        started = time.monotonic()
        async with bot.http.post(f"{bot.url}/slack/events", data=io.BytesIO(body), headers={
                "Content-Type": "application/x-www-form-urlencoded", **bot.fake.sign(SECRET, body)}) as answer:
            assert answer.status == 413
        assert time.monotonic() - started < 2.0
    await settle(bot)
    assert bot.fake.calls == []


def deep_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(("name", "content_type", "body"), [
    ("deep JSON event", "application/json", deep_json(100_000).encode()),
    ("deep JSON array", "application/json", b"[" * 200_000 + b"]" * 200_000),
    ("deep JSON payload", "application/x-www-form-urlencoded",
     ("payload=" + quote(deep_json(50_000))).encode()),
    ("invalid UTF-8 form", "application/x-www-form-urlencoded", b"command=%2Fsyncstatus&text=\xff\xfe\xfd"),
    ("invalid UTF-8 JSON", "application/json", b'{"type": "event_callback", "event": "\xff"}'),
    ("not JSON", "application/json", b"{nope"),
    ("JSON that is not an object", "application/json", b"[1, 2, 3]"),
    ("payload not JSON", "application/x-www-form-urlencoded", b"payload=%7Bnope"),
    ("payload a string", "application/x-www-form-urlencoded", b"payload=%22block_actions%22"),
    ("actions not a list", "application/x-www-form-urlencoded",
     ("payload=" + quote(json.dumps({"type": "block_actions", "team": {"id": ACME}, "user": {"id": "U0ANA"},
                                     "actions": "retest"}))).encode()),
    ("action without value", "application/x-www-form-urlencoded",
     ("payload=" + quote(json.dumps({"type": "block_actions", "team": {"id": ACME}, "user": {"id": "U0ANA"},
                                     "actions": [{"action_id": "chatops:retest:0"}]}))).encode()),
    ("action value of the wrong type", "application/x-www-form-urlencoded",
     ("payload=" + quote(json.dumps({"type": "block_actions", "team": {"id": ACME}, "user": {"id": "U0ANA"},
                                     "actions": [{"action_id": "chatops:details:0", "value": 7}]}))).encode()),
    ("command without team or user", "application/x-www-form-urlencoded", b"command=%2Fsyncstatus&text=all"),
    ("command with a list for text", "application/x-www-form-urlencoded",
     urlencode([("command", "/syncstatus"), ("team_id", ACME), ("user_id", "U0ANA"), ("text", "a"),
                ("text", "b")]).encode()),
    ("event without an event", "application/json",
     json.dumps({"type": "event_callback", "team_id": ACME, "event_id": "Ev1"}).encode()),
    ("event of the wrong shape", "application/json",
     json.dumps({"type": "event_callback", "team_id": ACME, "event_id": "Ev2", "event": "app_home_opened"}).encode()),
    ("home opened without a user", "application/json",
     json.dumps({"type": "event_callback", "team_id": ACME, "event_id": "Ev3",
                 "event": {"type": "app_home_opened", "tab": "home"}}).encode()),
    ("empty body", "application/x-www-form-urlencoded", b""),
])
async def test_malformed_signed_bodies_are_answered_never_with_a_500(start_bot: StartBot, name: str,
                                                                     content_type: str, body: bytes) -> None:
    bot: Bot = await start_bot()

    started = time.monotonic()
    status, text = await bot.post(body, content_type=content_type)

    assert status < 500, (name, status, text[:200])
    assert time.monotonic() - started < 2.0, name
    await settle(bot)
    async with bot.http.get(f"{bot.url}/healthz") as answer:
        assert answer.status == 200
    status, _ = await bot.command(ACME, "U0ANA")  # and the next real request is served as usual
    assert status == 200
    await bot.fake.wait_for("response_url", 1)


async def test_unsigned_hostile_bodies_are_refused_before_anything_reads_them(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    stamped = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "ab" * 32}
    for body in (deep_json(100_000).encode(), b"\xff" * 1000, b"payload=%7Bnope", b"[1]", b"payload=%22x%22"):
        for headers in ({}, stamped):  # a fresh timestamp and a made-up signature: still nothing is parsed
            async with bot.http.post(f"{bot.url}/slack/events", data=body,
                                     headers={"Content-Type": "application/json", **headers}) as answer:
                assert answer.status == (400 if body.startswith(b"\xff") and headers else 401)
    await settle(bot)
    assert bot.fake.calls == []


# ---------------------------------------------------------------- injection into Block Kit

NASTY_SEED = """
- name: "<!channel> ana <@U0ADMIN> <http://evil.example|Reconnect here>"
  crm: salesforce
  crm_user_email: ana@acme.example
  mailbox_provider: google
  mailbox_email: "<!here>&<#C0GENERAL>@acme.example"
  grants:
    - {role: mail, provider: google, account: "<!everyone>@acme.example", refresh_token: 1//ana-refresh}
- name: "ben *bold* &amp; <https://evil.example>"
  owner_email: ana@acme.example
  crm: hubspot
  crm_user_email: ben@acme.example
  mailbox_provider: microsoft
  mailbox_email: ben@acme.example
  grants:
    - {role: mail, provider: microsoft, account: ben@acme.example, refresh_token: ben-refresh}
"""
LOG_LINES = ["2026-11-30T09:00:00Z <!channel> invalid_grant for <@U0ADMIN>: <http://evil.example|click to fix>",
             "2026-11-30T09:01:00Z AADSTS700082 <!here> &lt;b&gt; [fix](https://evil.example)",
             "<!subteam^S0ADMINS|@admins> something nobody knows"]


def assert_all_sent_is_inert(bot: Bot) -> int:
    checked = 0
    for call in bot.fake.calls:
        if call.method == "users.info":
            continue
        for field in ("text",):
            if isinstance(call.params.get(field), str):
                assert_slack_text_is_inert(call.params[field])
                checked += 1
        for key in ("blocks", "view"):
            value = call.params.get(key)
            if isinstance(value, str):
                value = json.loads(value)
            if value is None:
                continue
            blocks = value["blocks"] if key == "view" else value
            assert_valid_blocks(blocks, limit=100 if key == "view" else None)
            checked += len(list(slack_texts(blocks)))
    return checked


async def test_names_user_names_log_lines_and_evidence_cannot_ping_or_spoof_links(start_bot: StartBot) -> None:
    bot: Bot = await start_bot(seed={ACME: NASTY_SEED})
    bot.fake.add_user(ACME, "U0MAL", "ana@acme.example", "<!here> Mal <@U0ADMIN> <http://evil.example|x>",
                      is_admin=True)
    store = bot.services.store
    [first, second] = await asyncio.to_thread(store.list_connections, f"slack:{ACME}")
    from chatops.model import SyncEvent

    await asyncio.to_thread(store.add_events, f"slack:{ACME}", first.id, [SyncEvent(first.id, line)
                                                                          for line in LOG_LINES])

    card = await first_card(bot, user="U0MAL", text="all")
    await first_card(bot, user="U0MAL", text=f"logs {first.id}")
    await first_card(bot, user="U0MAL", text="<@U0ANA> <!channel>")  # two words: help, echoing the input
    await bot.click(ACME, "U0MAL", card, "chatops:retest")  # "Rechecking… (asked by <name>)"
    await bot.click(ACME, "U0MAL", card, "chatops:details")
    await bot.event(ACME, {"type": "app_home_opened", "user": "U0MAL", "tab": "home", "event_ts": "1.2"})
    await bot.fake.wait_for("views.publish")
    await bot.fake.wait_for("views.open")
    await bot.responses(5, timeout=20)

    assert assert_all_sent_is_inert(bot) > 20
    sent = everything_sent(bot)
    assert "&lt;!channel&gt;" in sent and "&lt;http://evil.example|Reconnect here&gt;" in sent  # shown, inert
    assert "Rechecking" in sent and "&lt;!here&gt; Mal" in sent
