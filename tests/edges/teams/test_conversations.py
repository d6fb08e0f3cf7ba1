"""Conversation references in the store (SQLite, and PostgreSQL when configured): scoped, upserted, deactivated."""

from __future__ import annotations

import pytest

from chatops.model import Workspace
from chatops.store import Store
from chatops.store.conversations import ConversationRef, Conversations

A, B = "teams:tenant-a", "teams:tenant-b"


def ref(workspace: str, conversation: str, kind: str = "channel", **kw: str) -> ConversationRef:
    return ConversationRef(workspace_id=workspace, conversation_id=conversation, platform="teams", kind=kind,
                           service_url="https://smba.trafficmanager.net/amer/",
                           reference={"conversation": {"id": conversation}}, **kw)


@pytest.fixture
def conversations(store: Store) -> Conversations:
    for ws in (A, B):
        store.ensure_workspace(Workspace(ws, ws, "teams", ws.split(":")[1]))
    return Conversations(store.engine)


def test_a_reference_is_kept_per_workspace_and_refreshed_in_place(conversations: Conversations) -> None:
    conversations.save(ref(A, "19:general", team_id="19:team", name="General"))
    conversations.save(ref(B, "19:general"))
    newer = ConversationRef(A, "19:general", "teams", "channel", "https://smba.trafficmanager.net/emea/",
                            {"conversation": {"id": "19:general"}, "serviceUrl": "emea"}, team_id="19:team")
    conversations.save(newer)

    [kept] = conversations.list(A)
    assert kept.service_url == "https://smba.trafficmanager.net/emea/"
    assert kept.name == "General"  # an update without the name keeps it
    assert [r.workspace_id for r in conversations.list(B)] == [B]
    assert conversations.get(B, "19:other") is None


def test_personal_chats_are_found_by_member(conversations: Conversations) -> None:
    conversations.save(ref(A, "a:ana", kind="personal", user_id="aad-ana"))

    found = conversations.personal(A, "aad-ana")
    assert found is not None and found.conversation_id == "a:ana"
    assert conversations.personal(B, "aad-ana") is None


def test_removing_the_bot_from_a_team_deactivates_its_channels_only_there(conversations: Conversations) -> None:
    conversations.save(ref(A, "19:general", team_id="19:team"))
    conversations.save(ref(A, "19:sales", team_id="19:team"))
    conversations.save(ref(A, "a:ana", kind="personal", user_id="aad-ana"))
    conversations.save(ref(B, "19:general", team_id="19:team"))

    assert conversations.deactivate(A, team_id="19:team") == 2

    assert [r.conversation_id for r in conversations.list(A)] == ["a:ana"]
    assert len(conversations.list(A, active_only=False)) == 3
    assert len(conversations.list(B)) == 1
    conversations.save(ref(A, "19:general", team_id="19:team"))  # reinstalled
    assert {r.conversation_id for r in conversations.list(A, kind="channel")} == {"19:general"}


def test_redelivered_activities_are_recognised(store: Store, conversations: Conversations) -> None:
    assert store.remember_event(A, "teams:a:ana:1") is True
    assert store.remember_event(A, "teams:a:ana:1") is False
    assert store.remember_event(B, "teams:a:ana:1") is True


def test_unknown_kinds_are_refused(conversations: Conversations) -> None:
    with pytest.raises(ValueError):
        conversations.save(ref(A, "x", kind="meeting"))
