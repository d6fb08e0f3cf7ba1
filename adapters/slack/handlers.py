"""Slack -> core -> Slack: /syncstatus, the card buttons, App Home, uninstall. Parsing and rendering only."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import parse, render
from adapters.slack.sink import Origin, OriginCards
from chatops import home
from chatops.cards import Card, Note
from chatops.chat import APP_HOME, ActionRequest, ChatUser, CommandRequest, MessageRef, Reply
from chatops.core import STORE_UNAVAILABLE
from chatops.errors import ChatopsError, CommandError, NotFound, StoreError
from chatops.findings import ActionKind
from chatops.progress import Progress

if TYPE_CHECKING:
    from adapters.slack.app import SlackApp

log = logging.getLogger(__name__)

COMMAND: Final = "/syncstatus"
PRE_ACK_BUDGET_S: Final = 2.0  # users.info and the count; past this the ack goes out with a generic line
WORKING: Final = Reply("Working on it…", ephemeral=True)


def incident() -> str:
    return secrets.token_hex(4)


def register(slack: SlackApp) -> None:
    """Every listener of the app, in one place."""
    app, core, sink = slack.bolt, slack.core, slack.sink

    async def who(client: AsyncWebClient, team: str, user_id: str) -> ChatUser:
        found = await slack.directory.lookup(client, team, user_id)
        return parse.chat_user(user_id, found, slack.settings.admins)

    remembered: dict[tuple[str, str], tuple[float, tuple[str, str, bool]]] = {}

    async def remember(request_workspace: str, user: ChatUser) -> None:
        """Keep the member's email for digests and audits; never fails a request. Written again only when it
        changed or the directory's cache time passed: a write per command queued every burst's reads."""
        if not user.email:
            return
        key, said = (request_workspace, user.user_id), (user.email, user.name, user.is_admin)
        kept = remembered.get(key)
        if kept is not None and kept[1] == said and time.monotonic() - kept[0] < slack.settings.user_cache_s:
            return
        try:
            await asyncio.to_thread(core.store.upsert_member, request_workspace, user.user_id, user.email,
                                    name=user.name, is_admin=user.is_admin)
            remembered[key] = (time.monotonic(), said)
        except ChatopsError as exc:
            log.warning("could not keep the member: %s", exc, extra={"workspace": request_workspace})

    async def command_request(client: AsyncWebClient, command: dict[str, Any]) -> CommandRequest:
        team = parse.team_id(command)
        user = await who(client, team, str(command.get("user_id", "")))
        mentioned = parse.mentioned_users(str(command.get("text", "")))
        emails = await slack.directory.emails(client, team, mentioned) if mentioned else {}
        return parse.command_request(command, user, emails)

    # ------------------------------------------------------------ retried events, once

    @app.middleware
    async def once(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        key = parse.event_key(body) if body.get("type") == "event_callback" else ""
        if key:
            workspace = parse.workspace_id(parse.team_id(body))
            first = await asyncio.to_thread(core.store.remember_event, workspace, key)
            if not first:
                log.info("retried event already handled", extra={"workspace": workspace, "event": key})
                return BoltResponse(status=200, body="")
        await next()
        return None

    @app.error
    async def failed(error: Exception, body: dict[str, Any], respond: AsyncRespond | None = None) -> None:
        code = incident()
        log.error("Slack request failed (incident %s)", code, exc_info=error,
                  extra={"incident": code, "team": parse.team_id(body or {})})
        if respond is not None and (body or {}).get("response_url"):
            try:
                await respond(text=f"Something went wrong on our side (incident {code}).",
                              response_type="ephemeral", replace_original=False)
            except Exception:  # the log line above is what matters
                log.warning("could not tell the user about incident %s", code)

    # ------------------------------------------------------------ /syncstatus

    @app.command(COMMAND)
    async def syncstatus(ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient) -> None:
        origin = Origin(channel_id=str(command.get("channel_id", "")),
                        user_id=str(command.get("user_id", "")),
                        response_url=str(command.get("response_url", "")))
        request: CommandRequest | None = None
        placeholder = WORKING
        try:
            async with asyncio.timeout(PRE_ACK_BUDGET_S):
                request = await command_request(client, command)
                placeholder = await core.placeholder(request)
        except TimeoutError:
            log.warning("Slack ack sent before the placeholder was ready",
                        extra={"team": command.get("team_id")})
        await ack(**render.response(placeholder))  # Slack hears back within 3 s, whatever the providers do
        if request is None:
            request = await command_request(client, command)
        # Several connections fill the answer in as they finish, leaving one response_url use for the card.
        watched = MessageRef(origin.channel_id, response_url=origin.response_url)
        request = replace(request, progress=Progress(OriginCards(sink, origin), request.workspace_id, watched,
                                                     updates=max(0, origin.uses_left() - 1)))
        await remember(request.workspace_id, request.user)
        started = time.monotonic()
        try:
            reply = await core.handle_command(request)
        except Exception:
            code = incident()
            log.exception("command failed (incident %s)", code, extra={"workspace": request.workspace_id})
            reply = Reply(f"Something went wrong on our side (incident {code}).", ephemeral=True)
        log.info("command answered", extra={"workspace": request.workspace_id,
                                            "seconds": round(time.monotonic() - started, 3)})
        # The card replaces the "Checking…" line the ack showed.
        await sink.deliver(client, origin, reply, replace_original=True)

    # ------------------------------------------------------------ buttons

    async def action_request(client: AsyncWebClient, body: dict[str, Any]) -> ActionRequest | None:
        user = await who(client, parse.team_id(body), str(parse.dig(body, "user", "id") or ""))
        return parse.action_request(body, user)

    def origin_of(body: dict[str, Any], request: ActionRequest) -> Origin:
        ref = request.message
        return Origin(channel_id=ref.channel_id if ref else "", user_id=request.user.user_id,
                      response_url=ref.response_url if ref else "")

    async def answer(client: AsyncWebClient, body: dict[str, Any], request: ActionRequest,
                     reply: Reply) -> None:
        """A reply to a button: in place on a message, on the Home tab, or as an ephemeral line."""
        if request.message is None:  # App Home has no response_url: refresh the tab, say the rest in a modal
            if reply.ephemeral or reply.card is None:
                await open_modal(client, body, reply, title="chatops")
            await publish_home(client, parse.team_id(body), request.user)
            return
        await sink.deliver(client, origin_of(body, request), reply)

    @app.action(render.action_pattern(ActionKind.RETEST))
    async def retest(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = await action_request(client, body)
        if request is None:
            return
        if request.message is None:
            await publish_home(client, parse.team_id(body), request.user, notice="Rechecking…")
            reply = await core.handle_action(request)
            await answer(client, body, request, reply)
            return
        origin = origin_of(body, request)
        original = parse.dig(body, "message", "blocks")
        block_id = str(parse.clicked(body).get("block_id", ""))
        note = f"Rechecking… (asked by {request.user.name or 'you'})"
        if isinstance(original, list) and original:
            await sink.respond(origin, {"replace_original": True, "text": "Rechecking…",
                                        "blocks": render.rechecking(original, block_id, note)})
        else:  # ephemeral messages come without their blocks
            await sink.respond(origin, {"replace_original": True, "text": "Rechecking…",
                                        "blocks": render.rechecking([], "", note)})
        reply = await core.handle_action(request)
        if not reply.replace_original and isinstance(original, list) and original:
            # refused: put the card back as it was, then say why
            text = str(parse.dig(body, "message", "text") or "Sync status")
            await sink.respond(origin, {"replace_original": True, "text": text, "blocks": original})
        await sink.deliver(client, origin, reply)

    async def open_modal(client: AsyncWebClient, body: dict[str, Any], reply: Reply, *, title: str) -> None:
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id", "")),
                                    view=render.modal(reply, title=title))
        except SlackApiError as exc:
            log.warning("Slack views.open failed: %s", exc.response.get("error"),
                        extra={"method": "views.open"})
            ref = parse.message_ref(body)
            if ref is not None:
                await sink.deliver(client, Origin(ref.channel_id, str(parse.dig(body, "user", "id") or ""),
                                                  ref.response_url), Reply(reply.text, ephemeral=True))

    @app.action(render.action_pattern(ActionKind.DETAILS))
    async def details(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = await action_request(client, body)
        if request is not None:
            # trigger_id lives 3 s: the details come from the store, no new diagnosis
            await open_modal(client, body, await core.handle_action(request), title="Details")

    @app.action(render.action_pattern(ActionKind.PAGE))
    async def page(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = await action_request(client, body)
        if request is None:
            return
        if request.message is None:
            await publish_home(client, parse.team_id(body), request.user,
                               page=int(request.value) if request.value.isdigit() else 1)
            return
        await answer(client, body, request, await core.handle_action(request))

    async def reconnect_clicked(client: AsyncWebClient, body: dict[str, Any]) -> None:
        """Slack opened a Reconnect link: note the message it is on, so the card updates when it is done."""
        user = ChatUser(parse.PLATFORM, str(parse.dig(body, "user", "id") or ""))
        request = parse.action_request(body, user)
        if request is None:
            return
        if request.message is None:  # on App Home (or a modal opened there): the tab is republished when done
            notice = await core.reconnect_clicked(replace(request, message=APP_HOME))
            if notice is not None:
                await open_modal(client, body, notice, title="Reconnect")
            return
        notice = await core.reconnect_clicked(request, parse.shown_connections(body))
        if notice is not None:  # someone else's link: say so, only to them
            await sink.deliver(client, origin_of(body, request), notice)

    async def other(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = parse.clicked(body)
        if parse.decode_link(str(action.get("value", ""))):
            if render.action_kind(str(action.get("action_id", ""))) is ActionKind.RECONNECT:
                await reconnect_clicked(client, body)
            return  # a link button: Slack opened the URL
        request = await action_request(client, body)
        if request is not None:
            reply = await core.handle_action(request)
            await answer(client, body, request, Reply(reply.text, card=reply.card, ephemeral=True))

    for kind in (ActionKind.RECONNECT, ActionKind.OPEN_URL, ActionKind.SNOOZE):
        app.action(render.action_pattern(kind))(other)

    # ------------------------------------------------------------ digest settings (App Home, admins)

    @app.action(render.action_pattern(ActionKind.DIGEST_SETTINGS))
    async def digest_settings(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = await action_request(client, body)
        if request is None:
            return
        try:  # trigger_id lives 3 s: the form comes from the store alone
            form = await home.digest_form(core, request.workspace_id, request.user, request.target)
        except (CommandError, NotFound, StoreError) as exc:
            await open_modal(client, body, Reply(refusal(exc), ephemeral=True), title="Digest settings")
            return
        try:
            await client.views_open(trigger_id=str(body.get("trigger_id", "")), view=render.digest_modal(form))
        except SlackApiError as exc:
            log.warning("Slack views.open failed: %s", exc.response.get("error"), extra={"method": "views.open"})

    @app.action(render.action_pattern(ActionKind.UNSUBSCRIBE))
    async def unsubscribe(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        request = await action_request(client, body)
        if request is None:
            return
        try:
            said = await home.remove_digest(core, request.workspace_id, request.user, request.target)
        except (CommandError, NotFound, StoreError) as exc:
            await open_modal(client, body, Reply(refusal(exc), ephemeral=True), title="Digest settings")
            return
        await publish_home(client, parse.team_id(body), request.user, notice=said)

    @app.view(render.DIGEST_FORM)
    async def digest_saved(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        view = body.get("view") if isinstance(body.get("view"), dict) else {}
        assert isinstance(view, dict)
        team = parse.team_id(body)
        user = await who(client, team, str(parse.dig(body, "user", "id") or ""))
        try:
            _, said = await home.save_digest(core, parse.workspace_id(team), user, parse.view_subscription(view),
                                             parse.view_values(view))
        except home.FormErrors as exc:  # shown under the fields; nothing was stored
            await ack(response_action="errors", errors=render.form_errors(exc.errors, view))
            return
        except StoreError:
            await ack(response_action="errors", errors=render.form_errors({"": STORE_UNAVAILABLE}, view))
            return
        await ack()
        await publish_home(client, team, user, notice=said)

    # ------------------------------------------------------------ App Home

    async def publish_home(client: AsyncWebClient, team: str, user: ChatUser, *, notice: str = "",
                           page: int = 1) -> bool:
        return await publish(slack, client, team, user, notice=notice, page=page)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        team = parse.team_id(body)
        user = await who(client, team, str(event.get("user", "")))
        await remember(parse.workspace_id(team), user)
        await publish_home(client, team, user)

    # ------------------------------------------------------------ uninstall

    def forget(team: str) -> None:
        """What this process keeps about the workspace's members and connections goes with its install."""
        slack.directory.forget(team)
        workspace = parse.workspace_id(team)
        for key in [k for k in remembered if k[0] == workspace]:
            del remembered[key]
        core.counts.forget(workspace)

    @app.event("app_uninstalled")
    async def uninstalled(body: dict[str, Any]) -> None:
        team = parse.team_id(body)
        forget(team)
        await slack.installs.delete(team)

    @app.event("tokens_revoked")
    async def revoked(event: dict[str, Any], body: dict[str, Any]) -> None:
        team = parse.team_id(body)
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        if tokens and tokens.get("bot"):  # we hold only the bot token
            forget(team)
            await slack.installs.delete(team)



