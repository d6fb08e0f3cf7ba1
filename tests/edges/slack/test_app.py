"""Signed Slack requests over real HTTP into `chatops serve`, with a local fake of Slack recording what comes back."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.sandbox.slack_api import FakeSlack, Message
from tests.edges.slack.conftest import ACME, OTHER, SECRET, STRANGER, Bot, StartBot, silent_listener
from tests.shared import CONFORMANCE

SLACK = CONFORMANCE / "slack"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/slack"


def valid(blocks: list[dict]) -> list[dict]:
    assert 0 < len(blocks) <= 50
    for b in blocks:
        Block.parse(b).to_dict()  # type: ignore[union-attr]
    return blocks


def text_of(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def card_of(bot: Bot, url: str) -> Message:
    hook = bot.fake.response_urls[url]
    assert hook.message is not None
    return hook.message


async def no_calls_for_a_moment(bot: Bot) -> None:
    await asyncio.sleep(0.3)  # the listener would have called users.info by now
    assert bot.fake.calls == []


# ---------------------------------------------------------------- signatures


async def test_forged_stale_and_tampered_requests_get_401_and_reach_no_listener(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    body = bot.fake.command_body(ACME, "U0ANA")

    assert (await bot.post(body, secret="not-the-secret"))[0] == 401
    assert (await bot.post(body, timestamp=int(time.time()) - 301))[0] == 401  # replay window
    assert (await bot.post(body, timestamp=int(time.time()) + 305))[0] == 401
    signed = bot.fake.sign(SECRET, body)
    async with bot.http.post(f"{bot.url}/slack/events", data=body + b"&x=1", headers={
            "Content-Type": "application/x-www-form-urlencoded", **signed}) as answer:  # one byte more
        assert answer.status == 401
    for headers in ({}, {"X-Slack-Request-Timestamp": signed["X-Slack-Request-Timestamp"]},
                    {"X-Slack-Signature": signed["X-Slack-Signature"]},
                    {**signed, "X-Slack-Request-Timestamp": "yesterday"}):
        async with bot.http.post(f"{bot.url}/slack/events", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", **headers}) as answer:
            assert answer.status == 401, headers
    await no_calls_for_a_moment(bot)
    assert bot.fake.response_urls[next(iter(bot.fake.response_urls))].uses == 0


async def test_the_documented_signing_vector_is_refused_as_stale_today(start_bot: StartBot) -> None:
    vector = json.loads((SLACK / "signing_test_vector.json").read_text())
    bot: Bot = await start_bot()
    async with bot.http.post(f"{bot.url}/slack/events", data=vector["raw_body"].encode(),
                             headers=vector["headers"]) as answer:
        assert answer.status == 401  # correctly signed in 2018, so it is a replay now
    await no_calls_for_a_moment(bot)


async def test_a_signature_over_a_reserialised_json_body_is_refused(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    event = {"type": "app_home_opened", "user": "U0ANA", "tab": "home"}
    compact = bot.fake.event_body(ACME, event, "Ev1")
    spaced = json.dumps(json.loads(compact)).encode()  # same JSON, other bytes
    async with bot.http.post(f"{bot.url}/slack/events", data=spaced, headers={
            "Content-Type": "application/json", **bot.fake.sign(SECRET, compact)}) as answer:
        assert answer.status == 401
    await no_calls_for_a_moment(bot)


async def test_url_verification_answers_the_challenge(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    body = (SLACK / "url_verification.docs_example.json").read_bytes().strip()
    status, text = await bot.post(json.dumps(json.loads(body), separators=(",", ":")).encode(),
                                  content_type="application/json")
    assert status == 200
    assert json.loads(text) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


# ---------------------------------------------------------------- /syncstatus


async def test_syncstatus_acks_with_a_count_then_delivers_the_card_through_response_url(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    status, ack = await bot.command(ACME, "U0ANA")

    assert status == 200
    assert ack == {"text": "Checking 1 connection…", "response_type": "ephemeral"}
    [delivery] = await bot.responses(1)
    body = delivery.params
    assert body["replace_original"] is True
    blocks = valid(body["blocks"])
    assert blocks[0]["type"] == "header" and "ana-salesforce-gmail" in blocks[0]["text"]["text"]
    shown = text_of(blocks)
    assert "ben-hubspot-outlook" not in shown  # only her own
    assert any(b["type"] == "actions" for b in blocks)
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert "Retest" in labels and "Details" in labels
    assert [c.params["user"] for c in bot.fake.called("users.info")] == ["U0ANA"]


async def test_a_members_repeated_commands_write_their_member_row_once(start_bot: StartBot) -> None:
    # Every command wrote the member again: at 50 concurrent commands the writes queued the acks' reads.
    from sqlalchemy import event

    bot: Bot = await start_bot()
    writes: list[str] = []
    event.listen(bot.services.store.engine, "before_cursor_execute",
                 lambda _c, _k, statement, *_: writes.append(statement) if "INTO members" in statement else None)

    for _ in range(3):
        status, _ack = await bot.command(ACME, "U0ANA")
        assert status == 200
    await bot.responses(3)

    assert len(writes) == 1
    member = bot.services.store.member(f"slack:{ACME}", "U0ANA")
    assert member is not None and member.email == bot.fake.users[(ACME, "U0ANA")].email


async def test_the_ack_arrives_at_once_while_a_provider_hangs_and_the_card_marks_the_timeout(
        start_bot: StartBot) -> None:
    async with silent_listener() as port:
        bot: Bot = await start_bot(provider_port=port)
        started = time.monotonic()

        status, ack = await bot.command(ACME, "U0ANA")

        assert status == 200 and "Checking 1 connection" in json.dumps(ack)
        assert bot.ack_seconds[-1] < 1.0  # Slack allows 3 s
        assert bot.fake.called("response_url") == []  # the diagnosis is still running
        [delivery] = await bot.responses(1, timeout=20)
        assert time.monotonic() - started >= 0.9  # it waited for the check timeout
        shown = text_of(valid(delivery.params["blocks"]))
        assert "gave no answer" in shown or "did not finish" in shown


async def test_an_unknown_word_gets_help_with_a_suggestion_not_an_error(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    await bot.command(ACME, "U0ANA", "halp")

    [delivery] = await bot.responses(1)
    shown = json.dumps(delivery.params)
    assert "/syncstatus" in shown and "help" in shown
    assert delivery.params["response_type"] == "ephemeral"
    assert "Traceback" not in shown


async def test_all_is_for_admins_only(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    await bot.command(ACME, "U0ANA", "all")
    [refusal] = await bot.responses(1)
    assert "Only workspace admins" in refusal.params["text"]
    assert refusal.params["response_type"] == "ephemeral"

    status, ack = await bot.command(ACME, "U0ADMIN", "all")
    assert ack["text"] == "Checking 2 connections…"  # type: ignore[index]
    overview = (await bot.responses(2))[1]
    shown = text_of(valid(overview.params["blocks"]))
    assert "ana-salesforce-gmail" in shown and "ben-hubspot-outlook" in shown


async def test_a_mention_is_resolved_to_the_members_email(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    await bot.command(ACME, "U0ADMIN", "<@U0BEN|ben>")

    [delivery] = await bot.responses(1)
    assert "ben-hubspot-outlook" in text_of(valid(delivery.params["blocks"]))
    assert sorted(c.params["user"] for c in bot.fake.called("users.info")) == ["U0ADMIN", "U0BEN"]


async def test_a_member_cannot_look_at_someone_elses_connections(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    await bot.command(ACME, "U0ANA", "<@U0BEN|ben>")

    [delivery] = await bot.responses(1)
    assert "ben-hubspot-outlook" not in json.dumps(delivery.params)
    assert "Only workspace admins" in json.dumps(delivery.params)


async def test_the_configured_admin_list_makes_an_admin(start_bot: StartBot) -> None:
    bot: Bot = await start_bot(env={"SLACK_ADMIN_USERS": "ana@acme.example"})

    await bot.command(ACME, "U0ANA", "all")

    [delivery] = await bot.responses(1)
    assert "ben-hubspot-outlook" in text_of(valid(delivery.params["blocks"]))


# ---------------------------------------------------------------- buttons


async def first_card(bot: Bot, team: str = ACME, user: str = "U0ANA", text: str = "") -> Message:
    before = len(bot.delivered())
    await bot.command(team, user, text)
    [delivery] = (await bot.responses(before + 1))[before:]
    return card_of(bot, delivery.url)


async def test_retest_shows_rechecking_then_replaces_the_card_in_place(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    card = await first_card(bot)
    assert not card.ephemeral  # the core posts status cards in the channel

    status, _ = await bot.click(ACME, "U0ANA", card, "chatops:retest")

    assert status == 200
    rechecking, result = (await bot.responses(3))[1:]
    assert rechecking.params["replace_original"] is True
    assert "Rechecking" in text_of(rechecking.params["blocks"])
    assert rechecking.params["blocks"][0] == result.params["blocks"][0]  # the header stays; the row changes
    assert result.params["replace_original"] is True
    assert "ana-salesforce-gmail" in text_of(valid(result.params["blocks"]))
    assert bot.fake.response_urls[result.url].message is card  # the same message, replaced


async def test_retest_by_someone_else_is_refused_and_the_card_is_put_back(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    card = await first_card(bot)
    original = list(card.blocks)

    await bot.click(ACME, "U0BEN", card, "chatops:retest")

    calls = await bot.responses(4)
    assert card.blocks == original
    assert "your own connections" in calls[-1].params["text"]
    assert calls[-1].params["response_type"] == "ephemeral" and "replace_original" not in calls[-1].params


async def test_details_opens_a_modal_with_every_finding(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    card = await first_card(bot)

    await bot.click(ACME, "U0ANA", card, "chatops:details")

    [call] = await bot.fake.wait_for("views.open")
    view = call.params["view"]
    View(**view).to_dict()
    assert view["type"] == "modal" and view["title"]["text"] == "Details"
    shown = text_of(view["blocks"])
    assert "[credentials]" in shown and "[network]" in shown
    assert call.params["trigger_id"]


async def test_a_link_button_is_only_acknowledged(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    card = await first_card(bot)
    buttons = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"] if e.get("url")]
    if not buttons:  # no reconnect link configured in this deployment: nothing to click
        return
    calls = len(bot.fake.calls)
    await bot.click(ACME, "U0ANA", card, buttons[0]["action_id"])
    await asyncio.sleep(0.3)
    assert len(bot.fake.calls) == calls


# ---------------------------------------------------------------- App Home and events


async def test_app_home_shows_workspace_health_and_the_viewers_connections(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    await first_card(bot)  # ana's connection has results now

    status, _ = await bot.event(ACME, {"type": "app_home_opened", "user": "U0ANA", "channel": "D1", "tab": "home",
                                       "event_ts": "1.2"})

    assert status == 200
    [call] = await bot.fake.wait_for("views.publish")
    view = call.params["view"]
    View(**view).to_dict()
    shown = text_of(view["blocks"])
    assert view["type"] == "home" and call.params["user_id"] == "U0ANA"
    assert "Workspace health" in shown and "not checked yet" in shown  # ben's was never checked
    assert "ana-salesforce-gmail" in shown and "ben-hubspot-outlook" not in shown


async def test_retest_from_app_home_refreshes_the_tab(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    await first_card(bot)
    await bot.event(ACME, {"type": "app_home_opened", "user": "U0ANA", "tab": "home", "event_ts": "1.2"})
    [call] = await bot.fake.wait_for("views.publish")
    view = bot.fake.views["U0ANA"]

    await bot.click(ACME, "U0ANA", Message("", "", "", []), "chatops:retest", view=view)

    calls = await bot.fake.wait_for("views.publish", 3)
    assert "Rechecking" in text_of(calls[1].params["view"]["blocks"])
    assert "Rechecking" not in text_of(calls[2].params["view"]["blocks"])


async def test_a_retried_event_is_handled_once(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    event = {"type": "app_home_opened", "user": "U0ANA", "tab": "home", "event_ts": "1.2"}

    answers = [await bot.event(ACME, event, event_id="Ev0RETRY")]
    for n in (1, 2, 3):
        answers.append(await bot.event(ACME, event, event_id="Ev0RETRY", headers={
            "X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"}))

    assert [status for status, _ in answers] == [200] * 4
    await bot.fake.wait_for("views.publish")
    await asyncio.sleep(0.5)
    assert len(bot.fake.called("views.publish")) == 1


async def test_a_retried_event_is_handled_once_across_two_replicas(start_bot: StartBot) -> None:
    first: Bot = await start_bot()
    second: Bot = await start_bot()  # same database, another process' worth of app
    event = {"type": "app_home_opened", "user": "U0ANA", "tab": "home", "event_ts": "1.2"}

    answers = await asyncio.gather(first.event(ACME, event, event_id="Ev0SPLIT"),
                                   second.event(ACME, event, event_id="Ev0SPLIT", headers={"X-Slack-Retry-Num": "1"}),
                                   first.event(ACME, event, event_id="Ev0SPLIT", headers={"X-Slack-Retry-Num": "2"}),
                                   second.event(ACME, event, event_id="Ev0SPLIT", headers={"X-Slack-Retry-Num": "3"}))

    assert [status for status, _ in answers] == [200] * 4
    await first.fake.wait_for("views.publish")
    await asyncio.sleep(0.5)
    assert len(first.fake.called("views.publish")) == 1


# ---------------------------------------------------------------- workspaces


async def test_two_teams_see_only_their_own_connections(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    await bot.command(OTHER, "U0ZOE", "all")  # an owner of the other team
    [delivery] = await bot.responses(1)
    shown = json.dumps(delivery.params)
    assert "zoe-salesforce-gmail" in shown
    assert "ana-" not in shown and "ben-" not in shown and "acme" not in shown.lower()
    assert {c.team_id for c in bot.fake.called("users.info")} == {OTHER}  # with the other team's token

    # a button forged to name an Acme connection, clicked in the other team
    acme_card = await first_card(bot)
    await bot.click(OTHER, "U0ZOE", acme_card, "chatops:retest")
    last = (await bot.responses(5))[-1]
    assert "no longer exists in this workspace" in last.params["text"]


async def test_a_team_that_has_not_installed_the_app_gets_not_installed_here(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()

    status, _ = await bot.command(STRANGER, "U0EVE", "all")

    assert status == 200
    [delivery] = await bot.responses(1)
    assert "not installed" in delivery.params["text"]
    assert bot.fake.called("users.info") == []  # nothing was looked up with anybody's token
    status, _ = await bot.event(STRANGER, {"type": "app_home_opened", "user": "U0EVE", "tab": "home"})
    assert status == 200
    await asyncio.sleep(0.3)
    assert bot.fake.called("views.publish") == []


async def test_app_uninstalled_forgets_the_installation(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    event = json.loads((FIXTURES / "app_uninstalled.event.json").read_text())

    assert (await bot.event(ACME, event))[0] == 200

    for _ in range(50):
        if await bot.installs.find(ACME) is None:
            break
        await asyncio.sleep(0.05)
    assert await bot.installs.find(ACME) is None
    assert await bot.installs.find(OTHER) is not None
    await bot.command(ACME, "U0ANA")
    [delivery] = await bot.responses(1)
    assert "not installed" in delivery.params["text"]


async def test_tokens_revoked_for_the_bot_forgets_the_installation(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    event = json.loads((FIXTURES / "tokens_revoked.event.json").read_text())

    assert (await bot.event(ACME, event))[0] == 200

    for _ in range(50):
        if await bot.installs.find(ACME) is None:
            break
        await asyncio.sleep(0.05)
    assert await bot.installs.find(ACME) is None


# ---------------------------------------------------------------- Slack errors


async def test_a_429_from_slack_is_waited_out_then_retried(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    bot.fake.rate_limit("users.info", retry_after=1)

    started = time.monotonic()
    await bot.command(ACME, "U0ANA")

    [delivery] = await bot.responses(1)
    calls = bot.fake.called("users.info")
    assert len(calls) == 2
    assert time.monotonic() - started >= 1.0
    assert "ana-salesforce-gmail" in text_of(delivery.params["blocks"])


async def test_a_429_on_response_url_is_waited_out_too(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    bot.fake.rate_limit("response_url", retry_after=1)

    await bot.command(ACME, "U0ANA")

    calls = await bot.responses(2)
    assert calls[0].params == calls[1].params


async def test_a_dead_response_url_falls_back_to_chat_post_message_then_to_a_dm(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    bot.fake.fail("response_url", "expired_url", times=2)

    await bot.command(ACME, "U0ANA")
    [post] = await bot.fake.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0GENERAL"
    assert "ana-salesforce-gmail" in text_of(valid(post.params["blocks"]))

    bot.fake.fail("chat.postMessage", "not_in_channel")
    await bot.command(ACME, "U0ANA")
    posts = await bot.fake.wait_for("chat.postMessage", 3)
    assert posts[-1].params["channel"] == "U0ANA"  # the DM with the app


async def test_users_info_failing_still_answers_politely(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    bot.fake.fail("users.info", "user_not_found")

    status, ack = await bot.command(ACME, "U0ANA")

    assert status == 200
    [delivery] = await bot.responses(1)
    assert "email address" in json.dumps(delivery.params)


# ---------------------------------------------------------------- modes


async def test_single_workspace_mode_serves_its_team_and_refuses_others(start_bot: StartBot) -> None:
    bot: Bot = await start_bot(mode="single")

    await bot.command(ACME, "U0ANA")
    [delivery] = await bot.responses(1)
    assert "ana-salesforce-gmail" in text_of(delivery.params["blocks"])

    await bot.command(OTHER, "U0ZOE", "all")
    refusal = (await bot.responses(2))[1]
    assert "not installed" in refusal.params["text"]
    await bot.command(ACME, "U0BEN")
    await bot.responses(3)
    assert len(bot.fake.called("auth.test")) == 1  # asked once, not on every request


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # bolt's code exchange
async def test_oauth_install_keeps_an_encrypted_installation_and_the_state_is_single_use(start_bot: StartBot) -> None:
    bot: Bot = await start_bot(install=())
    async with bot.http.get(f"{bot.url}/slack/install", allow_redirects=False) as answer:
        assert answer.status == 302
        authorize = answer.headers["Location"]
        # the state cookie is Secure; the browser sends it back to the https callback
        cookie = {"Cookie": "; ".join(f"{k}={m.value}" for k, m in answer.cookies.items())}
    assert authorize.startswith(f"{bot.fake.base_url}/oauth/v2/authorize?")
    assert "scope=commands,chat:write,users:read,users:read.email,channels:history,groups:history&" in authorize
    async with bot.http.get(authorize + f"&team={ACME}", allow_redirects=False) as consent:
        callback = consent.headers["Location"].replace("http://127.0.0.1:1", bot.url)
    async with bot.http.get(callback, headers=cookie) as done:
        assert done.status == 200

    found = await bot.installs.find(ACME)
    assert found is not None and found.bot_token.reveal() == bot.fake.teams[ACME].bot_token
    assert len(bot.fake.called("oauth.v2.access")) == 1
    db = (Path(bot.services.config.settings.data_dir) / "bot.db").read_bytes()
    assert bot.fake.teams[ACME].bot_token.encode() not in db

    async with bot.http.get(callback, headers=cookie) as replay:  # the same state, once more
        assert replay.status in (400, 401)  # bolt: invalid or missing state
    assert len(bot.fake.called("oauth.v2.access")) == 1
    await bot.command(ACME, "U0ANA")
    [delivery] = await bot.responses(1)
    assert "ana-salesforce-gmail" in text_of(delivery.params["blocks"])


async def test_a_token_about_to_expire_is_refreshed_once_for_many_concurrent_requests(start_bot: StartBot) -> None:
    from datetime import UTC, datetime, timedelta

    from chatops.model import Secret

    bot: Bot = await start_bot()
    team = bot.fake.teams[ACME]
    team.refresh_token, team.expires_in = "xoxe-1-first", 43200
    found = await bot.installs.find(ACME)
    assert found is not None
    await bot.installs.save(bot.installs.installations.with_tokens(
        found, found.bot_token.reveal(), "xoxe-1-first", datetime.now(UTC) + timedelta(minutes=5)))

    answers = await asyncio.gather(*(bot.command(ACME, "U0ANA") for _ in range(20)))

    assert [status for status, _ in answers] == [200] * 20
    assert len(bot.fake.called("oauth.v2.access")) == 1
    await bot.responses(20, timeout=30)
    refreshed = await bot.installs.find(ACME)
    assert refreshed is not None and refreshed.bot_refresh_token == Secret(team.refresh_token)
    assert refreshed.bot_token.reveal() == team.bot_token


async def test_socket_mode_takes_a_slash_command_over_the_websocket(start_bot: StartBot, fake: FakeSlack) -> None:
    from urllib.parse import parse_qsl

    fake.app_tokens.add("xapp-1-A0CHATOPS-1-socketmodetoken")
    bot: Bot = await start_bot(env={"SLACK_APP_TOKEN": "xapp-1-A0CHATOPS-1-socketmodetoken"}, socket=True)
    command = dict(parse_qsl(bot.fake.command_body(ACME, "U0ANA").decode()))

    ack = await fake.socket_send("slash_commands", command)

    assert ack["payload"] == {"text": "Checking 1 connection…", "response_type": "ephemeral"}
    [delivery] = await bot.responses(1)
    assert "ana-salesforce-gmail" in text_of(valid(delivery.params["blocks"]))
    assert len(fake.called("apps.connections.open")) == 1


async def test_an_overview_of_many_connections_pages_in_place(start_bot: StartBot) -> None:
    from chatops.imports import parse_connections

    bot: Bot = await start_bot()
    extra = "\n".join(f"- {{name: rep-{n:02d}, crm: hubspot, crm_user_email: rep{n}@acme.example, mailbox_provider: imap, "
                      f"mailbox_email: rep{n}@acme.example, mail_host: 127.0.0.1}}" for n in range(10))
    await asyncio.to_thread(bot.services.store.import_connections, f"slack:{ACME}",
                            parse_connections(extra, f"slack:{ACME}"))

    card = await first_card(bot, user="U0ADMIN", text="all")
    assert "Page 1 of 2" in text_of(valid(card.blocks))

    await bot.click(ACME, "U0ADMIN", card, "chatops:page")

    page = (await bot.responses(2))[1]
    assert page.params["replace_original"] is True
    assert "Page 2 of 2" in text_of(valid(page.params["blocks"]))
    assert card.blocks == page.params["blocks"]  # the same message, now on page 2


async def test_fifty_concurrent_commands_are_all_acked_well_within_three_seconds(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    users = ["U0ANA", "U0BEN", "U0ADMIN", "U0NOBODY"]

    answers = await asyncio.gather(*(bot.command(ACME, users[n % 4]) for n in range(50)))

    assert [status for status, _ in answers] == [200] * 50
    ordered = sorted(bot.ack_seconds)
    assert ordered[-1] < 3.0, ordered[-5:]
    assert ordered[len(ordered) // 2] < 1.0
    await bot.responses(50, timeout=60)


async def test_no_bot_token_reaches_the_logs(start_bot: StartBot, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    bot: Bot = await start_bot()
    await bot.command(ACME, "U0ANA")
    card = card_of(bot, (await bot.responses(1))[0].url)
    await bot.click(ACME, "U0ANA", card, "chatops:details")
    await bot.fake.wait_for("views.open")

    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "users.info" in logged  # the Web API calls were logged, at debug level
    for team in bot.fake.teams.values():
        assert team.bot_token not in logged
