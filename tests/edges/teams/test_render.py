"""Every card the bot can produce is a valid Adaptive Card 1.5, fits Teams' size limit, and round-trips its actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from botbuilder.schema import Activity

from adapters.teams import parse, render
from chatops.cards import Button, Buttons, Card, Facts, Header, Line, Note, Steps, report_card, text_card
from chatops.chat import Reply
from chatops.commands import COMMANDS
from chatops.commands.help import help_reply
from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, Provider
from chatops.report import Report
from tests.shared import CONFORMANCE

TEAMS = CONFORMANCE / "teams"
SCHEMA = json.loads((TEAMS / "adaptive-card.schema.v1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)
WS = "teams:0d0d0d0d-0000-4000-8000-000000000000"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def connection(n: int) -> Connection:
    return Connection(id=f"c_{n:010d}", workspace_id=WS, name=f"rep-{n}-salesforce-gmail", owner_email="a@x.example",
                      crm=Provider.SALESFORCE, crm_user_email=f"rep{n}@acme.example", mailbox_provider=Provider.GOOGLE,
                      mailbox_email=f"rep{n}@acme.example", calendar_provider=Provider.GOOGLE)


def finding(c: Connection, status: Status, *, long: bool = False) -> Finding:
    filler = " and the sync log repeats it" * (60 if long else 0)
    return Finding(
        check="credentials", connection_id=c.id, status=status, cause=Cause.CREDENTIALS,
        summary=f"Gmail access for {c.mailbox_email} was revoked (password change){filler}.",
        evidence=tuple(Evidence(f"token endpoint {i}", "400 invalid_grant: *Token* [has] been_expired" + filler)
                       for i in range(4 if long else 1)),
        remedy=("Click Reconnect and sign in.", "1. Then press Retest" + filler),
        actions=(Action(ActionKind.RECONNECT, "Reconnect Google", f"{c.id}:mail"),),
    )


def report(count: int, *, long: bool = False) -> Report:
    connections = [connection(n) for n in range(count)]
    findings = [finding(c, Status.FAIL if n % 2 else Status.OK, long=long) for n, c in enumerate(connections)]
    findings = [f if f.status is Status.FAIL else Finding("credentials", f.connection_id, Status.OK,
                                                          Cause.CREDENTIALS, "Works.") for f in findings]
    return Report.build(connections, findings, NOW, NOW)


def link(c: Connection, target: str, viewer: object = None) -> str:
    return f"https://chatops.example/r/{target}"


CARDS = {
    "one broken connection": report_card(Report.build([connection(1)], [finding(connection(1), Status.FAIL)], NOW, NOW),
                                         link=link),
    "one, no reconnect link": report_card(Report.build([connection(1)], [finding(connection(1), Status.FAIL)],
                                                       NOW, NOW)),
    "overview, page 1 of 3": report_card(report(20), link=link),
    "overview, last page": report_card(report(20), link=link, page=3),
    "huge findings": report_card(Report.build([connection(1)], [finding(connection(1), Status.FAIL, long=True)],
                                              NOW, NOW), link=link),
    "huge overview": report_card(report(8, long=True), link=link),
    "help": help_reply(COMMANDS, problem="Unknown word", suggestion="all").card,
    "text": text_card("Rechecking…", ["The result replaces this card when the check is done."]),
    "every block": Card("All", (Header("H"), Line("bold", status=Status.WARN, bold=True), Facts((("a", "b"),)),
                                Steps(("one", "two")), Note("note"), Buttons((Button("Page 2", ActionKind.PAGE,
                                                                                     value="2"),))),
                        details=(Line("detail"),)),
}


@pytest.mark.parametrize("name", list(CARDS))
def test_every_card_validates_against_the_adaptive_card_1_5_schema(name: str) -> None:
    card = CARDS[name]
    assert card is not None
    rendered = render.adaptive_card(card, WS)

    errors = sorted(VALIDATOR.iter_errors(rendered), key=lambda e: e.path)
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert rendered["version"] == "1.5"


@pytest.mark.parametrize("name", list(CARDS))
def test_every_message_stays_under_teams_size_limit(name: str) -> None:
    act = render.activity(Reply("summary", card=CARDS[name]), WS)

    assert render.message_size(act) <= render.MAX_MESSAGE_BYTES


def test_a_card_too_big_drops_details_first_then_says_lines_were_left_out() -> None:
    card = CARDS["huge findings"]
    roomy = render.adaptive_card(card, WS, limit=10**6)
    assert any(a["type"] == "Action.ShowCard" for e in roomy["body"] if e["type"] == "ActionSet"
               for a in e["actions"])

    tight = render.adaptive_card(card, WS, limit=12_000)
    assert render._size(tight) <= 12_000
    assert tight["body"][-1]["text"].startswith("Some lines were left out")
    assert VALIDATOR.is_valid(tight)


def test_text_is_escaped_so_names_cannot_make_links_or_lists() -> None:
    escaped = render.escape("[click](https://evil.example) *now* _x_ `code` 1. item {{DATE(2017-02-14T06:08:39Z)}}")

    assert "\\[click\\]" in escaped and "\\*now\\*" in escaped and "\\_x\\_" in escaped and "\\`code\\`" in escaped
    assert "{{" not in escaped
    assert render.escape("1. first").startswith("1\\.")
    assert render.escape("- dash").startswith("\\-")


def actions_of(rendered: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for e in rendered["body"] if e["type"] == "ActionSet" for a in e["actions"]]


def test_action_data_round_trips_through_parse_for_execute_and_submit() -> None:
    rendered = render.adaptive_card(CARDS["overview, page 1 of 3"], WS)
    executes = [a for a in actions_of(rendered) if a["type"] == "Action.Execute"]
    assert {a["verb"] for a in executes} >= {"chatops.retest", "chatops.details", "chatops.snooze", "chatops.page"}

    for action in executes:
        via_execute = parse.card_action(action["data"], action["verb"])
        via_submit = parse.card_action(action["fallback"]["data"], action["fallback"]["data"]["verb"])
        assert via_execute is not None and via_execute == via_submit
        assert via_execute.workspace_id == WS
        assert via_execute.kind.value == action["verb"].removeprefix("chatops.")


def test_foreign_or_tampered_data_is_not_ours() -> None:
    assert parse.card_action({"feedback": "test invokes"}) is None  # the teams.net fixture's data
    assert parse.card_action({"chatops": 1, "kind": "retest"}, "chatops.snooze") is None
    assert parse.card_action({"chatops": 1, "kind": "explode"}) is None
    assert parse.card_action({"chatops": 1, "kind": "retest", "t": "x" * 10_000}) is None


def test_reconnect_without_a_signed_link_is_left_out_not_a_dead_button() -> None:
    rendered = render.adaptive_card(CARDS["one, no reconnect link"], WS)

    assert "Reconnect Google" not in [a["title"] for a in actions_of(rendered)]


def test_invoke_responses_have_the_documented_shapes() -> None:
    card = render.invoke_body(render.invoke_response(Reply("x", card=CARDS["text"]), WS))
    text = render.invoke_body(render.invoke_response(Reply("Resync started."), WS))
    error = render.invoke_body(render.invoke_error(400, "BadRequest", "Missing action property"))

    for body, example in ((card, "card"), (text, "message"), (error, "error")):
        documented = json.loads((TEAMS / f"invoke_response.adaptiveCard_action.{example}.json").read_text())
        assert body.keys() == documented.keys()
        assert (body["statusCode"], body["type"]) == (documented["statusCode"], documented["type"])
    assert text == json.loads((TEAMS / "invoke_response.adaptiveCard_action.message.json").read_text())
    assert error == json.loads((TEAMS / "invoke_response.adaptiveCard_action.error.json").read_text())


def test_a_message_activity_carries_the_card_as_an_attachment_and_the_text_as_summary() -> None:
    act: Activity = render.activity(Reply("2 of 20 need attention", card=CARDS["help"]), WS)
    body = act.serialize()

    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert body["summary"] == "2 of 20 need attention"
    assert "text" not in body


def test_the_schema_check_is_real() -> None:
    sample = json.loads((TEAMS / "adaptive-card.example.v1.5.execute-with-submit-fallback.json").read_text())
    assert VALIDATOR.is_valid(sample)
    broken = render.adaptive_card(CARDS["text"], WS)
    broken["body"][0]["colour"] = "Good"
    assert not VALIDATOR.is_valid(broken)
