"""The Teams app: CloudAdapter over ConfigurationBotFrameworkAuthentication, the bot, and POST /api/messages."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from botbuilder.core import InvokeResponse, TurnContext  # type: ignore[import-untyped]
from botbuilder.core.bot_framework_adapter import BotFrameworkAdapter  # type: ignore[import-untyped]
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication  # type: ignore[import-untyped]
from botbuilder.schema import Activity, ActivityTypes  # type: ignore[import-untyped]

from adapters.teams import parse
from adapters.teams.auth import ChannelAuthentication, OpenIdKeys, Refused, TokenValidator
from adapters.teams.handlers import SyncstatusBot, Tasks
from adapters.teams.settings import TeamsSettings
from adapters.teams.sink import Backoff, TeamsCards, TeamsSink
from chatops.store.conversations import Conversations

if TYPE_CHECKING:
    from chatops.core import Chatops

log = logging.getLogger(__name__)

MESSAGES_PATH: Final = "/api/messages"
DRAIN_S: Final = 10.0


@dataclass
class TeamsApp:
    """Everything the Teams edge holds: built once by mount(), closed with the web app."""

    settings: TeamsSettings
    adapter: CloudAdapter
    bot: SyncstatusBot
    sink: TeamsSink
    conversations: Conversations
    tasks: Tasks

    async def messages(self, request: web.Request) -> web.Response:
        """Bot Framework activities in; 400 for what isn't one, 401/403 for bad credentials, never a 500."""
        if request.content_type != "application/json":
            return _error(415, "activities are application/json")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep to parse
            return _error(400, "the body is not JSON")
        try:
            act = parse.activity(body)
            tenant = parse.tenant_id(act)
        except parse.BadActivity as exc:
            return _error(400, str(exc))
        allowed = self.settings.allowed_tenants
        if allowed and tenant not in allowed:
            return _error(403, "this app is not available to that tenant")
        try:
            response = await self.adapter.process_activity(request.headers.get("Authorization", ""), act,
                                                           self.bot.on_turn)
        except Refused as exc:
            log.warning("activity refused (%s): %s", exc.status, exc.reason,
                        extra={"activity_type": act.type, "service_url": act.service_url})
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return _error(exc.status, exc.reason, headers=headers)
        if response is None:
            return web.Response(status=200)
        return web.json_response(response.body, status=response.status)

    async def close(self, _: web.Application | None = None) -> None:
        await self.tasks.drain(DRAIN_S)


_CODES: Final = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 415: "UnsupportedMediaType",
                  503: "ServiceUnavailable"}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """The Bot Connector's ErrorResponse shape."""
    return web.json_response({"error": {"code": _CODES.get(status, str(status)), "message": message}},
                             status=status, headers=headers)


def build(settings: TeamsSettings, core: Chatops) -> TeamsApp:
    """The adapter, its authentication and the bot, every value from `settings` (nothing from the environment)."""
    inner = ConfigurationBotFrameworkAuthentication(settings.bot_configuration(), logger=log)
    validator = None
    if settings.authenticated:
        validator = TokenValidator(settings.id, OpenIdKeys(settings.openid_metadata_url),
                                   issuers=(settings.token_issuer,))
    adapter = CloudAdapter(ChannelAuthentication(inner, validator))
    tasks = Tasks()
    sink = TeamsSink(adapter, settings.id, settings.service_url_allowed,
                     backoff=Backoff(retries=settings.send_retries, base_s=settings.send_backoff_s,
                                     cap_s=settings.send_backoff_cap_s))
    conversations = Conversations(core.store.engine)
    bot = SyncstatusBot(core, settings, sink, conversations, parse.Directory(settings.member_cache_s), tasks)

    async def on_error(turn_context: TurnContext, error: Exception) -> None:
        code = secrets.token_hex(4)
        act = turn_context.activity
        log.error("Teams turn failed (incident %s)", code, exc_info=error,
                  extra={"incident": code, "activity_type": act.type})
        text = f"Something went wrong on our side (incident {code})."
        try:
            if act.type == ActivityTypes.invoke:
                body: dict[str, Any] = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                                        "value": text}
                turn_context.turn_state[BotFrameworkAdapter._INVOKE_RESPONSE_KEY] = Activity(
                    type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=body))
            elif act.type == ActivityTypes.message:
                await turn_context.send_activity(Activity(type=ActivityTypes.message, text=text, text_format="plain"))
        except Exception:  # noqa: BLE001 - the log line above is what matters
            log.warning("could not tell the user about incident %s", code)

    adapter.on_turn_error = on_error
    core.sinks[parse.PLATFORM] = TeamsCards(sink, conversations)  # cards updated after a Reconnect
    return TeamsApp(settings, adapter, bot, sink, conversations, tasks)
