"""Activities -> core requests, on the real shapes in shared/conformance/teams/ (docs and teams.net fixtures)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.teams import parse
from chatops.findings import ActionKind
from tests.shared import CONFORMANCE

TEAMS = CONFORMANCE / "teams"


def load(name: str) -> dict[str, Any]:
    return json.loads((TEAMS / name).read_text())


def test_the_documented_personal_message_parses_into_its_tenants_workspace() -> None:
    act = parse.activity(load("message_activity.personal.docs_example.json"))

    assert parse.tenant_id(act) == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert parse.workspace_id(parse.tenant_id(act)) == "teams:72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert parse.conversation_kind(act) == "personal"
    assert parse.user_id(act) == "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"
    assert parse.command_text(act) is None  # "Hello Teams TestBot" is not a command


def test_a_channel_mention_is_stripped_and_the_thread_root_kept() -> None:
    body = load("message_activity.channel_mention.teams_net_fixture.json")
    body["text"] = "<at>ridotest</at> syncstatus all"
    act = parse.activity(body)

    assert parse.command_text(act) == "all"
    ref = parse.reference(act)
    assert ref.kind == "channel"
    assert ref.conversation_id == "19:6848757105754c8981c67612732d9aa7@thread.tacv2"
    assert ref.team_id == "19:66P469zibfbsGI-_a0aN_toLTZpyzS6u7CT3TsXdgPw1@thread.tacv2"
    assert ref.reference["conversation"]["tenantId"] == "50612dbb-0237-4969-b378-8d42590f9c00"
    assert "activityId" not in ref.reference  # proactive posts start new threads


def test_the_reference_matches_the_documented_derivation() -> None:
    act = parse.activity(load("message_activity.personal.docs_example.json"))
    expected = load("conversation_reference.derived_from_docs_example.json")

    ref = parse.reference(act).reference

    for key in ("user", "bot", "channelId", "serviceUrl"):
        assert ref[key] == expected[key]
    assert ref["conversation"]["id"] == expected["conversation"]["id"]
    assert ref["conversation"]["tenantId"] == expected["conversation"]["tenantId"]


@pytest.mark.parametrize(("text", "expected"), [
    ("syncstatus", ""), ("SyncStatus all", "all"), ("/syncstatus help", "help"), ("syncstatus:  ana-gmail ", "ana-gmail"),
    ("syncstatusx", None), ("please syncstatus", None), ("<p>syncstatus&nbsp;logs ana</p>", "logs ana"),
])
def test_command_words(text: str, expected: str | None) -> None:
    body = load("message_activity.personal.docs_example.json")
    body["text"] = text

    assert parse.command_text(parse.activity(body)) == expected


def test_mentioned_people_become_their_emails() -> None:
    body = load("message_activity.channel_mention.teams_net_fixture.json")
    body["text"] = "<at>ridotest</at> syncstatus <at>Ana Ruiz</at>"
    body["entities"].append({"type": "mention", "text": "<at>Ana Ruiz</at>", "mentioned": {"id": "29:ana",
                                                                                          "name": "Ana Ruiz"}})
    act = parse.activity(body)

    assert parse.command_text(act, {"29:ana": "ana@acme.example"}) == "ana@acme.example"
    assert parse.command_text(act) == "@Ana Ruiz"


def test_the_teams_net_invoke_is_an_action_execute_but_not_ours() -> None:
    act = parse.activity(load("invoke.adaptiveCard_action.personal.teams_net_fixture.json"))

    with pytest.raises(parse.BadAction, match="not one of chatops'"):
        parse.invoke_action(act)


def test_our_invoke_becomes_an_action_request_about_the_clicked_message() -> None:
    body = load("invoke.adaptiveCard_action.personal.teams_net_fixture.json")
    ws = "teams:56653e9d-2158-46ee-90d7-675c39642038"
    body["value"]["action"].update(verb="chatops.retest", data={"chatops": 1, "kind": "retest", "t": "c_1",
                                                                "v": "", "ws": ws})
    act = parse.activity(body)

    action = parse.invoke_action(act)
    from chatops.chat import ChatUser

    request = parse.action_request(act, ChatUser("teams", "u"), action)
    assert (request.kind, request.target, request.workspace_id) == (ActionKind.RETEST, "c_1", ws)
    assert request.message is not None and request.message.message_id == "1767765488332"


@pytest.mark.parametrize("body", [None, [], "x", {"type": ""}, {"type": "message"},
                                  {"type": "message", "conversation": {"id": "a"}},
                                  {"type": "message", "conversation": {"id": "a"}, "serviceUrl": "javascript:x"},
                                  {"type": "message", "conversation": {"id": "a"}, "serviceUrl": "https://x/",
                                   "entities": "nope"}])
def test_malformed_activities_are_refused(body: Any) -> None:
    with pytest.raises(parse.BadActivity):
        parse.activity(body)


def test_two_different_tenants_in_one_activity_are_refused() -> None:
    body = load("message_activity.channel_mention.teams_net_fixture.json")
    body["conversation"]["tenantId"] = "11111111-1111-4111-8111-111111111111"

    with pytest.raises(parse.BadActivity, match="two different tenants"):
        parse.tenant_id(parse.activity(body))


def test_roster_members_accept_object_id_or_aad_object_id_and_fall_back_to_the_upn() -> None:
    from botbuilder.schema.teams import TeamsChannelAccount

    account = TeamsChannelAccount().deserialize({"id": "29:x", "name": "Larry Brown", "objectId": "9d3e08f9",
                                                 "userPrincipalName": "Labrown@Fabrikam.com", "userRole": "user"})
    member = parse.TeamsMember.from_account(account)

    assert member.aad_object_id == "9d3e08f9"
    assert member.email == "labrown@fabrikam.com"
