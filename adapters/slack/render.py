"""Card -> Block Kit through slack_sdk's block models, so Slack's limits are checked before sending."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    TimePickerElement,
)
from slack_sdk.models.views import View

from chatops.audits.schedule import WEEKDAYS
from chatops.cards import Block as CardBlock
from chatops.cards import Button, Buttons, Card, Divider, Facts, Header, Line, Note, Steps
from chatops.chat import Reply
from chatops.findings import ActionKind, Status
from chatops.home import FIELDS, DigestForm

MAX_MESSAGE_BLOCKS: Final = 50  # Slack rejects more with invalid_blocks; slack_sdk does not check it
MAX_VIEW_BLOCKS: Final = 100  # modal and Home tab
SECTION_TEXT: Final = 3000
FIELD_TEXT: Final = 2000
FIELDS_PER_SECTION: Final = 10
CONTEXT_TEXT: Final = 2000
HEADER_TEXT: Final = 150
BUTTON_TEXT: Final = 75
BUTTON_VALUE: Final = 2000
MESSAGE_TEXT: Final = 3000  # the notification / fallback text; Slack allows more, nobody reads more
VIEW_TITLE: Final = 24
PRIVATE_METADATA: Final = 3000

ACTION_PREFIX: Final = "chatops"
DIGEST_FORM: Final = f"{ACTION_PREFIX}:digest_form"  # the digest settings modal's callback_id
_WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOT_INSTALLED: Final = ("chatops is not installed in this Slack workspace, so it has nothing to show here. "
                        "Ask a workspace admin to install it.")
_ACTION_ID = re.compile(rf"^{ACTION_PREFIX}:(?P<kind>[a-z_]+)(?::\d+)?$")
_STATUS_EMOJI: Final = {Status.OK: ":white_check_mark:", Status.WARN: ":warning:", Status.FAIL: ":x:",
                        Status.ERROR: ":grey_question:", Status.SKIPPED: ":white_circle:"}


def action_pattern(kind: ActionKind) -> re.Pattern[str]:
    """Matches the action_id of every button of this kind (they carry a position suffix)."""
    return re.compile(rf"^{ACTION_PREFIX}:{re.escape(kind.value)}(?::\d+)?$")


def action_kind(action_id: str) -> ActionKind | None:
    match = _ACTION_ID.match(action_id)
    if match is None:
        return None
    try:
        return ActionKind(match["kind"])
    except ValueError:
        return None


def escape(text: str) -> str:
    """Slack's three control characters, so text can't mention @channel, a user or spoof a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, never cutting an escape sequence in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> MarkdownTextObject:
    """Already-escaped mrkdwn, clipped to `limit`; never empty (slack_sdk would drop the text, Slack refuse it)."""
    return MarkdownTextObject(text=clip(text, limit) or " ")


def plain(text: str, limit: int) -> PlainTextObject:
    # plain_text isn't mrkdwn, but Slack decodes the same three entities in it: escape it all the same
    return PlainTextObject(text=clip(escape(text), limit) or " ", emoji=True)


# ---------------------------------------------------------------- buttons


def button_value(button: Button) -> str:
    """What a button carries back to parse.py: its target and value, compact JSON."""
    data: dict[str, Any] = {"t": button.target, "v": button.value}
    if button.url:
        data["u"] = 1  # Slack opens the link and still sends block_actions: only ack those
    return json.dumps(data, separators=(",", ":"))


def button(button: Button, position: int) -> ButtonElement:
    value = button_value(button)
    if len(value) > BUTTON_VALUE:  # a target this long is a bug upstream; fail loudly, not in Slack
        raise ValueError(f"button value of {len(value)} characters for {button.kind.value}")
    return ButtonElement(
        text=plain(button.label, BUTTON_TEXT),
        action_id=f"{ACTION_PREFIX}:{button.kind.value}:{position}",
        value=value,
        url=button.url or None,
        style="primary" if button.primary else None,
    )


