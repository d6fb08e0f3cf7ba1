"""render.py: Card -> Block Kit, within Slack's limits, escaped, with button values that round-trip through parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack import parse, render
from chatops.cards import Button, Buttons, Card, Facts, Header, Line, Note, Steps, report_card
from chatops.chat import ChatUser, Reply
from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, Provider
from chatops.report import Report
from tests.shared import CONFORMANCE

LIMITS = {row["item"]: row["limit"] for row in json.loads(
    (CONFORMANCE / "slack" / "block_kit_limits.json").read_text())["limits"]}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def connection(n: int, name: str = "") -> Connection:
    return Connection(id=f"c{n}", workspace_id="slack:T1", name=name or f"conn-{n}", owner_email=f"u{n}@acme.example",
                      crm=Provider.SALESFORCE, crm_user_email=f"u{n}@acme.example", mailbox_provider=Provider.GOOGLE,
                      mailbox_email=f"u{n}@acme.example")


def broken(c: Connection, summary: str = "Gmail token was revoked.") -> list[Finding]:
    return [Finding("credentials", c.id, Status.FAIL, Cause.CREDENTIALS, summary,
                    evidence=(Evidence("token endpoint", "400 invalid_grant"),),
                    remedy=("Click Reconnect.", "Sign in with the mailbox account."),
                    actions=(Action(ActionKind.RECONNECT, "Reconnect Gmail", f"{c.id}:mail"),)),
            Finding("network", c.id, Status.OK, Cause.NETWORK, "All hosts answer.")]


def assert_valid_message(blocks: list[dict]) -> None:
    assert len(blocks) <= LIMITS["blocks per message"]
    for b in blocks:
        parsed = Block.parse(b)
        assert parsed is not None
        parsed.to_dict()  # slack_sdk's validators
        if b["type"] == "section" and "text" in b:
            assert len(b["text"]["text"]) <= LIMITS["section.text length"]
        for field in b.get("fields", []):
            assert len(field["text"]) <= LIMITS["section.fields[*].text length"]
        for element in b.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= LIMITS["button.text length (plain_text)"]
                assert len(element["value"]) <= LIMITS["button.value length"]
                assert len(element["action_id"]) <= LIMITS["action_id length (any interactive element)"]


def test_a_broken_connection_card_shows_status_summary_evidence_steps_and_buttons() -> None:
    c = connection(1, "ana-salesforce-gmail")
    card = report_card(Report.build([c], broken(c), NOW, NOW), link=lambda conn, target, viewer: f"https://x.example/r/{target}")

    body = render.message(Reply("1 of 1 connection(s) need attention.", card=card))

    blocks = body["blocks"]
    assert_valid_message(blocks)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Sync status: ana-salesforce-gmail",
                                                    "emoji": True}}
    texts = [json.dumps(b) for b in blocks]
    assert any(":x: Gmail token was revoked." in t for t in texts)
    assert any("token endpoint: 400 invalid_grant" in t for t in texts)
    assert any("1. Click Reconnect.\\n2. Sign in with the mailbox account." in t for t in texts)
    [actions] = [b for b in blocks if b["type"] == "actions"]
    labels = [(e["text"]["text"], e.get("url"), e.get("style")) for e in actions["elements"]]
    assert labels == [("Reconnect Gmail", "https://x.example/r/c1:mail", "primary"), ("Retest", None, None),
                      ("Details", None, None), ("Snooze alerts", None, None)]
    assert body["text"] == "1 of 1 connection(s) need attention."


def test_text_from_names_and_log_lines_cannot_mention_or_link() -> None:
    hostile = "<!channel> ping & <https://evil.example|your bank> <@U0ADMIN>"
    card = Card(hostile, (Header(hostile), Line(hostile, status=Status.WARN, bold=True), Facts(((hostile, hostile),)),
                          Steps((hostile,)), Note(hostile), Buttons((Button(hostile, ActionKind.RETEST, "c1"),))))

    body = render.message(Reply(hostile, card=card))

    raw = json.dumps(body)
    assert "<" not in raw and ">" not in raw
    assert "&lt;!channel&gt; ping &amp; &lt;https://evil.example|your bank&gt;" in raw
    assert body["text"].startswith("&lt;!channel&gt;")


def test_escaping_never_breaks_an_entity_when_clipped() -> None:
    text = "x" * 2998 + "<<<<"
    [section] = render.message(Reply("t", card=Card("t", (Line(text),))))["blocks"]
    assert len(section["text"]["text"]) <= 3000
    assert section["text"]["text"].endswith("x…")


def test_long_texts_are_clipped_to_slack_limits_and_still_validate() -> None:
    long = "y" * 10_000
    card = Card("t", (Header(long), Line(long), Facts(tuple((long, long) for _ in range(23))), Steps((long,) * 9),
                      Note(long), Buttons(tuple(Button(long, ActionKind.RETEST, f"c{i}") for i in range(5)))))
    blocks = render.message(Reply(long, card=card))["blocks"]
    assert_valid_message(blocks)
    assert len(blocks[0]["text"]["text"]) == LIMITS["header.text length (plain_text)"]
    assert [len(b["fields"]) for b in blocks if "fields" in b] == [10, 10, 3]


def test_more_blocks_than_a_message_holds_end_with_a_pointer_to_details() -> None:
    card = Card("t", tuple(Line(f"line {i}") for i in range(80)))
    blocks = render.message(Reply("t", card=card))["blocks"]
    assert len(blocks) == LIMITS["blocks per message"]
    assert "Details" in blocks[-1]["elements"][0]["text"]


def test_an_overview_of_many_connections_pages_within_the_block_limit() -> None:
    conns = [connection(i) for i in range(40)]
    report = Report.build(conns, [f for c in conns for f in broken(c, f"Broken {c.id} <x>")], NOW, NOW)
    for page in (1, 2, 5):
        blocks = render.message(Reply("t", card=report_card(report, page=page)))["blocks"]
        assert_valid_message(blocks)
        assert any(f"Page {page} of 5" in json.dumps(b) for b in blocks)


@pytest.mark.parametrize("kind", list(ActionKind))
def test_button_values_round_trip_through_parse(kind: ActionKind) -> None:
    url = "https://x.example/r" if kind in (ActionKind.RECONNECT, ActionKind.OPEN_URL) else ""
    button = Button("Go", kind, "c-42:calendar", value="7d", url=url)
    element = render.button(button, 3).to_dict()
    body = {"type": "block_actions", "team": {"id": "T9"}, "user": {"id": "U1", "team_id": "T9"},
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1"}, "response_url": "https://r",
            "actions": [{"action_id": element["action_id"], "block_id": "b", "value": element["value"]}]}

    request = parse.action_request(body, ChatUser("slack", "U1"))

    assert request is not None
    assert (request.kind, request.target, request.value, request.workspace_id) == (kind, "c-42:calendar", "7d",
                                                                                   "slack:T9")
    assert parse.decode_link(element["value"]) is bool(url)
    assert render.action_pattern(kind).match(element["action_id"])


def test_a_button_value_too_long_for_slack_is_refused_here_not_by_slack() -> None:
    with pytest.raises(ValueError, match="button value"):
        render.button(Button("Go", ActionKind.RETEST, "c" * 2100), 0)


def test_modal_and_home_views_validate() -> None:
    c = connection(1)
    card = report_card(Report.build([c], broken(c), NOW, NOW))
    modal = render.modal(Reply("Details", card=card))
    home = render.home([card, card])
    for view in (modal, home):
        View(**view).to_dict()
        assert len(view["blocks"]) <= LIMITS["blocks per modal / Home tab view"]
    assert modal["title"]["text"] == "Details" and modal["type"] == "modal"
    assert home["type"] == "home"
    assert any("invalid_grant" in json.dumps(b) for b in modal["blocks"])


def test_rechecking_replaces_only_the_clicked_row() -> None:
    blocks = render.message(Reply("t", card=Card("t", (Line("a"), Buttons((Button("Retest", ActionKind.RETEST, "c1"),)),
                                                         Line("b"), Buttons((Button("Retest", ActionKind.RETEST,
                                                                                    "c2"),))))))["blocks"]
    second = blocks[3]["block_id"]

    out = render.rechecking(blocks, second, "Rechecking… <@U1>")

    assert out[:3] == blocks[:3]
    assert out[3] == {"type": "context", "elements": [{"type": "mrkdwn", "text": "Rechecking… &lt;@U1&gt;"}]}
    assert render.rechecking([], "", "Rechecking…")[-1]["type"] == "context"
