"""parse.py on Slack's documented payloads: who asked, in which workspace, about what."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from adapters.slack import parse
from chatops.chat import ChatUser
from tests.shared import CONFORMANCE

SLACK = CONFORMANCE / "slack"
USERS_INFO = {  # provider-apis.md §6, users.info
    "id": "W012A3CDE", "team_id": "T012AB3C4", "name": "spengler", "deleted": False, "real_name": "Egon Spengler",
    "profile": {"real_name": "Egon Spengler", "display_name": "spengler",
                "email": "Spengler@Ghostbusters.example.com", "team": "T012AB3C4"},
    "is_admin": True, "is_owner": False, "is_primary_owner": False, "is_bot": False, "is_app_user": False,
}


def form(name: str) -> dict[str, str]:
    return dict(parse_qsl((SLACK / name).read_text(), keep_blank_values=True))


def test_the_documented_slash_command_becomes_a_request_scoped_to_its_team() -> None:
    command = form("slash_command.docs_example.form.txt")
    user = ChatUser("slack", command["user_id"], email="steve@example.com")

    request = parse.command_request(command, user, {})

    assert (request.workspace_id, request.text, request.channel_id) == ("slack:T0001", "94070", "C2147483705")
    assert request.user is user


def test_mentions_become_emails_before_the_core_sees_the_text() -> None:
    command = {"team_id": "T1", "text": " <@U0ANA|ana>  and <@W0BEN> <@U0GHOST|ghost> ", "channel_id": "C1"}
    assert parse.mentioned_users(command["text"]) == ["U0ANA", "W0BEN", "U0GHOST"]

    request = parse.command_request(command, ChatUser("slack", "U1"), {"U0ANA": "ana@acme.example",
                                                                       "W0BEN": "ben@acme.example"})

    assert request.text == "ana@acme.example  and ben@acme.example @ghost"


def test_users_info_gives_email_name_and_admin() -> None:
    found = parse.SlackUser.from_api(USERS_INFO)

    assert (found.email, found.name, found.is_admin) == ("spengler@ghostbusters.example.com", "spengler", True)
    assert parse.chat_user("W012A3CDE", found) == ChatUser("slack", "W012A3CDE", "spengler@ghostbusters.example.com",
                                                           "spengler", True)


def test_owners_and_configured_admins_are_admins_and_nobody_else_is() -> None:
    member = parse.SlackUser.from_api({**USERS_INFO, "is_admin": False})
    owner = parse.SlackUser.from_api({**USERS_INFO, "is_admin": False, "is_owner": True})
    assert not parse.chat_user("W1", member).is_admin
    assert parse.chat_user("W1", owner).is_admin
    assert parse.chat_user("W1", member, frozenset({"W1"})).is_admin
    assert parse.chat_user("W1", member, frozenset({"spengler@ghostbusters.example.com"})).is_admin
    assert not parse.chat_user("W1", parse.SlackUser.from_api({**USERS_INFO, "deleted": True})).is_admin
    # users.info failed: no email, and only the configured list can make an admin
    assert parse.chat_user("W1", None) == ChatUser("slack", "W1")


def test_without_the_email_scope_the_user_has_no_email() -> None:
    profile = {k: v for k, v in USERS_INFO["profile"].items() if k != "email"}
    assert parse.SlackUser.from_api({**USERS_INFO, "profile": profile}).email == ""


def test_a_button_that_is_not_ours_is_ignored() -> None:
    for name in ("block_actions.docs_example.payload.json", "block_actions.bolt_python_fixture.payload.json"):
        body = json.loads((SLACK / name).read_text())
        assert parse.action_request(body, ChatUser("slack", "U1")) is None
        assert parse.team_id(body) in ("T9TK3CUKW", "T111")


def test_where_a_clicked_button_lives() -> None:
    docs = json.loads((SLACK / "block_actions.docs_example.payload.json").read_text())
    ref = parse.message_ref(docs)
    assert ref is not None
    assert (ref.channel_id, ref.message_id, ref.response_url) == (
        "CBR2V3XEX", "1548261231.000200", "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209")
    assert parse.message_ref({"container": {"type": "view", "view_id": "V1"}}) is None


def test_events_name_their_team_and_their_dedupe_key() -> None:
    envelope = json.loads((SLACK / "event_callback.docs_example.reaction_added.json").read_text())
    assert (parse.team_id(envelope), parse.event_key(envelope)) == ("T123ABC456", "Ev123ABC456")
    home = {"event": json.loads((SLACK / "app_home_opened.docs_example.event.json").read_text())}
    assert parse.team_id(home) == "T123ABC456"


def test_garbage_button_values_decode_to_nothing() -> None:
    for value in ("", "not json", "[1]", '"text"', "null"):
        assert parse.decode_value(value) == ("", "")
        assert parse.decode_link(value) is False
