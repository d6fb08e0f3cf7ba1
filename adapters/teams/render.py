"""Card -> Adaptive Card 1.5 (Action.Execute with Action.Submit fallback, Action.OpenUrl, Action.ShowCard)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Final

from botbuilder.schema import (  # type: ignore[import-untyped]
    Activity,
    ActivityTypes,
    AdaptiveCardInvokeResponse,
    Attachment,
)

from adapters.teams.parse import ACTION_MARK, VERB_PREFIX
from chatops.cards import Block as CardBlock
from chatops.cards import Button, Buttons, Card, Divider, Facts, Header, Line, Note, Steps
from chatops.chat import Reply
from chatops.findings import ActionKind, Status

CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
MESSAGE_TYPE: Final = "application/vnd.microsoft.activity.message"
ERROR_TYPE: Final = "application/vnd.microsoft.error"
SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION: Final = "1.5"  # the newest Teams renders, and the one Universal Actions need
# Teams refuses bigger messages (413 MessageSizeTooBig). Its docs said 40 KB counted in UTF-16, now ~100 KB;
# staying under the older, smaller figure keeps every client and region safe.
MAX_MESSAGE_BYTES: Final = 40_000
MAX_TEXT: Final = 2000
ENVELOPE_BYTES: Final = 1000  # an activity's fields besides its summary and card, with room to spare
TRIMMED: Final = "Some lines were left out to fit Teams' message size; use Details or `syncstatus logs` for all."
_STATUS_ICON: Final = {Status.OK: "✅", Status.WARN: "⚠️", Status.FAIL: "❌", Status.ERROR: "❔",
                       Status.SKIPPED: "⚪"}
_STATUS_COLOR: Final = {Status.OK: "Good", Status.WARN: "Warning", Status.FAIL: "Attention",
                        Status.ERROR: "Warning", Status.SKIPPED: "Default"}
_MARKDOWN: Final = re.compile(r"([\\`*_\[\]~])")  # what Teams' card markdown acts on
_BRACES: Final = re.compile(r"\{(?=\{)")  # every "{" before another, so no "{{" survives ("{{{" included)
_LINE_START: Final = re.compile(r"^(\s*)(\d+)([.)])(\s)|^(\s*)([-+])(\s)", re.MULTILINE)


def escape(text: str, limit: int = MAX_TEXT) -> str:
    """Plain text for a TextBlock: markdown can't make a link, emphasis or list out of a name or a log line."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: (f"{m[1]}{m[2]}\\{m[3]}{m[4]}" if m[2] else f"{m[5]}\\{m[6]}{m[7]}"), text)
    return _BRACES.sub("{\u200b", text)  # {{DATE(...)}} and {{TIME(...)}} are card functions


# ---------------------------------------------------------------- actions


def action_data(button: Button, workspace_id: str) -> dict[str, Any]:
    """What an action carries back to parse.card_action: marker, kind, target, value, workspace."""
    return {ACTION_MARK: 1, "kind": button.kind.value, "t": button.target, "v": button.value, "ws": workspace_id}


def execute(button: Button, workspace_id: str) -> dict[str, Any]:
    """Action.Execute (an adaptiveCard/action invoke), falling back to Action.Submit on older clients."""
    data = action_data(button, workspace_id)
    verb = VERB_PREFIX + button.kind.value
    return {"type": "Action.Execute", "title": button.label, "verb": verb, "data": data,
            "fallback": {"type": "Action.Submit", "title": button.label, "data": {**data, "verb": verb}}}


def action(button: Button, workspace_id: str, details: Sequence[CardBlock] = ()) -> dict[str, Any] | None:
    if button.kind in (ActionKind.RECONNECT, ActionKind.OPEN_URL):
        if not button.url.startswith("https://") and not button.url.startswith("http://"):
            return None  # no signed link configured: the remedy steps say what to do instead
        return {"type": "Action.OpenUrl", "title": button.label, "url": button.url}
    if button.kind is ActionKind.DETAILS and details:
        return {"type": "Action.ShowCard", "title": button.label,
                "card": {"type": "AdaptiveCard", "body": elements(details, workspace_id)}}
    return execute(button, workspace_id)


# ---------------------------------------------------------------- body


def elements(blocks: Sequence[CardBlock], workspace_id: str, details: Sequence[CardBlock] = ()) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    separate = False
    for block in blocks:
        if isinstance(block, Divider):
            separate = True
            continue
        rendered = _element(block, workspace_id, details)
        if rendered is None:
            continue
        if separate:
            rendered["separator"] = True
            rendered["spacing"] = "Medium"
            separate = False
        out.append(rendered)
    return out


