"""Delivering replies: response_url within its 5 uses and 30 minutes, else chat.postMessage, else a DM."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack import render
from chatops.chat import MessageRef, Reply
from chatops.errors import ChatopsError

log = logging.getLogger(__name__)

RESPONSE_URL_USES: Final = 5  # Slack: a response_url takes 5 posts within 30 minutes
RESPONSE_URL_LIFETIME_S: Final = 29 * 60  # a minute of margin under Slack's 30
WEBHOOK_TIMEOUT_S: Final = 10
DELIVERY_EVENT: Final = "chatops_delivery"  # message metadata's event_type on digests and alerts
HISTORY_PAGE_SIZE: Final = 200
HISTORY_PAGES: Final = 5  # a channel busier than 1,000 messages since the claim: post again (at least once)
_NO_CHANNEL: Final = frozenset({"channel_not_found", "not_in_channel", "is_archived", "user_not_in_channel",
                                "restricted_action"})


@dataclass
class Origin:
    """Where a request came from: the place to answer, and how much of its response_url is left."""

    channel_id: str
    user_id: str
    response_url: str = ""
    received_at: float = field(default_factory=time.monotonic)
    uses: int = 0

    def response_url_usable(self) -> bool:
        return (bool(self.response_url) and self.uses < RESPONSE_URL_USES
                and time.monotonic() - self.received_at < RESPONSE_URL_LIFETIME_S)

    def uses_left(self) -> int:
        return RESPONSE_URL_USES - self.uses if self.response_url else 0


class SlackSink:
    """Posts replies for one app; every Slack error is logged with its method name, never raised to chat."""

    def __init__(self, retry_handlers: list[AsyncRetryHandler] | None = None) -> None:
        self._retry_handlers = retry_handlers or []

    async def respond(self, origin: Origin, body: dict[str, Any]) -> bool:
        """POST a response_url body; False (and logged) when the URL is spent, expired or refused."""
        if not origin.response_url_usable():
            if origin.response_url:
                log.info("response_url spent or expired; falling back to the Web API",
                         extra={"uses": origin.uses, "channel": origin.channel_id})
            return False
        hook = AsyncWebhookClient(origin.response_url, timeout=WEBHOOK_TIMEOUT_S,
                                  retry_handlers=list(self._retry_handlers))
        origin.uses += 1
        try:
            answer = await hook.send_dict(body)
        except Exception as exc:  # aiohttp / timeout: the Web API fallback follows
            log.warning("response_url post failed: %s", type(exc).__name__, extra={"method": "response_url"})
            return False
        if answer.status_code != 200:
            log.warning("response_url answered %s %s", answer.status_code, answer.body[:200],
                        extra={"method": "response_url"})
            return False
        return True

    async def deliver(self, client: AsyncWebClient, origin: Origin, reply: Reply, *,
                      replace_original: bool | None = None) -> str:
        """Show `reply` where `origin` is; returns how it went out ("" when nothing could be posted)."""
        if await self.respond(origin, render.response(reply, replace_original=replace_original)):
            return "response_url"
        message = render.message(reply)
        if origin.channel_id:
            method = "chat.postEphemeral" if reply.ephemeral else "chat.postMessage"
            extra = {"user": origin.user_id} if reply.ephemeral else {}
            if await self._call(client, method, channel=origin.channel_id, **extra, **message) is not None:
                return method
        # The channel is out of reach (private, archived, bot not invited): the user's DM with the app.
        if origin.user_id and await self._call(client, "chat.postMessage", channel=origin.user_id,
                                               **message) is not None:
            return "dm"
        return ""

    async def update(self, client: AsyncWebClient, channel: str, ts: str, reply: Reply) -> bool:
        """Replace a posted message in place (chat.update)."""
        answer = await self._call(client, "chat.update", channel=channel, ts=ts, **render.message(reply))
        return answer is not None

    async def _call(self, client: AsyncWebClient, method: str, **params: Any) -> dict[str, Any] | None:
        try:
            answer = await client.api_call(method, json=params)
        except SlackApiError as exc:
            error = exc.response.get("error", exc.response.status_code)
            level = logging.INFO if error in _NO_CHANNEL else logging.WARNING
            log.log(level, "Slack %s failed: %s", method, error, extra={"method": method})
            return None
        return dict(answer.data) if isinstance(answer.data, dict) else {}


class OriginCards:
    """The message a request's response_url answers, replaced in place on that request's budget of uses.

    A /syncstatus filling in: its progress updates and its final card share the one response_url.
    """

    def __init__(self, sink: SlackSink, origin: Origin) -> None:
        self._sink = sink
        self._origin = origin

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        return await self._sink.respond(self._origin, render.response(reply, replace_original=True))


class SlackCards:
    """ChatSink for Slack: replaces a card in place after a Reconnect (chat.update, else its response_url)."""

    def __init__(self, sink: SlackSink, client_for: Callable[[str], Awaitable[AsyncWebClient | None]]) -> None:
        self._sink = sink
        self._client_for = client_for  # team id -> a client holding that team's bot token
        self._pacer = ChannelPacer()

    async def update(self, workspace_id: str, message: MessageRef, reply: Reply) -> bool:
        team = workspace_id.partition(":")[2]
        if message.channel_id and message.message_id:
            client = await self._client_for(team)
            if client is not None and await self._sink.update(client, message.channel_id, message.message_id, reply):
                return True
        if message.response_url:  # ephemeral cards can only be replaced this way, within 30 minutes
            origin = Origin(channel_id=message.channel_id, user_id="", response_url=message.response_url)
            return await self._sink.respond(origin, render.response(reply, replace_original=True))
        return False

    async def post(self, workspace_id: str, destination: str, reply: Reply, *, key: str = "") -> MessageRef:
        """A new message (digests, alerts) in a channel, or in "@U123"'s DM with the app; raises PostFailed.

        Sends to one channel are paced to one a second (Slack's chat.postMessage limit); a 429 is retried
        after its Retry-After by the client's rate-limit handler (SlackSettings.rate_limit_retries). A delivery
        `key` rides along as message metadata, so `find_posted` can find the message after a restart.
        """
        team = workspace_id.partition(":")[2]
        client = await self._client_for(team)
        if client is None:
            raise PostFailed(f"the Slack app is not installed in {workspace_id}")
        channel = destination.removeprefix("@")
        body = {"channel": channel, **render.message(reply)}
        if key:
            body["metadata"] = {"event_type": DELIVERY_EVENT, "event_payload": {"key": key}}
        async with self._pacer.slot(channel):
            try:
                answer = await client.api_call("chat.postMessage", json=body)
            except SlackApiError as exc:
                error = exc.response.get("error", exc.response.status_code)
                raise PostFailed(f"Slack chat.postMessage to {channel} failed: {error}") from exc
        data = answer.data if isinstance(answer.data, dict) else {}
        return MessageRef(channel_id=str(data.get("channel") or channel), message_id=str(data.get("ts") or ""))

    async def find_posted(self, workspace_id: str, destination: str, key: str,
                          since: datetime) -> MessageRef | None:
        """The channel's message since `since` whose metadata carries delivery key `key` (conversations.history
        with include_all_metadata; needs channels:history / groups:history). A DM ("@U123") can't be read back
        by its user id, so there the answer is None. Raises PostFailed when Slack could not be asked."""
        if destination.startswith("@"):
            return None
        team = workspace_id.partition(":")[2]
        client = await self._client_for(team)
        if client is None:
            raise PostFailed(f"the Slack app is not installed in {workspace_id}")
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                answer = await client.conversations_history(
                    channel=destination, oldest=f"{since.timestamp():.6f}", include_all_metadata=True,
                    limit=HISTORY_PAGE_SIZE, cursor=cursor)
            except SlackApiError as exc:
                error = exc.response.get("error", exc.response.status_code)
                raise PostFailed(f"Slack conversations.history of {destination} failed: {error}") from exc
            data = answer.data if isinstance(answer.data, dict) else {}
            for message in data.get("messages") or ():
                metadata = message.get("metadata") if isinstance(message, dict) else None
                if (isinstance(metadata, dict) and metadata.get("event_type") == DELIVERY_EVENT
                        and isinstance(metadata.get("event_payload"), dict)
                        and metadata["event_payload"].get("key") == key):
                    return MessageRef(channel_id=destination, message_id=str(message.get("ts") or ""))
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "") or None
            if not data.get("has_more") or cursor is None:
                return None
        return None


class PostFailed(ChatopsError):
    """Slack did not take a message (not installed, channel gone, rate limited past the retries)."""


class ChannelPacer:
    """At most one send per `interval_s` to each channel, by waiting (Slack: 1 message a second per channel)."""

    def __init__(self, interval_s: float = 1.0) -> None:
        self._interval_s = interval_s
        self._last: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @asynccontextmanager
    async def slot(self, channel: str) -> AsyncIterator[None]:
        async with self._locks.setdefault(channel, asyncio.Lock()):
            wait = self._last.get(channel, float("-inf")) + self._interval_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                yield
            finally:
                self._last[channel] = time.monotonic()
