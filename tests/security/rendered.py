"""Checks on rendered messages, shared by the fuzz and injection tests.

Slack: Block Kit within the limits of `block_kit_limits.json`, accepted by slack_sdk's models, and no text
object holding one of mrkdwn's control characters unescaped (so no `<!channel>`, `<@U…>` or `<url|label>`).
Teams: Adaptive Card 1.5 by the published schema, under the size limit, and no markdown link in any text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack import render as slack_render
from adapters.teams import render as teams_render
from chatops.chat import Reply
from tests.shared import CONFORMANCE

LIMITS = {row["item"]: row["limit"] for row in json.loads(
    (CONFORMANCE / "slack" / "block_kit_limits.json").read_text())["limits"]}
ADAPTIVE_SCHEMA = json.loads((CONFORMANCE / "teams" / "adaptive-card.schema.v1.5.json").read_text())
ADAPTIVE = jsonschema.Draft6Validator(ADAPTIVE_SCHEMA)
WS = "teams:0d0d0d0d-0000-4000-8000-000000000000"

_ENTITY = re.compile(r"&(?:amp|lt|gt);")
# A markdown link Teams would render: [label](target) where neither bracket is escaped with a backslash.
_MARKDOWN_LINK = re.compile(r"(?<!\\)\[[^\]]*(?<!\\)\]\s*\(")


def slack_texts(node: Any) -> Iterator[tuple[str, str]]:
    """(type, text) of every text object in Block Kit JSON."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield node["type"], node["text"]
        for value in node.values():
            yield from slack_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from slack_texts(value)


def assert_slack_text_is_inert(text: str) -> None:
    """No raw <, > and no & outside the three entities: Slack can't read a mention, a ping or a link in it."""
    assert "<" not in text and ">" not in text, text[:300]
    assert "&" not in _ENTITY.sub("", text), text[:300]


def assert_valid_blocks(blocks: list[dict[str, Any]], *, limit: int | None = None) -> None:
    """Every block parses and validates in slack_sdk, and stays within Slack's documented limits."""
    assert len(blocks) <= (limit or LIMITS["blocks per message"])
    for b in blocks:
        parsed = Block.parse(b)
        assert parsed is not None, b
        parsed.to_dict()  # slack_sdk's validators raise SlackObjectFormationError
        if b["type"] == "section":
            if "text" in b:
                assert len(b["text"]["text"]) <= LIMITS["section.text length"]
            assert len(b.get("fields", [])) <= LIMITS["section.fields item count"]
            for field in b.get("fields", []):
                assert len(field["text"]) <= LIMITS["section.fields[*].text length"]
        if b["type"] == "header":
            assert 0 < len(b["text"]["text"]) <= LIMITS["header.text length (plain_text)"]
        if b["type"] == "context":
            assert len(b["elements"]) <= LIMITS["context.elements count"]
        if b["type"] == "actions":
            assert len(b["elements"]) <= LIMITS["actions.elements count"]
            for element in b["elements"]:
                assert 0 < len(element["text"]["text"]) <= LIMITS["button.text length (plain_text)"]
                assert len(element["value"]) <= LIMITS["button.value length"]
                assert len(element["action_id"]) <= LIMITS["action_id length (any interactive element)"]
                assert len(element.get("url", "")) <= LIMITS["button.url length"]
    for _, text in slack_texts(blocks):
        assert_slack_text_is_inert(text)


def assert_valid_slack_reply(reply: Reply) -> dict[str, Any]:
    """The message body for chat.postMessage / response_url, and the Details modal, both valid and inert."""
    body = slack_render.response(reply)
    assert isinstance(body["text"], str) and body["text"]
    assert len(body["text"]) <= slack_render.MESSAGE_TEXT
    assert_slack_text_is_inert(body["text"])
    assert_valid_blocks(body.get("blocks", []))
    view = slack_render.modal(reply)
    View(**view).to_dict()
    assert_valid_blocks(view["blocks"], limit=slack_render.MAX_VIEW_BLOCKS)
    assert len(view["title"]["text"]) <= LIMITS["view.title length"]
    return body


def teams_texts(node: Any) -> Iterator[str]:
    """Every text a Teams client renders as markdown: TextBlock text and FactSet titles and values."""
    if isinstance(node, dict):
        if node.get("type") == "TextBlock" and isinstance(node.get("text"), str):
            yield node["text"]
        if node.get("type") == "FactSet":
            for fact in node.get("facts", []):
                yield fact["title"]
                yield fact["value"]
        for value in node.values():
            yield from teams_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from teams_texts(value)


def assert_teams_text_is_inert(text: str) -> None:
    assert not _MARKDOWN_LINK.search(text), text[:300]
    assert "{{" not in text, text[:300]  # {{DATE()}} / {{TIME()}} card functions


def assert_valid_teams_reply(reply: Reply, workspace_id: str = WS) -> dict[str, Any]:
    """The Adaptive Card validates against the 1.5 schema, the activity fits Teams' limit, texts are inert."""
    activity = teams_render.activity(reply, workspace_id)
    assert teams_render.message_size(activity) <= teams_render.MAX_MESSAGE_BYTES
    if reply.card is None:
        return {}
    card = teams_render.adaptive_card(reply.card, workspace_id)
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in ADAPTIVE.iter_errors(card)]
    assert not errors, errors[:5]
    assert card["version"] == "1.5"
    for text in teams_texts(card):
        assert_teams_text_is_inert(text)
    invoke = teams_render.invoke_body(teams_render.invoke_response(reply, workspace_id))
    assert invoke["statusCode"] == 200
    return card
