"""Slack payloads -> CommandRequest / ActionRequest (pure), and the users.info look-up that says who asked."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import render
from chatops.chat import ActionRequest, ChatUser, CommandRequest, MessageRef
from chatops.findings import ActionKind

log = logging.getLogger(__name__)

PLATFORM = "slack"
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")


def workspace_id(team_id: str) -> str:
    """Our workspace id for a Slack team: every query of a request is scoped to it."""
    return f"{PLATFORM}:{team_id}"


def team_id(body: Mapping[str, Any]) -> str:
    """The team a request comes from: slash commands, interactivity and events each put it elsewhere."""
    for value in (body.get("team_id"), dig(body, "team", "id"), dig(body, "user", "team_id"),
                  dig(body, "view", "team_id"), dig(body, "event", "view", "team_id")):
        if isinstance(value, str) and value:
            return value
    return ""


def dig(body: Mapping[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# ---------------------------------------------------------------- who asked


@dataclass(frozen=True, slots=True)
class SlackUser:
    """What users.info says about a member (the fields chatops uses)."""

    id: str
    email: str = ""
    name: str = ""
    is_admin: bool = False  # workspace admin or owner
    is_bot: bool = False
    deleted: bool = False

    @classmethod
    def from_api(cls, user: Mapping[str, Any]) -> SlackUser:
        profile = user.get("profile") if isinstance(user.get("profile"), Mapping) else {}
        assert isinstance(profile, Mapping)
        name = (_text(profile.get("display_name")) or _text(profile.get("real_name"))
                or _text(user.get("real_name")) or _text(user.get("name")))
        return cls(
            id=_text(user.get("id")),
            email=_text(profile.get("email")).lower(),  # absent without the users:read.email scope
            name=name,
            is_admin=any(user.get(flag) is True for flag in ("is_admin", "is_owner", "is_primary_owner")),
            is_bot=user.get("is_bot") is True or user.get("is_app_user") is True,
            deleted=user.get("deleted") is True,
        )


def chat_user(user_id: str, found: SlackUser | None, admins: frozenset[str] = frozenset()) -> ChatUser:
    """The neutral user: Slack's admin and owner flags, or the configured admin list, make an admin."""
    if found is None:
        return ChatUser(PLATFORM, user_id, is_admin=user_id in admins)
    listed = user_id in admins or bool(found.email and found.email in admins)
    admin = not found.deleted and (found.is_admin or listed)
    return ChatUser(PLATFORM, user_id, email=found.email, name=found.name, is_admin=admin)


def mentioned_users(text: str) -> list[str]:
    """User ids of `<@U123|name>` mentions, in order, once each."""
    return list(dict.fromkeys(m["id"] for m in _MENTION.finditer(text)))


def resolve_mentions(text: str, emails: Mapping[str, str]) -> str:
    """Mentions become the member's email, which the core's grammar understands; unknown ones stay @name."""

    def one(match: re.Match[str]) -> str:
        return emails.get(match["id"]) or "@" + (match["name"] or match["id"])

    return _MENTION.sub(one, text)


# ---------------------------------------------------------------- requests


def command_request(command: Mapping[str, Any], user: ChatUser, emails: Mapping[str, str]) -> CommandRequest:
    """A slash command body -> CommandRequest; `emails` resolves the mentions in its text."""
    return CommandRequest(
        workspace_id=workspace_id(team_id(command)),
        user=user,
        text=resolve_mentions(_text(command.get("text")).strip(), emails),
        channel_id=_text(command.get("channel_id")),
    )


def decode_value(value: str) -> tuple[str, str]:
    """(target, value) from a button value written by render.button_value; ("", "") when it isn't one."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return _text(data.get("t")), _text(data.get("v"))


def decode_link(value: str) -> bool:
    """True for the value of a URL button (Reconnect, Open): Slack opened the link; nothing to do."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError):
        return False
    return isinstance(data, dict) and data.get("u") == 1


def clicked(body: Mapping[str, Any]) -> Mapping[str, Any]:
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], Mapping):
        return actions[0]
    return {}


