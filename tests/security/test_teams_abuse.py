"""Hostile requests to /api/messages over real HTTP: tokens wrong in each claim, other tenants' connection ids
through every action, oversize and malformed bodies, and names built to make markdown links."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest

from adapters.sandbox.bot_connector import BotConnector, invoke, message
from chatops.model import Connection, Provider
from tests.edges.teams.conftest import ANA, BOB, EVE, OTHER_TENANT, WORKSPACE, Bot, MakeBot
from tests.edges.teams.tokens import APP_ID, KeyServer, jwk, new_key, token
from tests.security.rendered import assert_teams_text_is_inert, teams_texts

KEY = new_key()
CARD = "application/vnd.microsoft.card.adaptive"


@pytest.fixture
async def keys() -> AsyncIterator[KeyServer]:
    server = await KeyServer(keys=[jwk(KEY, "k1", ["msteams"])]).start()
    yield server
    await server.stop()


@pytest.fixture
async def secured(make_bot: MakeBot, keys: KeyServer, connector: BotConnector) -> Bot:
    return await make_bot({"CHATOPS_TEAMS_DEMO": "0", "MICROSOFT_APP_ID": APP_ID,
                           "MICROSOFT_APP_PASSWORD": "not-a-real-secret",
                           "CHATOPS_TEAMS_OPENID_METADATA_URL": keys.url,
                           "CHATOPS_TEAMS_SERVICE_URL_HOSTS": connector.host})


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def tampered(url: str) -> str:
    """A valid token whose payload was edited afterwards (another audience), the signature kept."""
    header, _, signature = token(KEY, service_url=url).split(".")
    payload = {"iss": "https://api.botframework.com", "aud": APP_ID, "exp": int(time.time()) + 3600,
               "serviceurl": url, "extra": "edited"}
    return f"{header}.{b64(payload)}.{signature}"


def unsigned(url: str) -> str:
    payload = {"iss": "https://api.botframework.com", "aud": APP_ID, "exp": int(time.time()) + 3600,
               "serviceurl": url}
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': 'k1'})}.{b64(payload)}."


def signed(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A JWT signed with the right key whatever its header says (PyJWT refuses to write odd headers)."""
    from jwt.algorithms import RSAAlgorithm

    head = f"{b64(header)}.{b64(payload)}"
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(head.encode(), KEY)
    return f"{head}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


BAD_TOKENS = [
    ("alg none, no signature", unsigned, (401, 403)),
    ("payload edited after signing", tampered, (401, 403)),
    ("no exp claim", lambda url: jwt.encode({"iss": "https://api.botframework.com", "aud": APP_ID,
                                            "serviceurl": url}, KEY, algorithm="RS256", headers={"kid": "k1"}),
     (403,)),
    ("no aud claim", lambda url: jwt.encode({"iss": "https://api.botframework.com", "exp": 2**31, "serviceurl": url},
                                            KEY, algorithm="RS256", headers={"kid": "k1"}), (403,)),
    ("audience list without us", lambda url: token(KEY, service_url=url, audience=["other-bot", "x"]), (403,)),
    ("issuer with a trailing slash", lambda url: token(KEY, service_url=url, issuer="https://api.botframework.com/"),
     (403,)),
    ("serviceurl of another host", lambda url: token(KEY, service_url="https://attacker.example/"), (403,)),
    ("kid that is not a string", lambda url: signed({"alg": "RS256", "kid": 7},
                                                    {"iss": "https://api.botframework.com", "aud": APP_ID,
                                                     "exp": 2**31, "serviceurl": url}), (401, 403)),
    ("RS512 instead of RS256", lambda url: token(KEY, service_url=url, algorithm="RS512"), (403,)),
    ("expired an hour ago", lambda url: token(KEY, service_url=url, expires_in=-3600), (403,)),
    ("bearer in lower case", lambda url: "x", (401,)),
    ("a three-part string that is not base64", lambda url: "a.b.c", (401, 403)),
]


@pytest.mark.parametrize(("why", "make", "expected"), BAD_TOKENS, ids=[b[0] for b in BAD_TOKENS])
async def test_an_invoke_with_a_bad_token_reaches_no_handler(secured: Bot, why: str, make: Any,
                                                            expected: tuple[int, ...]) -> None:
    data = {"chatops": 1, "kind": "retest", "t": secured.ids["broken-ana"], "v": "", "ws": WORKSPACE}
    activity = invoke(secured.connector, data, verb="chatops.retest", reply_to_id="1", user_id=ANA)
    runs = await asyncio.to_thread(secured.store.run_history, WORKSPACE)

    status, body = await secured.post(activity, token=make(activity["serviceUrl"]))

    assert status in expected, (why, status, body)
    assert body["error"]["code"] in ("Unauthorized", "Forbidden")
    assert await asyncio.to_thread(secured.store.run_history, WORKSPACE) == runs  # no diagnosis ran
    assert not secured.connector.requests


