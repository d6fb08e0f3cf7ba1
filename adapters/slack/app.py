"""The AsyncApp factory: every value passed in (secret, Web API base URL, authorize, installation store)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import parse, render
from adapters.slack.installation_store import SlackInstallationStore
from adapters.slack.parse import Directory
from adapters.slack.settings import BOT_SCOPES, SlackMode, SlackSettings
from adapters.slack.sink import SlackCards, SlackSink
from chatops.errors import StoreError
from chatops.model import Workspace
from chatops.store.crypto import UndecryptableGrant

if TYPE_CHECKING:
    from chatops.core import Chatops
    from chatops.store.installations import Installation

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
EVENTS_PATH = "/slack/events"
ROTATION_WAIT_S = 3.0  # how long a replica that lost the refresh lease waits for the winner's token


def retry_handlers(settings: SlackSettings) -> list[AsyncRetryHandler]:
    """429: wait Retry-After, then retry (slack_sdk's handler); a dropped connection: retry once."""
    return [AsyncRateLimitErrorRetryHandler(max_retry_count=settings.rate_limit_retries),
            AsyncConnectionErrorRetryHandler(max_retry_count=1)]


def web_client(settings: SlackSettings, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=settings.web_api_url, logger=logging.getLogger("slack_sdk"),
                          retry_handlers=retry_handlers(settings))


class StoreAuthorize(AsyncAuthorize):
    """Which bot token answers a request, from our database (OAuth) or the one configured token.

    No auth.test per request: the bot's ids are kept at install time (single mode asks once). A team we
    hold no installation for gets None, which bolt turns into the "not installed here" answer.
    """

    def __init__(self, settings: SlackSettings, installs: SlackInstallationStore,
                 client: AsyncWebClient) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._settings = settings
        self._installs = installs
        self._client = client
        self._single: AuthorizeResult | None = None
        self._last_read: dict[str, Installation] = {}  # per team: used only while the database is unavailable
        self._lock = asyncio.Lock()

    async def __call__(self, *, context: Any, enterprise_id: str | None, team_id: str | None,
                       user_id: str | None, **_: Any) -> AuthorizeResult | None:
        if self._settings.mode is SlackMode.SINGLE:
            return await self._single_team(team_id, user_id)
        try:
            found = await self._installs.find(team_id)
        except StoreError as exc:
            # the database is away for a while: answer with the installation last read from it, so the
            # request is acked and its listener can say so, instead of Slack showing the user a failure
            found = self._last_read.get(team_id or "")
            if found is None:
                raise
            log.warning("database unavailable, authorizing from the installation last read: %s", exc,
                        extra={"team": team_id})
            return AuthorizeResult(enterprise_id=found.enterprise_id or None, team_id=found.team_id,
                                   bot_id=found.bot_id, bot_user_id=found.bot_user_id,
                                   bot_token=found.bot_token.reveal(), bot_scopes=list(found.bot_scopes),
                                   user_id=user_id)
        except UndecryptableGrant as exc:  # its key was retired or lost: a reinstall stores a readable token
            log.error("the bot token of this Slack workspace cannot be decrypted (%s); reinstall the app", exc,
                      extra={"team": team_id})
            found = None
        if found is None:
            self._last_read.pop(team_id or "", None)
            return None
        self._last_read[team_id or ""] = found
        fresh = await self._fresh(found)
        if fresh is None:
            return None
        return AuthorizeResult(enterprise_id=fresh.enterprise_id or None, team_id=fresh.team_id,
                               bot_id=fresh.bot_id, bot_user_id=fresh.bot_user_id,
                               bot_token=fresh.bot_token.reveal(), bot_scopes=list(fresh.bot_scopes),
                               user_id=user_id)

    async def single_team(self) -> AuthorizeResult | None:
        """The configured token's team, asked of auth.test once; its workspace is created on the way."""
        if self._single is None:
            async with self._lock:
                if self._single is None:
                    token = self._settings.bot_token.get_secret_value()
                    try:
                        answer = await self._client.auth_test(token=token)
                    except SlackApiError as exc:
                        log.error("Slack auth.test failed: %s", exc.response.get("error"),
                                  extra={"method": "auth.test"})
                        return None
                    team = str(answer.get("team_id") or "")
                    await asyncio.to_thread(self._installs.store.ensure_workspace, Workspace(
                        parse.workspace_id(team), str(answer.get("team") or team), platform=parse.PLATFORM,
                        external_id=team))
                    self._single = AuthorizeResult(
                        enterprise_id=answer.get("enterprise_id"), team_id=team, bot_id=answer.get("bot_id"),
                        bot_user_id=answer.get("user_id"), bot_token=token, bot_scopes=list(BOT_SCOPES))
        return self._single

    async def _single_team(self, team_id: str | None, user_id: str | None) -> AuthorizeResult | None:
        known = await self.single_team()
        if known is None or (team_id and team_id != known.team_id):
            return None
        return AuthorizeResult(enterprise_id=known.enterprise_id, team_id=known.team_id, bot_id=known.bot_id,
                               bot_user_id=known.bot_user_id, bot_token=known.bot_token,
                               bot_scopes=known.bot_scopes, user_id=user_id)

    async def _fresh(self, found: Installation) -> Installation | None:
        """The installation with a token good for a while: refreshed by exactly one replica (a DB lease)."""
        expires = found.bot_token_expires_at
        if not found.bot_refresh_token or expires is None:
            return found
        now = datetime.now(UTC)
        if expires - now > timedelta(minutes=self._settings.token_rotation_minutes):
            return found
        table = self._installs.installations
        if await asyncio.to_thread(table.claim_rotation, found.workspace_id, now):
            # re-read under the lease: another replica may have refreshed since `found` was read
            current = await asyncio.to_thread(table.find, found.workspace_id)
            if current is None or current.bot_refresh_token != found.bot_refresh_token:
                await asyncio.to_thread(table.release_rotation, found.workspace_id)
                return current
            try:
                # client credentials as form fields (Slack accepts both): slack_sdk's Basic auth path
                # goes through aiohttp's deprecated BasicAuth
                answer = await self._client.api_call("oauth.v2.access", data={
                    "client_id": self._settings.client_id,
                    "client_secret": self._settings.client_secret.get_secret_value(),
                    "grant_type": "refresh_token", "refresh_token": found.bot_refresh_token.reveal()})
            except SlackApiError as exc:
                log.error("Slack oauth.v2.access (token refresh) failed: %s", exc.response.get("error"),
                          extra={"method": "oauth.v2.access", "workspace": found.workspace_id})
                await asyncio.to_thread(table.release_rotation, found.workspace_id)
                return found if expires > now else None
            refreshed = table.with_tokens(found, str(answer["access_token"]), str(answer["refresh_token"]),
                                          now + timedelta(seconds=int(answer.get("expires_in") or 43200)))
            await asyncio.to_thread(table.save, refreshed)
            return refreshed
        if expires > now:  # another replica is refreshing; this token is still good meanwhile
            return found
        deadline = asyncio.get_running_loop().time() + ROTATION_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            again = await asyncio.to_thread(table.find, found.workspace_id)
            if again is not None and again.bot_token_expires_at and again.bot_token_expires_at > now:
                return again
        return None


@dataclass(frozen=True, slots=True)
class SlackApp:
    """The bolt app and what its handlers share."""

    bolt: AsyncApp
    settings: SlackSettings
    core: Chatops
    installs: SlackInstallationStore
    directory: Directory
    sink: SlackSink
    authorize: StoreAuthorize


def build(settings: SlackSettings, core: Chatops, installs: SlackInstallationStore, *,
          public_url: str) -> SlackApp:
    """The AsyncApp for the configured mode; bolt reads nothing from the environment on its own."""
    from adapters.slack import handlers

    client = web_client(settings)
    authorize = StoreAuthorize(settings, installs, client)
    oauth_settings = None
    if settings.mode is SlackMode.OAUTH:
        oauth_settings = AsyncOAuthSettings(
            client_id=settings.client_id, client_secret=settings.client_secret.get_secret_value(),
            scopes=list(BOT_SCOPES), user_scopes=[], redirect_uri=public_url.rstrip("/") + REDIRECT_PATH,
            install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH,
            authorization_url=settings.authorize_url,
            install_page_rendering_enabled=False, installation_store=installs, state_store=installs,
            token_rotation_expiration_minutes=settings.token_rotation_minutes, logger=log,
        )
    bolt = AsyncApp(
        name="chatops", logger=logging.getLogger("adapters.slack.bolt"),
        signing_secret=settings.signing_secret.get_secret_value(), client=client,
        authorize=authorize,  # type: ignore[arg-type]  # an AsyncAuthorize instance is accepted as is
        installation_store=installs if settings.mode is SlackMode.OAUTH else None,
        oauth_settings=oauth_settings, user_facing_authorize_error_message=render.NOT_INSTALLED,
        verification_token="",
    )
    slack = SlackApp(bolt, settings, core, installs, Directory(settings.user_cache_s),
                     SlackSink(retry_handlers(settings)), authorize)
    handlers.register(slack)

    async def client_for(team: str) -> AsyncWebClient | None:
        found = await authorize(context=None, enterprise_id=None, team_id=team, user_id=None)
        return web_client(settings, found.bot_token) if found is not None and found.bot_token else None

    core.sinks[parse.PLATFORM] = SlackCards(slack.sink, client_for)  # cards updated after a Reconnect
    core.home_publishers[parse.PLATFORM] = handlers.home_publisher(slack, client_for)
    return slack