def message_ref(body: Mapping[str, Any]) -> MessageRef | None:
    """Where the clicked button lives: a message (channel, ts, response_url); None for a view (App Home)."""
    container = body.get("container") if isinstance(body.get("container"), Mapping) else {}
    assert isinstance(container, Mapping)
    if container.get("type") == "view":
        return None
    channel = _text(container.get("channel_id")) or _text(dig(body, "channel", "id"))
    ts = _text(container.get("message_ts")) or _text(dig(body, "message", "ts"))
    response_url = _text(body.get("response_url"))
    if not (channel or response_url):
        return None
    return MessageRef(channel_id=channel, message_id=ts, response_url=response_url)


def shown_connections(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The connections the clicked message's card shows (its Retest buttons' targets); () when Slack left the
    message out (ephemeral messages)."""
    blocks = dig(body, "message", "blocks")
    found: list[str] = []
    for block in blocks if isinstance(blocks, list) else ():
        elements = block.get("elements") if isinstance(block, Mapping) and block.get("type") == "actions" else None
        for element in elements if isinstance(elements, list) else ():
            if isinstance(element, Mapping) and render.action_kind(_text(element.get("action_id"))) is \
                    ActionKind.RETEST:
                target, _ = decode_value(_text(element.get("value")))
                if target:
                    found.append(target)
    return tuple(dict.fromkeys(found))


def action_request(body: Mapping[str, Any], user: ChatUser) -> ActionRequest | None:
    """A block_actions payload -> ActionRequest; None when the button is not one of ours."""
    action = clicked(body)
    kind = render.action_kind(_text(action.get("action_id")))
    if kind is None:
        return None
    target, value = decode_value(_text(action.get("value")))
    return ActionRequest(workspace_id=workspace_id(team_id(body)), user=user, kind=kind, target=target,
                         value=value, message=message_ref(body))


def event_key(body: Mapping[str, Any]) -> str:
    """The Events API's own dedupe key: event_id, the same on every retry."""
    return _text(body.get("event_id"))


# ---------------------------------------------------------------- users.info, cached


class Directory:
    """users.info with a short cache per (team, user): the ack path must not wait on Slack every time."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, SlackUser | None]] = {}
        self._lock = asyncio.Lock()

    async def lookup(self, client: AsyncWebClient, team: str, user_id: str) -> SlackUser | None:
        """The member, or None when Slack won't say (logged with the method name)."""
        key = (team, user_id)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        try:
            answer = await client.users_info(user=user_id)
            found: SlackUser | None = SlackUser.from_api(answer["user"])
        except SlackApiError as exc:
            log.warning("Slack users.info failed: %s", exc.response.get("error", exc.response.status_code),
                        extra={"method": "users.info", "team": team, "user": user_id})
            return None  # not cached: the next request tries again
        async with self._lock:
            self._cache[key] = (time.monotonic(), found)
        return found

    def forget(self, team: str) -> None:
        for key in [k for k in self._cache if k[0] == team]:
            del self._cache[key]

    async def emails(self, client: AsyncWebClient, team: str, user_ids: list[str]) -> dict[str, str]:
        found = await asyncio.gather(*(self.lookup(client, team, u) for u in user_ids))
        return {u: f.email for u, f in zip(user_ids, found, strict=True) if f is not None and f.email}


# ---------------------------------------------------------------- view submissions


def view_values(view: Mapping[str, Any]) -> dict[str, str]:
    """A submitted view's inputs by block_id: the text, time, picked option or conversation each holds."""
    values = dig(view, "state", "values")
    found: dict[str, str] = {}
    for block_id, elements in values.items() if isinstance(values, Mapping) else ():
        if not isinstance(elements, Mapping):
            continue
        for element in elements.values():
            if not isinstance(element, Mapping):
                continue
            option = element.get("selected_option")
            found[str(block_id)] = (
                _text(element.get("value")) or _text(element.get("selected_time"))
                or _text(element.get("selected_conversation")) or _text(element.get("selected_channel"))
                or (_text(option.get("value")) if isinstance(option, Mapping) else ""))
    return found


def view_subscription(view: Mapping[str, Any]) -> str:
    """The subscription id the digest form was opened for (its private_metadata); "" for a new one."""
    try:
        data = json.loads(_text(view.get("private_metadata")) or "{}")
    except ValueError:
        return ""
    return _text(data.get("s")) if isinstance(data, dict) else ""