async def test_a_token_for_another_channel_is_refused(secured: Bot) -> None:
    """The key is endorsed for msteams; an activity claiming to come from webchat is not ours to take."""
    activity = message(secured.connector, "syncstatus", user_id=ANA)
    activity["channelId"] = "webchat"

    status, body = await secured.post(activity, token=token(KEY, service_url=activity["serviceUrl"]))

    assert status == 403 and "endorsed" in body["error"]["message"]
    assert not secured.connector.requests


async def test_a_huge_authorization_header_is_refused_not_a_500(secured: Bot) -> None:
    activity = message(secured.connector, "syncstatus", user_id=ANA)
    status, _ = await secured.post(activity, token="e" * 7000 + "." + "e" * 100 + ".e")
    assert status in (400, 401, 403, 431)
    async with aiohttp.ClientSession() as session, session.post(
            secured.url, data=json.dumps(activity),
            headers={"Content-Type": "application/json", "Authorization": "Bearer " + "x" * 20000}) as answer:
        assert answer.status in (400, 431)
    assert not secured.connector.requests


# ---------------------------------------------------------------- another tenant's connections


def acts(bot: Bot, kind: str, target: str, *, ws: str = WORKSPACE, user: str = BOB, value: str = "2") -> list[dict]:
    """The same click as Action.Execute (an invoke) and as the Action.Submit fallback (a message)."""
    data = {"chatops": 1, "kind": kind, "t": target, "v": value, "ws": ws}
    return [invoke(bot.connector, data, verb=f"chatops.{kind}", reply_to_id="1:card", user_id=user),
            message(bot.connector, "", user_id=user, replyToId="1:card", value={**data, "verb": f"chatops.{kind}"})]


def shown(bot: Bot, answers: list[Any]) -> str:
    sent = [r.body for r in bot.connector.sent()]
    return json.dumps([answers, sent], ensure_ascii=False, default=str)


@pytest.mark.parametrize("kind", ["retest", "details", "page", "snooze", "reconnect", "open_url"])
async def test_actions_naming_another_tenants_connection_are_refused(make_bot: MakeBot, kind: str) -> None:
    bot = await make_bot()
    eve = bot.ids["eve-gmail"]
    answers = []
    for target in (eve, f"{eve}:mail", "eve-gmail"):
        for user in (BOB, ANA):  # an admin and a member of the first tenant
            for activity in acts(bot, kind, target, user=user):
                status, body = await bot.post(activity)
                assert status == 200, body
                answers.append(body)
    for activity in acts(bot, kind, bot.ids["ana-gmail"], ws=f"teams:{OTHER_TENANT}"):  # data says: other tenant
        status, body = await bot.post(activity)
        assert status == 200
        answers.append(body)
    await asyncio.sleep(0.5)

    text = shown(bot, answers)
    assert "eve@other.example" not in text and "eve-gmail:" not in text
    assert f'"t": "{eve}"' not in text
    runs = await asyncio.to_thread(bot.store.run_history, f"teams:{OTHER_TENANT}")
    assert runs == []  # nothing ran in the other tenant


async def test_messages_naming_another_tenants_connection_are_refused(make_bot: MakeBot) -> None:
    bot = await make_bot()
    eve = bot.ids["eve-gmail"]
    for text in (f"syncstatus {eve}", "syncstatus eve-gmail", "syncstatus eve@other.example",
                 f"syncstatus logs {eve}", "syncstatus all"):
        for user in (BOB, ANA):
            before = len(bot.connector.sent())
            status, _ = await bot.post(message(bot.connector, text, user_id=user))
            assert status == 200
            await bot.connector.wait_for(lambda c, n=before: len(c.sent()) > n, timeout_s=10)
            sent = json.dumps([r.body for r in bot.connector.sent()[before:]], ensure_ascii=False)
            for marker in ("eve@other.example", "eve-gmail", eve):  # what was typed may be echoed, no more
                assert marker not in sent or marker in text, (text, marker)
            assert "eve-gmail:" not in sent  # a status line would read "eve-gmail: Healthy"