def _element(block: CardBlock, workspace_id: str, details: Sequence[CardBlock]) -> dict[str, Any] | None:
    if isinstance(block, Header):
        return {"type": "TextBlock", "text": escape(block.text, 200), "size": "Large", "weight": "Bolder",
                "wrap": True, "style": "heading"}
    if isinstance(block, Line):
        text = escape(block.text)
        element: dict[str, Any] = {"type": "TextBlock", "wrap": True}
        if block.status is not None:
            text = f"{_STATUS_ICON[block.status]} {text}"
            if block.status in (Status.FAIL, Status.WARN):
                element["color"] = _STATUS_COLOR[block.status]
        if block.bold:
            element["weight"] = "Bolder"
        element["text"] = text
        return element
    if isinstance(block, Facts):
        if not block.pairs:
            return None
        return {"type": "FactSet", "facts": [{"title": escape(label, 200), "value": escape(value)}
                                             for label, value in block.pairs]}
    if isinstance(block, Steps):
        if not block.items:
            return None
        # one block, "1. ..." lines: a real numbered list in Teams' markdown (the step text itself is escaped)
        text = "\n".join(f"{n}. {escape(step, 600)}" for n, step in enumerate(block.items, start=1))
        return {"type": "TextBlock", "text": text, "wrap": True, "spacing": "Small"}
    if isinstance(block, Note):
        return {"type": "TextBlock", "text": escape(block.text), "wrap": True, "isSubtle": True, "size": "Small",
                "spacing": "Small"}
    if isinstance(block, Buttons):
        actions = [a for a in (action(b, workspace_id, details) for b in block.buttons) if a is not None]
        return {"type": "ActionSet", "actions": actions} if actions else None
    raise TypeError(f"unknown card block {type(block).__name__}")


def _size(payload: Any) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-16-le"))


def adaptive_card(card: Card, workspace_id: str, *, limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The card's JSON, fitted under `limit` (details become a Details button first, then the tail goes)."""
    rendered = _card(card, workspace_id, card.details)
    if _size(rendered) <= limit:
        return rendered
    rendered = _card(card, workspace_id, ())  # Details fetched on demand instead of inlined
    if _size(rendered) <= limit:
        return rendered
    body = rendered["body"]
    note = {"type": "TextBlock", "text": escape(TRIMMED), "wrap": True, "isSubtle": True, "size": "Small"}
    while len(body) > 1 and _size(rendered) + _size(note) > limit:
        body.pop()
    body.append(note)
    return rendered


def _card(card: Card, workspace_id: str, details: Sequence[CardBlock]) -> dict[str, Any]:
    body = elements(card.blocks, workspace_id, details)
    if not body:
        body = [{"type": "TextBlock", "text": escape(card.title, 200), "wrap": True, "weight": "Bolder"}]
    return {"$schema": SCHEMA, "type": "AdaptiveCard", "version": VERSION, "fallbackText": escape(card.title, 200),
            "body": body}


# ---------------------------------------------------------------- activities and invoke responses


def attachment(card: Card, workspace_id: str, *, limit: int = MAX_MESSAGE_BYTES) -> Attachment:
    return Attachment(content_type=CONTENT_TYPE, content=adaptive_card(card, workspace_id, limit=limit))


def activity(reply: Reply, workspace_id: str) -> Activity:
    """A message activity: the card with the text as its notification summary, or the text alone."""
    if reply.card is None:
        return Activity(type=ActivityTypes.message, text=reply.text[:MAX_TEXT * 2], text_format="plain")
    summary = reply.text[:MAX_TEXT]
    # Teams counts the whole activity: the card gets what the summary and the envelope leave of the limit
    room = MAX_MESSAGE_BYTES - _size(summary) - ENVELOPE_BYTES
    return Activity(type=ActivityTypes.message, summary=summary,
                    attachments=[attachment(reply.card, workspace_id, limit=room)])


def invoke_response(reply: Reply, workspace_id: str) -> AdaptiveCardInvokeResponse:
    """adaptiveCard/action answer: a card replaces the clicked one for the clicker; text shows as a message."""
    if reply.card is None:
        return AdaptiveCardInvokeResponse(status_code=200, type=MESSAGE_TYPE, value=reply.text)
    return AdaptiveCardInvokeResponse(status_code=200, type=CONTENT_TYPE,
                                      value=adaptive_card(reply.card, workspace_id))


def invoke_error(status: int, code: str, message: str) -> AdaptiveCardInvokeResponse:
    return AdaptiveCardInvokeResponse(status_code=status, type=ERROR_TYPE, value={"code": code, "message": message})


def invoke_body(response: AdaptiveCardInvokeResponse) -> dict[str, Any]:
    """The JSON Teams reads: {statusCode, type, value}."""
    return {"statusCode": response.status_code, "type": response.type, "value": response.value}


def message_size(act: Activity) -> int:
    """UTF-16 bytes of the activity as sent (what Teams' size limit counts)."""
    return _size(act.serialize())
