"""Bot Framework activities -> CommandRequest / ActionRequest / stored references (pure), and the roster look-up."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from botbuilder.core import TurnContext  # type: ignore[import-untyped]
from botbuilder.core.teams import TeamsInfo  # type: ignore[import-untyped]
from botbuilder.schema import Activity, ChannelAccount, ConversationReference  # type: ignore[import-untyped]
from msrest import exceptions as msrest_errors

from chatops.chat import ActionRequest, ChatUser, CommandRequest, MessageRef
from chatops.findings import ActionKind
from chatops.store.conversations import ConversationRef

log = logging.getLogger(__name__)

PLATFORM: Final = "teams"
COMMAND: Final = "syncstatus"
CHANNEL_ID: Final = "msteams"
ACTION_MARK: Final = "chatops"  # key of the marker in every card action's data
VERB_PREFIX: Final = "chatops."
_AT: Final = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAGS: Final = re.compile(r"<[^>]+>")
_COMMAND: Final = re.compile(rf"^/?{COMMAND}\b[:,]?\s*(?P<rest>.*)$", re.IGNORECASE | re.DOTALL)
MAX_FIELD: Final = 512  # ids and values in card data are short; anything longer is not ours


class BadActivity(ValueError):
    """The body is not an activity we can act on: answered 400, nothing stored."""


class BadAction(ValueError):
    """An adaptiveCard/action invoke without a usable action: answered with an error invoke response."""


def workspace_id(tenant_id: str) -> str:
    """Our workspace id for a Teams tenant: every query of a request is scoped to it."""
    return f"{PLATFORM}:{tenant_id.lower()}"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


# ---------------------------------------------------------------- the activity itself


def activity(body: Any) -> Activity:
    """A JSON body -> Activity, refusing what would break later: no type, no conversation, no serviceUrl."""
    if not isinstance(body, dict):
        raise BadActivity("the body is not a JSON object")
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadActivity("the activity has no type")
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not _text(conversation.get("id")):
        raise BadActivity("the activity has no conversation id")
    service_url = _text(body.get("serviceUrl"))
    if not service_url.startswith(("https://", "http://")):
        raise BadActivity("the activity has no http(s) serviceUrl")
    for key in ("from", "recipient", "channelData", "value"):
        if key in body and body[key] is not None and not isinstance(body[key], dict | str | list | int | float):
            raise BadActivity(f"the activity's {key} is malformed")
    for key in ("from", "recipient"):
        if key in body and body[key] is not None and not isinstance(body[key], dict):
            raise BadActivity(f"the activity's {key} is not an object")
    if "entities" in body and body["entities"] is not None and not isinstance(body["entities"], list):
        raise BadActivity("the activity's entities are not a list")
    try:
        return Activity().deserialize(body)
    except (msrest_errors.ClientException, TypeError, ValueError, AttributeError) as exc:
        raise BadActivity(f"the activity does not match the Bot Framework schema ({type(exc).__name__})") from None


def conversation_tenant(conversation: Any) -> str:
    """conversation.tenantId: botbuilder 4.17 maps the attribute to "tenantID", so Teams' "tenantId" lands in
    additional_properties; read both."""
    if conversation is None:
        return ""
    extra = getattr(conversation, "additional_properties", None) or {}
    return (_text(getattr(conversation, "tenant_id", None)) or _text(extra.get("tenantId"))).lower()


def tenant_id(act: Activity) -> str:
    """channelData.tenant.id (Teams' own) or conversation.tenantId; both present must agree."""
    from_data = _text(_get(act.channel_data, "tenant", "id"))
    from_conversation = conversation_tenant(act.conversation)
    if from_data and from_conversation and from_data.lower() != from_conversation.lower():
        raise BadActivity("the activity names two different tenants")
    return (from_data or from_conversation).lower()


def conversation_kind(act: Activity) -> str:
    kind = _text(getattr(act.conversation, "conversation_type", None))
    if kind in ("personal", "channel", "groupChat"):
        return kind
    return "groupChat" if getattr(act.conversation, "is_group", False) else "personal"


def root_conversation_id(conversation_id: str) -> str:
    """A channel thread's id is `<channel>;messageid=<root>`: posts to the bare channel start a new thread."""
    return conversation_id.split(";messageid=", 1)[0]


def reference(act: Activity) -> ConversationRef:
    """What to keep so the bot can post here later (digests, alerts, late results)."""
    kind = conversation_kind(act)
    ref = TurnContext.get_conversation_reference(act)
    ref.activity_id = None  # proactive posts start new messages, not replies to this one
    conversation_id = act.conversation.id
    if kind == "channel":
        conversation_id = root_conversation_id(conversation_id)
        ref.conversation.id = conversation_id
    tenant = tenant_id(act)
    data = ref.serialize()
    data["conversation"]["tenantId"] = tenant  # see conversation_tenant()
    user = act.from_property
    return ConversationRef(
        workspace_id=workspace_id(tenant), conversation_id=conversation_id, platform=PLATFORM, kind=kind,
        service_url=act.service_url, reference=data,
        team_id=_text(_get(act.channel_data, "team", "id")),
        channel_id=_text(_get(act.channel_data, "channel", "id")),
        user_id=_text(getattr(user, "aad_object_id", None)) if kind == "personal" and user else "",
        name=_text(_get(act.channel_data, "channel", "name")) or _text(_get(act.channel_data, "team", "name")),
    )


def conversation_reference(data: Mapping[str, Any]) -> ConversationReference:
    """A stored reference back into the SDK's type."""
    return ConversationReference().deserialize(dict(data))


def serialized_reference(act: Activity) -> dict[str, Any]:
    """The activity's reference as JSON, keeping the tenant botbuilder's serializer drops."""
    data: dict[str, Any] = TurnContext.get_conversation_reference(act).serialize()
    data.setdefault("conversation", {})["tenantId"] = tenant_id(act)
    return data


def bot_added(act: Activity) -> bool:
    bot = act.recipient.id if act.recipient else None
    return any(m.id == bot for m in act.members_added or [])


def bot_removed(act: Activity) -> bool:
    bot = act.recipient.id if act.recipient else None
    return any(m.id == bot for m in act.members_removed or [])


# ---------------------------------------------------------------- who asked


@dataclass(frozen=True, slots=True)
class TeamsMember:
    """What the roster says about a member (the fields chatops uses)."""

    id: str
    aad_object_id: str = ""
    email: str = ""
    name: str = ""
    user_principal_name: str = ""
    user_role: str = ""  # "user", "guest", "anonymous"...

    @classmethod
    def from_account(cls, account: Any) -> TeamsMember:
        extra = getattr(account, "additional_properties", None) or {}
        email = _text(getattr(account, "email", None)).strip().lower()
        upn = _text(getattr(account, "user_principal_name", None)).strip().lower()
        return cls(
            id=_text(getattr(account, "id", None)),
            # the docs' sample says objectId, the SDKs aadObjectId: accept both
            aad_object_id=_text(getattr(account, "aad_object_id", None)) or _text(extra.get("objectId")),
            email=email or (upn if "@" in upn else ""),
            name=_text(getattr(account, "name", None)),
            user_principal_name=upn,
            user_role=_text(getattr(account, "user_role", None)),
        )


def user_id(act: Activity) -> str:
    """The member's stable id: the AAD object id, else the Teams user id (29:...)."""
    sender = act.from_property or ChannelAccount()
    return _text(getattr(sender, "aad_object_id", None)) or _text(sender.id)


def chat_user(act: Activity, found: TeamsMember | None, admins: frozenset[str] = frozenset()) -> ChatUser:
    """The neutral user; admins are the configured emails, or members the roster calls team owners."""
    sender = act.from_property or ChannelAccount()
    uid = user_id(act)
    if found is None:
        return ChatUser(PLATFORM, uid, name=_text(sender.name))
    admin = found.user_role.lower() == "owner" or bool(found.email and found.email in admins)
    if found.user_role.lower() in ("guest", "anonymous"):
        admin = False
    return ChatUser(PLATFORM, uid, email=found.email, name=found.name or _text(sender.name), is_admin=admin)


@dataclass(frozen=True, slots=True)
class Mention:
    text: str  # as it appears in the message: "<at>Ana Ruiz</at>"
    id: str
    name: str


def mentions(act: Activity) -> list[Mention]:
    found: list[Mention] = []
    for entity in act.entities or []:
        props = getattr(entity, "additional_properties", None) or {}
        if _text(getattr(entity, "type", None)).lower() != "mention":
            continue
        mentioned = props.get("mentioned") if isinstance(props.get("mentioned"), Mapping) else {}
        assert isinstance(mentioned, Mapping)
        found.append(Mention(_text(props.get("text")), _text(mentioned.get("id")), _text(mentioned.get("name"))))
    return found


def command_text(act: Activity, emails: Mapping[str, str] | None = None) -> str | None:
    """What followed `syncstatus`, with the bot's mention removed and people's mentions as their emails.

    None when the message is not a syncstatus command (the handler answers with help in that case).
    """
    text = _text(act.text)
    bot = act.recipient.id if act.recipient else ""
    emails = emails or {}
    for mention in mentions(act):
        if not mention.text:
            continue
        if mention.id == bot:
            text = text.replace(mention.text, " ")
        else:
            text = text.replace(mention.text, emails.get(mention.id) or "@" + (mention.name or mention.id))
    text = _AT.sub(lambda m: m.group(1), text)  # a mention without its entity: keep the name only
    text = html.unescape(_TAGS.sub(" ", text)).replace("\xa0", " ").strip()
    match = _COMMAND.match(text)
    if match is None:
        return None
    return " ".join(match["rest"].split())


def command_request(act: Activity, user: ChatUser, text: str) -> CommandRequest:
    return CommandRequest(workspace_id=workspace_id(tenant_id(act)), user=user, text=text,
                          channel_id=act.conversation.id, command="syncstatus")


# ---------------------------------------------------------------- card actions


@dataclass(frozen=True, slots=True)
class CardAction:
    """The data every chatops card action carries (render.action_data writes it)."""

    kind: ActionKind
    target: str
    value: str
    workspace_id: str


def card_action(data: Any, verb: str = "") -> CardAction | None:
    """Our action data -> CardAction; None when the data was not written by render (another app's card)."""
    if not isinstance(data, Mapping) or data.get(ACTION_MARK) != 1:
        return None
    kind_text = _text(data.get("kind")) or verb.removeprefix(VERB_PREFIX)
    if verb and verb != VERB_PREFIX + kind_text:
        return None
    try:
        kind = ActionKind(kind_text)
    except ValueError:
        return None
    fields = [_text(data.get(k)) for k in ("t", "v", "ws")]
    if any(len(f) > MAX_FIELD for f in fields):
        return None
    return CardAction(kind, *fields)


def invoke_action(act: Activity) -> CardAction:
    """An adaptiveCard/action invoke's Action.Execute -> CardAction, or BadAction saying what is wrong."""
    value = act.value
    if not isinstance(value, Mapping):
        raise BadAction("Missing value property")
    action = value.get("action")
    if not isinstance(action, Mapping):
        raise BadAction("Missing action property")
    if action.get("type") != "Action.Execute":
        raise BadAction(f"The action {action.get('type')!r} is not supported")
    found = card_action(action.get("data"), _text(action.get("verb")))
    if found is None:
        raise BadAction("This card action is not one of chatops'")
    return found


def submit_action(act: Activity) -> CardAction | None:
    """An Action.Submit fallback arrives as a message whose value is the action's data."""
    return card_action(act.value, _text(_get(act.value, "verb")))


def action_request(act: Activity, user: ChatUser, action: CardAction) -> ActionRequest:
    message = MessageRef(channel_id=act.conversation.id, message_id=_text(act.reply_to_id))
    return ActionRequest(workspace_id=workspace_id(tenant_id(act)), user=user, kind=action.kind,
                         target=action.target, value=action.value, message=message)


def delivery_key(act: Activity) -> str:
    """Redelivery of an activity repeats its id within its conversation."""
    return f"{PLATFORM}:{act.conversation.id}:{act.id}" if act.id else ""


# ---------------------------------------------------------------- the roster, cached


class Directory:
    """TeamsInfo.get_member with a short cache per (tenant, user): the answer budget is short."""

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._cache: dict[tuple[str, str], tuple[float, TeamsMember]] = {}
        self._lock = asyncio.Lock()

    async def lookup(self, turn_context: TurnContext, member_id: str) -> TeamsMember | None:
        """The member, or None when the roster won't say (logged); failures are not cached."""
        tenant = tenant_id(turn_context.activity)
        key = (tenant, member_id)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        try:
            account = await TeamsInfo.get_member(turn_context, member_id)
        except (msrest_errors.ClientException, OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("Teams roster look-up failed: %s", getattr(exc, "message", None) or type(exc).__name__,
                        extra={"tenant": tenant, "member": member_id})
            return None
        found = TeamsMember.from_account(account)
        async with self._lock:
            self._cache[key] = (time.monotonic(), found)
        return found

    async def emails(self, turn_context: TurnContext, member_ids: list[str]) -> dict[str, str]:
        found = await asyncio.gather(*(self.lookup(turn_context, m) for m in member_ids))
        return {m: f.email for m, f in zip(member_ids, found, strict=True) if f is not None and f.email}
