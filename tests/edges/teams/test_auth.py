"""Inbound JWTs from locally made keys, served by a local OpenID endpoint: each bad token is 401/403, never 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from aiohttp import web

from adapters.sandbox.bot_connector import BotConnector, message
from adapters.teams import mount
from adapters.teams.settings import TeamsSettings
from tests.edges.teams.conftest import WORKSPACE, Bot, MakeBot
from tests.edges.teams.tokens import APP_ID, KeyServer, jwk, new_key, token

KEY = new_key()


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


def install(bot: Bot) -> dict[str, Any]:
    """An installationUpdate: accepted, it stores a reference and sends nothing (no outbound token needed)."""
    activity = message(bot.connector, "", conversation_id="a:ana-chat")
    activity.update({"type": "installationUpdate", "action": "add"})
    activity.pop("text")
    return activity


async def stored(bot: Bot) -> list[str]:
    refs = await asyncio.to_thread(bot.teams.conversations.list, WORKSPACE)
    return [r.conversation_id for r in refs]


async def test_a_valid_token_is_accepted(secured: Bot) -> None:
    activity = install(secured)

    status, _ = await secured.post(activity, token=token(KEY, service_url=activity["serviceUrl"]))

    assert status == 200
    assert await stored(secured) == ["a:ana-chat"]


async def test_a_token_expired_within_the_five_minute_skew_is_accepted(secured: Bot) -> None:
    activity = install(secured)

    status, _ = await secured.post(activity, token=token(KEY, service_url=activity["serviceUrl"], expires_in=-240))

    assert status == 200


@pytest.mark.parametrize(("why", "make", "expected"), [
    ("no header", lambda url: "", 401),
    ("not a JWT", lambda url: "not.a.jwt", 401),
    ("wrong audience", lambda url: token(KEY, service_url=url, audience="another-bot"), 403),
    ("wrong issuer", lambda url: token(KEY, service_url=url, issuer="https://sts.windows.net/evil/"), 403),
    ("expired 6 minutes ago", lambda url: token(KEY, service_url=url, expires_in=-360), 403),
    ("not valid yet", lambda url: token(KEY, service_url=url, not_before=10**10), 403),
    ("unknown key", lambda url: token(KEY, service_url=url, kid="k-unknown"), 403),
    ("signed by another key", lambda url: token(new_key(), service_url=url), 403),
    ("serviceurl mismatch", lambda url: token(KEY, service_url="https://smba.trafficmanager.net/amer/"), 403),
    ("no serviceurl claim", lambda url: token(KEY, service_url=url, serviceurl=None), 403),
    ("HS256, a shared secret", lambda url: jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID, "exp": 2**31, "serviceurl": url},
        "a-shared-secret-of-at-least-32-bytes!", algorithm="HS256", headers={"kid": "k1"}), 403),
])
async def test_bad_tokens_are_refused_and_nothing_is_stored(secured: Bot, why: str, make: Any, expected: int) -> None:
    activity = install(secured)

    status, body = await secured.post(activity, token=make(activity["serviceUrl"]))

    assert status == expected, (why, body)
    assert body["error"]["code"] in ("Unauthorized", "Forbidden")
    assert await stored(secured) == []
    assert not secured.connector.requests


async def test_a_key_not_endorsed_for_teams_is_refused(make_bot: MakeBot) -> None:
    server = await KeyServer(keys=[jwk(KEY, "k1", ["webchat"])]).start()
    try:
        bot = await make_bot({"CHATOPS_TEAMS_DEMO": "0", "MICROSOFT_APP_ID": APP_ID,
                              "MICROSOFT_APP_PASSWORD": "x", "CHATOPS_TEAMS_OPENID_METADATA_URL": server.url})
        activity = install(bot)
        status, body = await bot.post(activity, token=token(KEY, service_url=activity["serviceUrl"]))
    finally:
        await server.stop()

    assert status == 403
    assert "endorsed" in body["error"]["message"]


async def test_unknown_keys_refresh_the_key_set_at_most_once_in_a_while(secured: Bot, keys: KeyServer) -> None:
    activity = install(secured)
    for _ in range(3):
        status, _ = await secured.post(activity, token=token(KEY, kid="rolled", service_url=activity["serviceUrl"]))
        assert status == 403
    assert keys.requests == 1  # the first fetch; unknown kids don't hammer the metadata endpoint


async def test_keys_held_keep_working_while_the_metadata_endpoint_is_down(secured: Bot, keys: KeyServer) -> None:
    activity = install(secured)
    assert (await secured.post(activity, token=token(KEY, service_url=activity["serviceUrl"])))[0] == 200
    keys.down = True

    status, _ = await secured.post(install(secured), token=token(KEY, service_url=activity["serviceUrl"]))

    assert status == 200


async def test_no_keys_at_all_is_503_not_500(make_bot: MakeBot) -> None:
    server = await KeyServer(down=True).start()
    try:
        bot = await make_bot({"CHATOPS_TEAMS_DEMO": "0", "MICROSOFT_APP_ID": APP_ID,
                              "MICROSOFT_APP_PASSWORD": "x", "CHATOPS_TEAMS_OPENID_METADATA_URL": server.url})
        activity = install(bot)
        status, _ = await bot.post(activity, token=token(KEY, service_url=activity["serviceUrl"]))
    finally:
        await server.stop()

    assert status == 503


async def test_without_credentials_or_demo_the_endpoint_is_off() -> None:
    app = web.Application()

    assert mount(app, services=None, settings=TeamsSettings.load({"CHATOPS_TEAMS_DEMO": "0"})) is None  # type: ignore[arg-type]
    assert not [r for r in app.router.routes() if r.resource and r.resource.canonical == "/api/messages"]