# ---------------------------------------------------------------- blocks


def blocks(card_blocks: Sequence[CardBlock]) -> list[Block]:
    out: list[Block] = []
    for block in card_blocks:
        rendered = _block(block)
        for b in rendered:
            if isinstance(b, ActionsBlock):  # a stable id, so Retest can find its row in the message
                b.block_id = f"actions-{len(out)}"
            out.append(b)
    return out


def _block(block: CardBlock) -> list[Block]:
    if isinstance(block, Header):
        return [HeaderBlock(text=plain(block.text, HEADER_TEXT))]
    if isinstance(block, Line):
        text = escape(block.text)
        if block.bold:
            text = f"*{text}*"
        if block.status is not None:
            text = f"{_STATUS_EMOJI[block.status]} {text}"
        return [SectionBlock(text=mrkdwn(text))]
    if isinstance(block, Facts):
        fields = [mrkdwn(f"*{escape(label)}*\n{escape(value)}", FIELD_TEXT) for label, value in block.pairs]
        return [SectionBlock(fields=fields[i: i + FIELDS_PER_SECTION])
                for i in range(0, len(fields), FIELDS_PER_SECTION)]
    if isinstance(block, Steps):
        lines = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(block.items, start=1))
        return [SectionBlock(text=mrkdwn(lines))] if lines else []
    if isinstance(block, Note):
        return [ContextBlock(elements=[mrkdwn(escape(block.text), CONTEXT_TEXT)])]
    if isinstance(block, Buttons):
        if not block.buttons:
            return []
        return [ActionsBlock(elements=[button(b, i) for i, b in enumerate(block.buttons)])]
    if isinstance(block, Divider):
        return [DividerBlock()]
    raise TypeError(f"unknown card block {type(block).__name__}")


def _fit(rendered: list[Block], limit: int, more: str) -> list[dict[str, Any]]:
    """Validated dicts; past Slack's block limit the tail becomes one line saying where the rest is."""
    if len(rendered) > limit:
        rendered = [*rendered[: limit - 1], ContextBlock(elements=[mrkdwn(more, CONTEXT_TEXT)])]
    return [b.to_dict() for b in rendered]  # to_dict() runs slack_sdk's validators


def card_blocks(card: Card, *, limit: int = MAX_MESSAGE_BLOCKS) -> list[dict[str, Any]]:
    return _fit(blocks(card.blocks), limit,
                "This card is longer than Slack allows; click *Details* for all of it.")


def fallback_text(reply: Reply) -> str:
    return clip(escape(reply.text or (reply.card.title if reply.card else "")), MESSAGE_TEXT) or " "


def message(reply: Reply) -> dict[str, Any]:
    """`text` and `blocks` for chat.postMessage, chat.update, response_url and ack()."""
    body: dict[str, Any] = {"text": fallback_text(reply)}
    if reply.card is not None:
        body["blocks"] = card_blocks(reply.card)
    return body


def response(reply: Reply, *, replace_original: bool | None = None) -> dict[str, Any]:
    """A response_url body: the message plus how Slack should show it."""
    body = message(reply)
    body["response_type"] = "ephemeral" if reply.ephemeral else "in_channel"
    replace = reply.replace_original if replace_original is None else replace_original
    if replace:
        body["replace_original"] = True
    return body


# ---------------------------------------------------------------- views


def modal(reply: Reply, *, title: str = "Details") -> dict[str, Any]:
    """A modal holding the card and its details (views.open)."""
    card = reply.card
    parts: list[CardBlock] = [*card.blocks, *card.details] if card is not None else [Line(reply.text)]
    view = View(type="modal", title=plain(title, VIEW_TITLE), close=plain("Close", VIEW_TITLE),
                blocks=_fit(blocks(parts), MAX_VIEW_BLOCKS, "More findings were cut to fit Slack's limit."))
    return view.to_dict()