async def test_a_member_of_the_other_tenant_sees_only_their_own(make_bot: MakeBot) -> None:
    bot = await make_bot()
    status, _ = await bot.post(message(bot.connector, "syncstatus all", user_id=EVE, tenant_id=OTHER_TENANT,
                                       conversation_id="a:eve"))
    assert status == 200
    await asyncio.sleep(1.0)
    sent = json.dumps([r.body for r in bot.connector.sent()], ensure_ascii=False)
    for name in ("ana-gmail", "broken-ana", "bob-salesforce", "ana@acme.example"):
        assert name not in sent


# ---------------------------------------------------------------- oversize and malformed bodies


def deep(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


@pytest.mark.parametrize(("name", "body", "content_type"), [
    ("deep JSON object", deep(100_000), "application/json"),
    ("deep JSON array", b"[" * 300_000 + b"]" * 300_000, "application/json"),
    ("invalid UTF-8", b'{"type": "message", "text": "\xff\xfe"}', "application/json"),
    ("NaN and huge numbers", b'{"type": "message", "id": NaN, "x": 1e999999}', "application/json"),
    ("empty", b"", "application/json"),
    ("form body", b"type=message", "application/x-www-form-urlencoded"),
    ("conversation id a number", json.dumps({"type": "message", "conversation": {"id": 7},
                                             "serviceUrl": "https://smba.trafficmanager.net/x/"}).encode(),
     "application/json"),
    ("value a huge list", json.dumps({"type": "invoke", "name": "adaptiveCard/action", "conversation": {"id": "a:x"},
                                      "serviceUrl": "https://smba.trafficmanager.net/x/",
                                      "value": list(range(50_000))}).encode(), "application/json"),
    ("entities of strings", json.dumps({"type": "message", "conversation": {"id": "a:x"}, "text": "syncstatus",
                                        "serviceUrl": "https://smba.trafficmanager.net/x/",
                                        "entities": ["mention", 7]}).encode(), "application/json"),
])
async def test_malformed_bodies_are_refused_never_a_500(make_bot: MakeBot, name: str, body: bytes,
                                                        content_type: str) -> None:
    bot = await make_bot()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(
            bot.url, data=io.BytesIO(body), headers={"Content-Type": content_type}) as answer:
        status = answer.status
    assert status < 500 and status != 200 or name == "entities of strings", (name, status)
    assert time.monotonic() - started < 3.0, name
    status, _ = await bot.post(message(bot.connector, "syncstatus", user_id=ANA))  # still serving
    assert status == 200


async def test_a_body_over_one_megabyte_is_refused_quickly(make_bot: MakeBot) -> None:
    bot = await make_bot()
    activity = message(bot.connector, "syncstatus " + "x" * (1024 * 1024), user_id=ANA)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.post(
            bot.url, data=io.BytesIO(json.dumps(activity).encode()),
            headers={"Content-Type": "application/json"}) as answer:
        assert answer.status == 413
    assert time.monotonic() - started < 2.0
    assert not bot.connector.sent()


# ---------------------------------------------------------------- injection into Adaptive Cards

NAMES = ("[Reconnect here](https://evil.example/login)", "broken-![x](https://evil.example/p.png)",
         "broken-{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "broken-<at>Bob Admin</at> **bold** _it_",
         "broken-1. step\n- item\n[ref]: https://evil.example")


async def test_names_and_evidence_cannot_make_markdown_links_or_card_functions(make_bot: MakeBot) -> None:
    bot = await make_bot()
    for name in NAMES:
        await asyncio.to_thread(bot.store.add_connection, WORKSPACE, Connection(
            id="", workspace_id="", name=name, owner_email="ana@acme.example", crm=Provider.SALESFORCE,
            crm_user_email="ana@acme.example", mailbox_provider=Provider.GOOGLE,
            mailbox_email="[ana](https://evil.example)@acme.example"))

    await bot.post(message(bot.connector, "syncstatus all", user_id=BOB))
    await bot.post(message(bot.connector, "syncstatus", user_id=ANA))
    await bot.connector.wait_for(lambda c: len(c.sent()) >= 2, timeout_s=20)

    cards = [a["content"] for r in bot.connector.sent() if isinstance(r.body, dict)
             for a in r.body.get("attachments") or [] if a["contentType"] == CARD]
    checked = [text for card in cards for text in teams_texts(card)]
    assert len(checked) > 20
    for text in checked:
        assert_teams_text_is_inert(text)
    joined = "\n".join(checked)
    assert "\\[Reconnect here\\](https://evil.example/login)" in joined  # shown, as text