def refusal(exc: ChatopsError) -> str:
    return STORE_UNAVAILABLE if isinstance(exc, StoreError) else str(exc)


async def publish(slack: SlackApp, client: AsyncWebClient, team: str, user: ChatUser, *, notice: str = "",
                  page: int = 1) -> bool:
    """Publish `user`'s App Home (views.publish) from the core's Home cards; False when Slack refused."""
    cards = await home.home_cards(slack.core, parse.workspace_id(team), user, page=page)
    if notice:
        cards.insert(0, Card(notice, (Note(notice),)))
    try:
        await client.views_publish(user_id=user.user_id, view=render.home(cards))
    except SlackApiError as exc:
        log.warning("Slack views.publish failed: %s", exc.response.get("error"), extra={"method": "views.publish"})
        return False
    return True


def home_publisher(slack: SlackApp, client_for: Callable[[str], Awaitable[AsyncWebClient | None]]
                   ) -> Callable[[str, ChatUser], Awaitable[bool]]:
    """Republishes a member's App Home from outside a Slack request (a Reconnect finished in the browser)."""

    async def republish(workspace_id: str, user: ChatUser) -> bool:
        team = workspace_id.partition(":")[2]
        client = await client_for(team)
        return client is not None and await publish(slack, client, team, user)

    return republish
