"""Teams -> core -> Teams: syncstatus messages, card actions (invoke and submit), installs. No diagnosis here."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from botbuilder.core import InvokeResponse, TurnContext  # type: ignore[import-untyped]
from botbuilder.core.teams import TeamsActivityHandler  # type: ignore[import-untyped]
from botbuilder.schema import Activity, ActivityTypes  # type: ignore[import-untyped]

from adapters.teams import parse, render
from adapters.teams.sink import DeliveryError, ReferenceCards, TeamsSink
from chatops.cards import text_card
from chatops.chat import ActionRequest, ChatUser, CommandRequest, MessageRef, Reply
from chatops.errors import ChatopsError
from chatops.model import Workspace
from chatops.progress import Progress
from chatops.store.conversations import Conversations

if TYPE_CHECKING:
    from adapters.teams.settings import TeamsSettings
    from chatops.core import Chatops

log = logging.getLogger(__name__)

WELCOME: Final = ("Hi, I'm chatops. I find out why CRM email and calendar sync broke. "
                  "Type syncstatus to check your connections, or syncstatus help.")
RECHECKING: Final = "Rechecking…"
ALREADY: Final = "That request is already being handled."
FOREIGN: Final = "This card belongs to another organisation, so it can't act here."


def incident() -> str:
    return secrets.token_hex(4)


class Tasks:
    """Work that outlives its HTTP turn (late results); awaited or cancelled when the app stops."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background Teams work failed: %s (incident %s)", what, incident())

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, timeout_s: float) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


