"""`chatops demo` end to end over HTTP: the page's API plays Slack and Teams towards the real bot on the demo scenario.

The browser tests (tests/browser/) drive the same API through the page; these check the wire: what the bot
is sent (signed slash commands, block_actions, app_home_opened, Bot Framework activities) and what each
member then sees, and that the command starts, prints its URL and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.sandbox.demo_server import DEMO_TEAM, DemoServer, start_demo

ADMIN, ANA = "U0DEMOADMIN", "U0DEMO01"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
ROOT = Path(__file__).resolve().parents[2]


class Page:
    """What the sandbox page does, over its JSON API."""

    def __init__(self, demo: DemoServer, http: aiohttp.ClientSession) -> None:
        self.demo = demo
        self.http = http

    async def get(self, path: str) -> Any:
        async with self.http.get(self.demo.url + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        async with self.http.post(self.demo.url + path, json=body) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def type(self, user: str, text: str) -> Any:
        return await self.post("/emulator/api/slack/command", {"user": user, "text": text})

    async def slack(self, user: str) -> dict[str, Any]:
        return await self.get(f"/emulator/api/slack?user={user}")

    async def until(self, user: str, check: Callable[[dict[str, Any]], Any], timeout: float = 30) -> Any:
        """Poll what `user` sees until `check` returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            state = await self.slack(user)
            found = check(state)
            if found:
                return found
            assert time.monotonic() < deadline, f"timed out; last state: {json.dumps(state)[:2000]}"
            await asyncio.sleep(0.1)

    async def click(self, user: str, message: dict[str, Any], label: str, *, view: bool = False) -> Any:
        block_id, element = button(message["blocks"], label)
        where = {"view": message["id"]} if view else {"message": message["id"]}
        return await self.post("/emulator/api/slack/action", {"user": user, **where, "block_id": block_id,
                                                              "action_id": element["action_id"]})


def button(blocks: list[dict[str, Any]], label: str) -> tuple[str, dict[str, Any]]:
    for block in blocks:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("text", {}).get("text") == label:
                return block.get("block_id", ""), element
    raise AssertionError(f"no {label!r} button in {json.dumps(blocks)[:1000]}")


def shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def card_with(text: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    def check(state: dict[str, Any]) -> dict[str, Any] | None:
        return next((m for m in reversed(state["messages"]) if text in shown(m["blocks"])), None)
    return check


@pytest.fixture
async def demo() -> AsyncIterator[DemoServer]:
    running = await start_demo(port=0, secret=SECRET)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def page(demo: DemoServer) -> AsyncIterator[Page]:
    async with aiohttp.ClientSession() as http:
        yield Page(demo, http)


async def test_one_port_serves_the_page_its_api_and_the_bot(page: Page) -> None:
    async with page.http.get(page.demo.url + "/") as response:
        assert response.status == 200 and "chatops sandbox" in await response.text()
    for asset in ("emulator.js", "blockkit.js", "adaptivecards.js", "emulator.css", "avatar.svg"):
        async with page.http.get(f"{page.demo.url}/emulator/static/{asset}") as response:
            assert response.status == 200, asset
    assert (await page.get("/healthz"))["status"] == "ok"
    workspace = await page.get("/emulator/api/workspace")
    assert workspace["team"] == {"id": DEMO_TEAM, "name": "Acme Corp"}
    admin = next(m for m in workspace["members"] if m["id"] == ADMIN)
    assert admin == {"id": ADMIN, "email": "admin@demo.example", "name": "Demo Admin", "admin": True,
                     "teams_id": f"29:{ADMIN}"}
    assert workspace["command"]["command"] == "/syncstatus" and "all" in workspace["command"]["usage_hint"]
    assert workspace["teams"]["enabled"] and any(c["title"] == "syncstatus all" for c in workspace["teams"]["commands"])


async def test_syncstatus_all_answers_with_the_overview_only_the_admin_sees(page: Page) -> None:
    answer = await page.type(ADMIN, "/syncstatus all")
    assert answer["status"] == "ok" and answer["seconds"] < 3  # the bot acked within Slack's 3 seconds
    overview = await page.until(ADMIN, card_with("Sync status: 14 connections"))
    assert overview["author"]["kind"] == "bot" and overview["ephemeral"]
    assert "Page 1 of 2" in shown(overview["blocks"]) and "Reconnect Google" in shown(overview["blocks"])
    state = await page.slack(ADMIN)
    invocation = state["messages"][0]
    assert invocation["author"] == {"kind": "user", "id": ADMIN, "name": "Demo Admin"}
    assert invocation["text"] == "/syncstatus all" and invocation["ephemeral"]
    # the "Checking 14 connections…" ack was replaced in place, not followed by a second message
    assert [m["id"] for m in state["messages"]] == [invocation["id"], overview["id"]]
    assert (await page.slack(ANA))["messages"] == []  # ephemeral: Ana sees none of it


async def test_the_bot_is_sent_what_slack_sends(page: Page) -> None:
    sent: list[bytes] = []
    fake = page.demo.slack
    original = fake.send

    async def spy(session: Any, url: str, body: bytes, secret: str, **kwargs: Any) -> Any:
        sent.append(body)
        return await original(session, url, body, secret, **kwargs)

    fake.send = spy  # type: ignore[method-assign]
    await page.type(ANA, "/syncstatus")
    card = await page.until(ANA, card_with("Retest"))
    await page.click(ANA, card, "Details")
    command, click = sent
    fields = dict(pair.split("=", 1) for pair in command.decode().split("&"))
    assert fields["command"] == "%2Fsyncstatus" and fields["team_id"] == DEMO_TEAM and fields["user_id"] == ANA
    assert fields["response_url"].startswith("http") and fields["trigger_id"]
    payload = json.loads(__import__("urllib.parse").parse.unquote(click.decode().removeprefix("payload=")))
    assert payload["type"] == "block_actions" and payload["user"]["id"] == ANA
    assert payload["actions"][0]["action_id"].startswith("chatops:details")
    assert payload["container"]["is_ephemeral"] is True and payload["response_url"] and payload["trigger_id"]


async def test_a_wrongly_signed_command_is_refused_and_slack_says_so(page: Page) -> None:
    page.demo.emulator.signing_secret = "not-the-bot-secret"
    answer = await page.type(ADMIN, "/syncstatus all")
    assert answer == {"status": "failed", "http_status": 401}
    notice = await page.until(ADMIN, lambda s: next((m for m in s["messages"] if m["author"]["kind"] == "slackbot"),
                                                    None))
    assert notice["text"] == '/syncstatus failed with the error "dispatch_failed"' and notice["ephemeral"]


async def test_retest_shows_rechecking_then_the_card_in_place(page: Page) -> None:
    seen: list[str] = []
    page.demo.slack.observers.append(lambda call: seen.append(shown(call.params)) if call.method == "response_url"
                                     else None)
    await page.type(ANA, "/syncstatus")
    card = await page.until(ANA, card_with("Sync status: ana-salesforce-gmail"))
    before = len(seen)
    await page.click(ANA, card, "Retest")
    again = await page.until(ANA, lambda s: next((m for m in s["messages"] if m["id"] == card["id"]
                                                  and "Retest" in shown(m["blocks"])
                                                  and len(seen) >= before + 2), None))
    assert "Rechecking" in seen[before] and "Sync status: ana-salesforce-gmail" in seen[before + 1]
    assert again["id"] == card["id"]  # the same message, updated in place
    assert len([m for m in (await page.slack(ANA))["messages"] if m["author"]["kind"] == "bot"]) == 1


async def test_details_open_a_modal_for_the_clicker_only(page: Page) -> None:
    await page.type(ANA, "/syncstatus")
    card = await page.until(ANA, card_with("Retest"))
    await page.click(ANA, card, "Details")
    modal = (await page.until(ANA, lambda s: s["modal"]))
    assert modal["type"] == "modal" and modal["title"]["text"] == "Details"
    assert "[credentials]" in shown(modal["blocks"])
    assert (await page.slack(ADMIN))["modal"] is None
    await page.post("/emulator/api/slack/modal/close", {"user": ANA})
    assert (await page.slack(ANA))["modal"] is None


async def test_app_home_is_published_when_the_tab_opens(page: Page) -> None:
    assert (await page.post("/emulator/api/slack/home", {"user": ANA}))["status"] == "ok"
    home = await page.until(ANA, lambda s: s["home"])
    assert home["type"] == "home" and "Workspace health" in shown(home["blocks"])
    assert "ana-salesforce-gmail" in shown(home["blocks"])


async def test_typed_text_that_is_not_a_command(page: Page) -> None:
    await page.type(ANA, "hello <everyone> & you")
    await page.type(ANA, "/deploy now")
    ana = (await page.slack(ANA))["messages"]
    assert ana[0]["text"] == "hello &lt;everyone&gt; &amp; you" and not ana[0]["ephemeral"]  # Slack's escaping
    assert ana[1]["author"]["kind"] == "slackbot" and "/deploy is not a valid command" in ana[1]["text"]
    assert [m["text"] for m in (await page.slack(ADMIN))["messages"]] == [ana[0]["text"]]
    await page.post("/emulator/api/slack/command", {"user": "U0NOBODY", "text": "hi"}, status=400)


async def test_the_event_stream_announces_every_change(page: Page) -> None:
    async with page.http.get(page.demo.url + "/emulator/api/events") as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        assert (await stream.content.readline()).startswith(b"event: hello")
        await page.type(ADMIN, "/syncstatus help")
        line = b""
        while not line.startswith(b"event: change"):
            line = await asyncio.wait_for(stream.content.readline(), 10)


async def test_teams_chat_gets_a_card_and_execute_answers_in_place(page: Page) -> None:
    await page.post("/emulator/api/teams/message", {"user": ADMIN, "text": "syncstatus all"})

    async def teams() -> dict[str, Any]:
        return await page.get(f"/emulator/api/teams?user={ADMIN}")

    deadline = time.monotonic() + 30
    while True:
        messages = (await teams())["messages"]
        card = next((m for m in messages if m["card"] and "14 connections" in shown(m["card"])), None)
        if card:
            break
        assert time.monotonic() < deadline, messages
        await asyncio.sleep(0.2)
    assert messages[0] == {**messages[0], "from": "user", "text": "syncstatus all"}
    retest = next(a for item in card["card"]["body"] if item["type"] == "ActionSet" for a in item["actions"]
                  if a["title"] == "Retest")
    answer = await page.post("/emulator/api/teams/invoke", {"user": ADMIN, "message": card["id"],
                                                            "verb": retest["verb"], "data": retest["data"]})
    assert answer["status"] == "ok"
    after = next(m for m in (await teams())["messages"] if m["id"] == card["id"])
    assert after["card"] != card["card"] or after["notice"]
    assert (await page.get(f"/emulator/api/teams?user={ANA}"))["messages"] == []  # another person's chat


async def teams_until(page: Page, user: str, check: Callable[[list[dict[str, Any]]], Any],
                      timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        messages = (await page.get(f"/emulator/api/teams?user={user}"))["messages"]
        found = check(messages)
        if found:
            return found
        assert time.monotonic() < deadline, messages
        await asyncio.sleep(0.1)


async def test_opening_the_teams_chat_adds_the_bot_once_and_it_says_hello(page: Page) -> None:
    assert (await page.post("/emulator/api/teams/open", {"user": ANA}))["status"] == "installed"
    welcome = await teams_until(page, ANA, lambda ms: ms)
    assert len(welcome) == 1 and welcome[0]["from"] == "bot" and "syncstatus" in welcome[0]["text"]
    assert (await page.post("/emulator/api/teams/open", {"user": ANA}))["status"] == "open"
    assert len((await page.get(f"/emulator/api/teams?user={ANA}"))["messages"]) == 1


async def test_action_submit_reaches_the_bot_as_a_message_with_the_data(page: Page) -> None:
    await page.post("/emulator/api/teams/message", {"user": ANA, "text": "syncstatus"})
    card = await teams_until(page, ANA, lambda ms: next((m for m in ms if m["card"] and "Retest" in shown(m["card"])),
                                                        None))
    retest = next(a for item in card["card"]["body"] if item["type"] == "ActionSet" for a in item["actions"]
                  if a["title"] == "Retest")
    connector = page.demo.connector
    before = len(connector.requests)
    assert (await page.post("/emulator/api/teams/submit", {"user": ANA, "message": card["id"],
                                                           "data": retest["fallback"]["data"]}))["status"] == "sent"
    await connector.wait_for(lambda c: any(r.operation in ("update", "reply") for r in c.requests[before:]),
                             timeout_s=30)
    answer = next(r for r in connector.requests[before:] if r.operation in ("update", "reply"))
    assert answer.status < 300 and "Sync status: ana-salesforce-gmail" in shown(answer.body)


# ---------------------------------------------------------------- the weekly digest and the alerts


async def leading(demo: DemoServer) -> Any:
    """APScheduler, once the demo's scheduler leads (on SQLite at once; the lock is taken in a worker thread)."""
    for _ in range(100):
        if demo.scheduler.apscheduler is not None:
            return demo.scheduler.apscheduler
        await asyncio.sleep(0.05)
    raise AssertionError("the demo's scheduler never started its jobs")


async def test_general_is_subscribed_and_the_scheduler_runs_the_digest_and_alert_jobs(page: Page) -> None:
    demo = page.demo
    [row] = demo.services.store.audits.subscriptions(f"slack:{DEMO_TEAM}")
    assert (row.platform, row.destination, row.destination_name) == ("slack", "C0GENERAL", "#general")
    assert (row.cadence, row.weekday, row.hour, row.minute, row.timezone) == ("weekly", 0, 9, 0, "UTC")
    jobs = {job.id: job for job in (await leading(demo)).get_jobs()}
    assert set(jobs) == {"chatops.digests", "chatops.alerts"}
    assert jobs["chatops.alerts"].trigger.interval.total_seconds() == 15 * 60
    assert (await page.get("/emulator/api/workspace"))["digest"] == {"enabled": True}


async def test_send_digest_now_posts_the_weekly_digest_in_general_exactly_once(page: Page) -> None:
    store, fake = page.demo.services.store, page.demo.slack

    answer = await page.post("/emulator/api/digest", {})

    [(subscription, outcome)] = answer["outcomes"].items()
    assert outcome == "sent"
    digest = await page.until(ANA, card_with("Weekly sync audit: Acme Corp"))  # everyone in the channel sees it
    assert digest["author"]["kind"] == "bot" and not digest["ephemeral"] and digest["channel"] == "C0GENERAL"
    assert "Reconnect" in shown(digest["blocks"])
    [posted] = fake.called("chat.postMessage")
    key = posted.params["metadata"]["event_payload"]["key"]
    assert posted.params["metadata"]["event_type"] == "chatops_delivery"
    assert key.startswith(f"digest:{subscription}:manual-")
    assert store.audits.key_state(f"slack:{DEMO_TEAM}", key) == "sent"
    assert [period for period, _, _ in store.audits.digests(subscription)] == [key.rsplit(":", 1)[1]]


async def test_the_first_digest_arrives_shortly_after_start(page: Page) -> None:
    page.demo.digest_soon(0.2)  # `chatops demo` does this with FIRST_DIGEST_S
    digest = await page.until(ADMIN, card_with("Weekly sync audit: Acme Corp"))
    assert not digest["ephemeral"]


async def test_the_alert_sweep_runs_in_the_sandbox_through_apscheduler(page: Page) -> None:
    from datetime import UTC, datetime

    scheduler = await leading(page.demo)
    scheduler.modify_job("chatops.alerts", next_run_time=datetime.now(UTC))  # its 15 minutes, passed

    alert = await page.until(ANA, card_with("Sync alert:"), timeout=60)

    assert alert["channel"] == "C0GENERAL" and not alert["ephemeral"]
    assert "Snooze 1 day" in shown(alert["blocks"])
    store = page.demo.services.store
    deadline = time.monotonic() + 60
    while not all(s.notified_version == s.version for s in store.audits.alerts(f"slack:{DEMO_TEAM}") if s.open):
        assert time.monotonic() < deadline, "the sweep never finished posting"  # one post a second per channel
        await asyncio.sleep(0.2)
    posted = [c.params["metadata"]["event_payload"]["key"] for c in page.demo.slack.called("chat.postMessage")]
    assert len(posted) == len(set(posted))  # each alert once per channel or DM
    in_general = [k for k in posted if k.endswith("@C0GENERAL")]
    assert len(in_general) == len([s for s in store.audits.alerts(f"slack:{DEMO_TEAM}") if s.open])


# ---------------------------------------------------------------- the command itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_command(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "MICROSOFT_APP_"))}
    return subprocess.Popen([sys.executable, "-m", "adapters.cli", "demo", "--no-browser", *args], cwd=ROOT,
                            env={**env, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float = 60) -> tuple[re.Match[str], str]:
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen += line
        found = re.search(pattern, seen)
        if found:
            return found, seen
    process.kill()
    raise AssertionError(f"{pattern!r} never printed:\n{seen}")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_chatops_demo_prints_one_url_and_stops_cleanly(stop: signal.Signals) -> None:
    process = start_command("--port", "0")
    try:
        found, printed = read_until(process, r"Open (http://127\.0\.0\.1:\d+)")
        url = found[1]
        _, printed = read_until(process, r"Ctrl-C stops everything")
        assert re.search(r"signing secret [0-9a-f]{32} \(generated", printed)
        assert "T0DEMO" in printed and "0d0d0d0d-0000-4000-8000-000000000000" in printed
        import urllib.request

        with urllib.request.urlopen(url + "/", timeout=10) as response:
            assert b"chatops sandbox" in response.read()
        process.send_signal(stop)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out
    assert "Stopped." in out and "Traceback" not in out


def test_a_busy_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        process = start_command("--port", str(taken.getsockname()[1]))
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "is not free" in out and "Traceback" not in out

