"""TeamsSink: proactive posts and in-place updates to stored conversations, allowlisted, paced and retried."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

from botbuilder.core import BotAdapter, TurnContext  # type: ignore[import-untyped]
from botbuilder.schema import Activity, ConversationReference, ResourceResponse  # type: ignore[import-untyped]
from msrest.exceptions import ClientRequestError, HttpOperationError

from adapters.teams import parse, render
from chatops.cards import Card
from chatops.chat import MessageRef, Reply
from chatops.errors import ChatopsError
from chatops.store.conversations import Conversations

log = logging.getLogger(__name__)

T = TypeVar("T")
RETRY_STATUSES: Final = frozenset({412, 429, 502, 503, 504})  # Teams' rate-limit doc, plus 503
# Per bot per conversation ("thread"): 7 sends a second, 60 in 30 seconds (Teams' rate-limit doc).
SEND_WINDOWS: Final = ((1.0, 7), (30.0, 60))
MAX_RETRY_AFTER_S: Final = 60.0
Sleep = Callable[[float], Awaitable[None]]


class DeliveryError(ChatopsError):
    """A post or update did not happen: refused here, refused by Teams, or retried out."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class NotAllowed(DeliveryError):
    """The reference's serviceUrl is not a Teams (or sandbox) host: the bot's token never goes there."""


@dataclass(frozen=True, slots=True)
class Backoff:
    retries: int = 3
    base_s: float = 2.0
    cap_s: float = 20.0
    jitter: float = 0.2

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
        delay: float = min(self.base_s * 2.0 ** attempt, self.cap_s)
        return delay * random.uniform(1 - self.jitter, 1 + self.jitter)


