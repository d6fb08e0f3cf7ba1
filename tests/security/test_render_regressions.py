"""Regressions the fuzzer found in the renderers, pinned as plain examples."""

from __future__ import annotations

from adapters.teams import render as teams_render
from chatops.cards import Card, Header, finding_blocks
from chatops.chat import Reply
from chatops.findings import Cause, Evidence, Finding, Status
from tests.security.rendered import assert_valid_slack_reply, assert_valid_teams_reply


def test_a_teams_message_with_a_long_summary_and_a_full_card_stays_under_the_limit() -> None:
    # The card alone was fitted to the limit, then the summary and the envelope came on top (47 KB).
    worst = 0
    for count in (1, 5, 10, 15, 20, 25, 30, 39):
        findings = [Finding("synclog", "c1", Status.FAIL, Cause.OTHER, "a" * 300,
                            evidence=tuple(Evidence("line", "v" * 400) for _ in range(10))) for _ in range(count)]
        reply = Reply("\U00075009" * 3000, card=Card("Details", (Header("Details"), *finding_blocks(findings))))
        worst = max(worst, teams_render.message_size(teams_render.activity(reply, "teams:t1")))
        assert_valid_teams_reply(reply)
        assert_valid_slack_reply(reply)
    assert 30_000 < worst <= teams_render.MAX_MESSAGE_BYTES


def test_empty_texts_render_as_valid_blocks_not_text_less_objects() -> None:
    # slack_sdk drops an empty "text", and Slack refuses a text object without one (invalid_blocks)
    from chatops.cards import text_card

    for reply in (Reply("", card=text_card("", [""])), Reply("x", card=Card("", (Header(""),)))):
        body = assert_valid_slack_reply(reply)
        assert all("text" in b["text"] for b in body["blocks"] if "text" in b)
        assert_valid_teams_reply(reply)


def test_three_braces_cannot_rebuild_a_teams_card_function() -> None:
    # "{{" -> "{\u200b{" replaced pairs only: "{{{DATE(...)}}" kept a "{{DATE(" that Teams would evaluate
    for text in ("{{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "{{{{TIME(x)}}", "{" * 9):
        assert "{{" not in teams_render.escape(text)
        assert_valid_teams_reply(Reply(text, card=Card(text, (Header(text),))))