def home(cards: Sequence[Card]) -> dict[str, Any]:
    """The App Home tab: several cards one after another, within the view's block limit."""
    parts: list[CardBlock] = []
    for i, card in enumerate(cards):
        if i:
            parts.append(Divider())
        parts.extend(card.blocks)
    view = View(type="home", blocks=_fit(blocks(parts), MAX_VIEW_BLOCKS,
                                         "More is cut to fit Slack's limit; use `/syncstatus`."))
    return view.to_dict()


def digest_modal(form: DigestForm) -> dict[str, Any]:
    """The digest settings form (views.open): channel, weekly or daily, day, time and time zone.

    Each input's block_id is its field name in chatops.home.FIELDS, so the core's errors map onto it.
    """
    channel, cadence, weekday, at, zone = FIELDS
    inputs: list[Block] = []
    if form.subscription_id:  # an existing subscription keeps its channel
        inputs.append(SectionBlock(text=mrkdwn(f"*Channel:* {escape(form.destination_name)}")))
    else:
        inputs.append(InputBlock(block_id=channel, label=plain("Channel", 2000), element=ConversationSelectElement(
            action_id=channel, placeholder=plain("Pick a channel", 150),
            filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True))))
    cadences = [Option(value=c, text=plain(c.title(), 75)) for c in ("weekly", "daily")]
    days = [Option(value=d, text=plain(name, 75)) for d, name in zip(WEEKDAYS, _WEEKDAY_NAMES, strict=True)]
    inputs += [
        InputBlock(block_id=cadence, label=plain("How often", 2000), element=RadioButtonsElement(
            action_id=cadence, options=cadences, initial_option=cadences[0 if form.cadence.value == "weekly" else 1])),
        InputBlock(block_id=weekday, label=plain("Day (weekly digests)", 2000), element=StaticSelectElement(
            action_id=weekday, options=days, initial_option=days[form.weekday])),
        InputBlock(block_id=at, label=plain("Time", 2000), element=TimePickerElement(
            action_id=at, initial_time=f"{form.at:%H:%M}", placeholder=plain("09:00", 150))),
        InputBlock(block_id=zone, label=plain("Time zone", 2000), element=PlainTextInputElement(
            action_id=zone, initial_value=form.timezone, max_length=64, placeholder=plain("Europe/Berlin", 150)),
            hint=plain("An IANA name such as Europe/Berlin or America/New_York.", 2000)),
    ]
    title = "Edit digest" if form.subscription_id else "Add digest"
    metadata = json.dumps({"s": form.subscription_id}, separators=(",", ":"))
    view = View(type="modal", callback_id=DIGEST_FORM, title=plain(title, VIEW_TITLE),
                submit=plain("Save", VIEW_TITLE), close=plain("Cancel", VIEW_TITLE),
                private_metadata=metadata, blocks=[b.to_dict() for b in inputs])
    return view.to_dict()


def form_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """The core's field errors as a view_submission `errors` answer: an error about the whole form ("") goes on
    the first input the view has (Slack shows errors only under inputs)."""
    inputs = [str(b.get("block_id")) for b in view.get("blocks") or [] if b.get("type") == "input"]
    out: dict[str, str] = {}
    for field, text in errors.items():
        block = field if field in inputs else (inputs[0] if inputs else field)
        out[block] = clip(f"{out[block]} {text}" if block in out else text, 300)
    return out


def rechecking(message_blocks: Sequence[dict[str, Any]], block_id: str, note: str) -> list[dict[str, Any]]:
    """The message as it is, with the clicked button row replaced by a "Rechecking…" line."""
    line = {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(escape(note), CONTEXT_TEXT)}]}
    out = [line if b.get("type") == "actions" and b.get("block_id") == block_id else dict(b)
           for b in message_blocks]
    return out if line in out else [*out[: MAX_MESSAGE_BLOCKS - 1], line]