class SyncstatusBot(TeamsActivityHandler):  # type: ignore[misc]
    """The Teams bot: parse, call the core, render. Every answer fits Teams' 15-second window."""

    def __init__(self, core: Chatops, settings: TeamsSettings, sink: TeamsSink, conversations: Conversations,
                 directory: parse.Directory, tasks: Tasks) -> None:
        self._core = core
        self._settings = settings
        self._sink = sink
        self._conversations = conversations
        self._directory = directory
        self._tasks = tasks

    # ------------------------------------------------------------ shared steps

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _who(self, turn_context: TurnContext) -> ChatUser:
        act = turn_context.activity
        found = await self._directory.lookup(turn_context, act.from_property.id) if act.from_property else None
        user = parse.chat_user(act, found, self._settings.admins)
        if user.email:  # kept for digests and audits; never fails a request
            try:
                await self._call(self._core.store.upsert_member, parse.workspace_id(parse.tenant_id(act)),
                                 user.user_id, user.email, name=user.name, is_admin=user.is_admin)
            except ChatopsError as exc:
                log.warning("could not keep the member: %s", exc)
        return user

    async def _ensure_workspace(self, act: Activity) -> str:
        tenant = parse.tenant_id(act)
        workspace = parse.workspace_id(tenant)
        team_name = parse._text(parse._get(act.channel_data, "team", "name"))
        await self._call(self._core.store.ensure_workspace,
                         Workspace(workspace, team_name or f"Teams tenant {tenant}", "teams", tenant))
        return workspace

    async def _remember(self, act: Activity) -> None:
        """Keep where this conversation is, so digests and late results can reach it."""
        ref = parse.reference(act)
        if not self._settings.service_url_allowed(ref.service_url):
            log.warning("not keeping a conversation whose serviceUrl is outside the allowlist: %s",
                        ref.service_url, extra={"workspace": ref.workspace_id})
            return
        await self._ensure_workspace(act)
        await self._call(self._conversations.save, ref)

    async def _first_delivery(self, act: Activity) -> bool:
        key = parse.delivery_key(act)
        if not key:
            return True
        return bool(await self._call(self._core.store.remember_event, parse.workspace_id(parse.tenant_id(act)),
                                     key))

    async def _card_at(self, workspace: str, reply: Reply, conversation_id: str, activity_id: str) -> None:
        """Note where a card went, so a Reconnect finished from one of its links updates it; never fails a turn."""
        if reply.card is None or not conversation_id or not activity_id:
            return
        try:
            await self._core.remember_card(workspace, parse.PLATFORM, reply.card,
                                           MessageRef(conversation_id, activity_id))
        except ChatopsError as exc:
            log.warning("could not remember where the card is: %s", exc, extra={"workspace": workspace})

    async def _within(self, work: Awaitable[Reply], budget_s: float) -> tuple[asyncio.Task[Reply], Reply | None]:
        task: asyncio.Task[Reply] = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=budget_s)
        return task, (task.result() if done else None)

    # ------------------------------------------------------------ messages: syncstatus and Action.Submit

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        act = turn_context.activity
        if not await self._first_delivery(act):
            log.info("redelivered message ignored", extra={"activity": act.id})
            return
        await self._remember(act)
        submitted = parse.submit_action(act)
        if submitted is not None:
            await self._submitted(turn_context, submitted)
            return
        bot = act.recipient.id if act.recipient else ""
        others = [m.id for m in parse.mentions(act) if m.id and m.id != bot]
        user = await self._who(turn_context)
        emails = await self._directory.emails(turn_context, others) if others else {}
        text = parse.command_text(act, emails)
        request = parse.command_request(act, user, "help" if text is None else text)
        await self._answer_command(turn_context, request)

    async def _answer_command(self, turn_context: TurnContext, request: CommandRequest) -> None:
        workspace = request.workspace_id
        reference = parse.serialized_reference(turn_context.activity)
        # Several connections fill the "Checking…" message in once it is posted (only a late answer posts one).
        progress = Progress(ReferenceCards(self._sink, reference), workspace)
        task, reply = await self._within(self._core.handle_command(replace(request, progress=progress)),
                                         self._settings.reply_budget_s)
        if reply is not None:
            sent = await turn_context.send_activity(render.activity(reply, workspace))
            await self._card_at(workspace, reply, turn_context.activity.conversation.id, getattr(sent, "id", "") or "")
            return
        # Longer than the budget: say how many connections are being checked now, the card replaces it later.
        placeholder = await self._core.placeholder(request)
        sent = await turn_context.send_activity(render.activity(placeholder, workspace))
        activity_id = getattr(sent, "id", "") or ""
        if activity_id:
            progress.at(MessageRef(turn_context.activity.conversation.id, activity_id))
        self._tasks.start(self._finish(task, reference, activity_id), "syncstatus result")

    async def _finish(self, task: asyncio.Task[Reply], reference: dict[str, Any], activity_id: str) -> None:
        try:
            reply = await task
        except Exception:
            code = incident()
            log.exception("command failed (incident %s)", code)
            reply = Reply(f"Something went wrong on our side (incident {code}).", ephemeral=True)
        ref = parse.conversation_reference(reference)
        ref.activity_id = None
        try:
            if activity_id and reply.card is not None:
                await self._sink.update(ref, activity_id, reply)
            else:
                activity_id = await self._sink.post_reply(ref, reply)
        except DeliveryError as exc:
            log.warning("could not deliver a late result: %s", exc)
            return
        workspace = parse.workspace_id(parse.conversation_tenant(ref.conversation))
        await self._card_at(workspace, reply, str(ref.conversation.id or ""), activity_id)

    async def _submitted(self, turn_context: TurnContext, action: parse.CardAction) -> None:
        """An Action.Submit fallback (older clients): the same action, answered in the conversation."""
        act = turn_context.activity
        workspace = parse.workspace_id(parse.tenant_id(act))
        if action.workspace_id != workspace:
            await turn_context.send_activity(render.activity(Reply(FOREIGN, ephemeral=True), workspace))
            return
        request = parse.action_request(act, await self._who(turn_context), action)
        reply = await self._core.handle_action(request)
        if reply.replace_original and reply.card is not None and act.reply_to_id:
            updated = render.activity(reply, workspace)
            updated.id = act.reply_to_id
            await turn_context.update_activity(updated)
            await self._card_at(workspace, reply, act.conversation.id, act.reply_to_id)
            return
        sent = await turn_context.send_activity(render.activity(reply, workspace))
        await self._card_at(workspace, reply, act.conversation.id, getattr(sent, "id", "") or "")

    # ------------------------------------------------------------ Universal Actions: adaptiveCard/action

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        act = turn_context.activity
        try:
            action = parse.invoke_action(act)
        except parse.BadAction as exc:
            return InvokeResponse(status=400, body=render.invoke_body(render.invoke_error(400, "BadRequest", str(exc))))
        if not await self._first_delivery(act):
            return _invoke(Reply(ALREADY, ephemeral=True), "")
        workspace = parse.workspace_id(parse.tenant_id(act))
        if action.workspace_id != workspace:
            log.warning("card action from another tenant refused", extra={"workspace": workspace})
            return _invoke(Reply(FOREIGN, ephemeral=True), workspace)
        await self._remember(act)
        request = parse.action_request(act, await self._who(turn_context), action)
        return await self._act(turn_context, request)

    async def _act(self, turn_context: TurnContext, request: ActionRequest) -> InvokeResponse:
        workspace = request.workspace_id
        task, reply = await self._within(self._core.handle_action(request), self._settings.invoke_budget_s)
        act = turn_context.activity
        reference = parse.serialized_reference(act)
        message_id = act.reply_to_id or ""
        if reply is None:
            # Teams stops waiting at 15 s: the clicker sees "Rechecking…" now, everyone the result later.
            self._tasks.start(self._finish(task, reference, message_id), f"{request.kind.value} result")
            return _invoke(Reply(RECHECKING, card=text_card(RECHECKING, [("The result replaces this card when the "
                                                                          "check is done.")])), workspace)
        if reply.replace_original and reply.card is not None and message_id:
            # The invoke answer replaces the card for the clicker only; update it for everyone else too.
            self._tasks.start(self._update_for_all(reference, message_id, reply), "card update")
            await self._card_at(workspace, reply, act.conversation.id, message_id)
        return _invoke(reply, workspace)

    async def _update_for_all(self, reference: dict[str, Any], activity_id: str, reply: Reply) -> None:
        ref = parse.conversation_reference(reference)
        try:
            await self._sink.update(ref, activity_id, reply)
        except DeliveryError as exc:
            log.warning("could not update the card for everyone: %s", exc)

    # ------------------------------------------------------------ installs

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        act = turn_context.activity
        if parse.bot_removed(act):
            await self._forget(act)
            return
        await self._remember(act)
        if parse.bot_added(act) and parse.conversation_kind(act) == "personal":
            await turn_context.send_activity(Activity(type=ActivityTypes.message, text=WELCOME,
                                                      text_format="plain"))

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        act = turn_context.activity
        if (act.action or "").startswith("remove"):
            await self._forget(act)
        elif (act.action or "").startswith("add"):
            await self._remember(act)

    async def _forget(self, act: Activity) -> None:
        workspace = parse.workspace_id(parse.tenant_id(act))
        team = parse._text(parse._get(act.channel_data, "team", "id"))
        if team and parse.conversation_kind(act) == "channel":
            await self._call(self._conversations.deactivate, workspace, team_id=team)
        else:
            await self._call(self._conversations.deactivate, workspace,
                             conversation_id=parse.root_conversation_id(act.conversation.id))

    async def on_unrecognized_activity_type(self, turn_context: TurnContext) -> None:
        log.info("ignored a %s activity", turn_context.activity.type)


def _invoke(reply: Reply, workspace: str) -> InvokeResponse:
    return InvokeResponse(status=200, body=render.invoke_body(render.invoke_response(reply, workspace)))