class Pacer:
    """Keeps sends to one conversation inside Teams' per-thread windows by waiting, never by dropping.

    Sends to one conversation go one at a time (in order), and each is counted when its answer came back, so
    the windows hold where Teams counts them too.
    """

    def __init__(self, windows: tuple[tuple[float, int], ...] = SEND_WINDOWS, sleep: Sleep = asyncio.sleep) -> None:
        self._windows = windows
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def slot(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            sent = self._sent.setdefault(conversation_id, deque())
            longest = max(span for span, _ in self._windows)
            while True:
                now = time.monotonic()
                while sent and now - sent[0] > longest:
                    sent.popleft()
                wait = 0.0
                for span, count in self._windows:
                    recent = [t for t in sent if now - t < span]
                    if len(recent) >= count:
                        wait = max(wait, span - (now - recent[-count]))
                if wait <= 0:
                    break
                await self._sleep(wait)
            try:
                yield
            finally:
                sent.append(time.monotonic())


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_code(exc: BaseException) -> str:
    error = getattr(getattr(exc, "error", None), "error", None)
    return str(getattr(error, "code", "") or "")


class TeamsSink:
    """Posts and updates cards in conversations the bot was installed in (digests, alerts, late results)."""

    def __init__(self, adapter: BotAdapter, app_id: str, allowed: Callable[[str], bool], *,
                 backoff: Backoff = Backoff(), pacer: Pacer | None = None, sleep: Sleep = asyncio.sleep) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._allowed = allowed
        self._backoff = backoff
        self._pacer = pacer or Pacer(sleep=sleep)
        self._sleep = sleep

    @staticmethod
    def _reference(reference: ConversationReference | Mapping[str, Any]) -> ConversationReference:
        if isinstance(reference, ConversationReference):
            return reference
        return parse.conversation_reference(reference)

    def _check(self, ref: ConversationReference) -> str:
        service_url = ref.service_url or ""
        if not self._allowed(service_url):
            log.warning("refused to post to a serviceUrl outside the allowlist: %s", service_url,
                        extra={"conversation": getattr(ref.conversation, "id", "")})
            raise NotAllowed(f"{service_url or 'an empty serviceUrl'} is not a Microsoft Teams service host")
        conversation = getattr(ref.conversation, "id", None)
        if not conversation:
            raise DeliveryError("the conversation reference has no conversation id")
        tenant = parse.conversation_tenant(ref.conversation)
        if not tenant:
            raise DeliveryError("the conversation reference names no tenant")
        return parse.workspace_id(tenant)

    async def post(self, reference: ConversationReference | Mapping[str, Any], card: Card, *, text: str = "") -> str:
        """A new message holding the card; returns its activity id (for a later update)."""
        return await self.post_reply(reference, Reply(text or card.title, card=card))

    async def post_reply(self, reference: ConversationReference | Mapping[str, Any], reply: Reply) -> str:
        ref = self._reference(reference)
        workspace = self._check(ref)
        act = render.activity(reply, workspace)
        response: ResourceResponse | None = await self._turn(ref, lambda ctx: ctx.send_activity(act))
        return str(getattr(response, "id", "") or "")

    async def update(self, reference: ConversationReference | Mapping[str, Any], activity_id: str,
                     reply: Reply) -> None:
        """Replace a message the bot sent (the "Rechecking…" card) with the reply, for everyone."""
        ref = self._reference(reference)
        workspace = self._check(ref)
        act = render.activity(reply, workspace)
        act.id = activity_id
        await self._turn(ref, lambda ctx: ctx.update_activity(_addressed(act, ref)))

    async def _turn(self, ref: ConversationReference, send: Callable[[TurnContext], Awaitable[T]]) -> T:
        result: list[T] = []
        failed: list[DeliveryError] = []

        async def callback(ctx: TurnContext) -> None:
            ctx.activity.id = None  # a new top-level message, not a reply to the continuation's made-up id
            client = ctx.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
            config = getattr(client, "config", None)
            if config is not None and hasattr(config, "retry_policy"):
                config.retry_policy.retries = 0  # one retry policy, ours (msrest would retry 5xx on its own)
            try:
                result.append(await self._retrying(ref, lambda: send(ctx)))
            except DeliveryError as exc:  # kept from the adapter's on_turn_error: the caller decides
                failed.append(exc)

        await self._adapter.continue_conversation(ref, callback, self._app_id)
        if failed:
            raise failed[0]
        if not result:
            raise DeliveryError("the message could not be sent (see the log for the incident)")
        return result[0]

    async def _retrying(self, ref: ConversationReference, call: Callable[[], Awaitable[T]]) -> T:
        conversation = str(ref.conversation.id)
        attempt = 0
        while True:
            try:
                async with self._pacer.slot(conversation):
                    return await call()
            except (HttpOperationError, ClientRequestError) as exc:
                status = _status(exc)
                if status not in RETRY_STATUSES or attempt >= self._backoff.retries:
                    code = _error_code(exc)
                    raise DeliveryError(f"Teams refused the message ({status or type(exc).__name__}"
                                        f"{' ' + code if code else ''})", status=status, code=code) from exc
                delay = self._backoff.delay(attempt, _retry_after(exc))
                log.info("Teams answered %s; retrying in %.1f s", status, delay,
                         extra={"conversation": conversation, "attempt": attempt + 1})
                attempt += 1
                await self._sleep(delay)


async def _replace(sink: TeamsSink, reference: ConversationReference | Mapping[str, Any], message_id: str,
                   reply: Reply, workspace_id: str, what: str) -> bool:
    """Replace the bot's message in place; whether Teams took it (a refusal is logged, not raised)."""
    try:
        await sink.update(reference, message_id, reply)
    except DeliveryError as exc:
        log.warning("could not update %s: %s", what, exc, extra={"workspace": workspace_id})
        return False
    return True


class ReferenceCards:
    """The bot's own message in the conversation a request came from, replaced in place (a card filling in).

    Paced and retried by TeamsSink like every send to that conversation, so the final card queues behind it.
    """

    def __init__(self, sink: TeamsSink, reference: Mapping[str, Any]) -> None:
        self._sink = sink
        self._reference = reference

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        ref = parse.conversation_reference(self._reference)
        ref.activity_id = None
        return await _replace(self._sink, ref, message.message_id, reply, workspace_id, "the card in progress")


class TeamsCards:
    """ChatSink for Teams: replaces a card in place after a Reconnect, through the stored conversation reference."""

    def __init__(self, sink: TeamsSink, conversations: Conversations) -> None:
        self._sink = sink
        self._conversations = conversations

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        root = parse.root_conversation_id(message.channel_id)
        stored = await asyncio.to_thread(self._conversations.get, workspace_id, root)
        if stored is None or not stored.active or not message.message_id:
            log.info("no conversation to update the card in", extra={"workspace": workspace_id})
            return False
        reference = dict(stored.reference)
        reference["conversation"] = {**dict(reference.get("conversation") or {}), "id": message.channel_id}
        return await _replace(self._sink, reference, message.message_id, reply, workspace_id,
                              "the card after a reconnect")

    async def post(self, workspace_id: str, destination: str, reply: Reply, *, key: str = "") -> MessageRef:
        """A new message (digests, alerts) in a stored conversation, or "@<AAD object id>"'s personal chat.

        Paced and retried by TeamsSink (Retry-After, backoff); raises DeliveryError when it did not go out.
        The delivery key goes nowhere: a bot can't read its conversations back without Graph permissions.
        """
        if destination.startswith("@"):
            stored = await asyncio.to_thread(self._conversations.personal, workspace_id, destination[1:])
        else:
            stored = await asyncio.to_thread(self._conversations.get, workspace_id,
                                             parse.root_conversation_id(destination))
        if stored is None or not stored.active:
            raise DeliveryError(f"the bot is not in conversation {destination} (or was removed from it)")
        activity_id = await self._sink.post_reply(stored.reference, reply)
        return MessageRef(channel_id=stored.conversation_id, message_id=activity_id)

    async def find_posted(self, workspace_id: str, destination: str, key: str,
                          since: datetime) -> MessageRef | None:
        """Teams can't tell: the Bot Connector has no history to read, Graph's needs permissions we don't ask for.
        So a crash between Teams taking a message and the key being marked sent posts it again (at least once)."""
        return None


def _addressed(act: Activity, ref: ConversationReference) -> Activity:
    act.conversation = ref.conversation
    act.service_url = ref.service_url
    act.channel_id = ref.channel_id
    return act
