"""What cards carry: Reconnect links bound to the card's viewer, a fresh one on request, the CRM's own page."""

from __future__ import annotations

from chatops.cards import Buttons, Card
from chatops.chat import ActionRequest, ChatUser
from chatops.findings import ActionKind
from tests.edges.reconnect.conftest import USERS, WORKSPACE, Rig
from tests.fakes.world import email


def buttons(card: Card | None) -> list:
    assert card is not None
    return [b for block in card.blocks if isinstance(block, Buttons) for b in block.buttons]


def user(local: str, *, admin: bool = False) -> ChatUser:
    return ChatUser("slack", USERS.get(local, local), email=email(local), is_admin=admin)


async def test_a_cards_reconnect_link_is_bound_to_whoever_the_card_is_for(rig: Rig) -> None:
    core, ana = rig.services.core, rig.connections["ana"]

    reply = await core.diagnosis_reply(WORKSPACE.id, [ana], viewer=user("ana"))
    unbound = await core.diagnosis_reply(WORKSPACE.id, [ana])

    [reconnect] = [b for b in buttons(reply.card) if b.kind is ActionKind.RECONNECT]
    assert reconnect.label == "Reconnect Google" and reconnect.url.startswith(f"{rig.url}/connect/")
    assert reconnect.value == reconnect.url  # Slack reports the click by value only
    links = core.reconnect.links  # type: ignore[union-attr]
    claims = links.open(links.token_in(reconnect.url))
    assert (claims.user_id, claims.connection_id, claims.workspace_id) == ("U0ANA", ana.id, WORKSPACE.id)
    assert [b.url for b in buttons(unbound.card) if b.kind is ActionKind.RECONNECT] == [""]  # nobody to bind to


async def test_a_reconnect_button_without_a_link_answers_with_a_link_of_ones_own(rig: Rig) -> None:
    core, ana = rig.services.core, rig.connections["ana"]
    target = f"{ana.id}:mail"

    mine = await core.handle_action(ActionRequest(WORKSPACE.id, user("ana"), ActionKind.RECONNECT, target))
    stranger = await core.handle_action(ActionRequest(WORKSPACE.id, user("ben"), ActionKind.RECONNECT, target))

    assert mine.ephemeral and "This link is yours" in str(mine.card)
    [button] = [b for b in buttons(mine.card) if b.kind is ActionKind.RECONNECT]
    link = button.url
    assert button.label == "Reconnect Google"
    assert core.reconnect.links.open(core.reconnect.links.token_in(link)).user_id == "U0ANA"  # type: ignore[union-attr]
    assert stranger.ephemeral and stranger.card is None and "your own connections" in stranger.text


async def test_where_the_crm_keeps_the_mailbox_tokens_the_card_links_to_the_crms_own_page(rig: Rig) -> None:
    core = rig.services.core
    kim = rig.store.get_connection(WORKSPACE.id, rig.connections["kim"].id)

    reply = await core.diagnosis_reply(WORKSPACE.id, [kim], viewer=user("kim"))

    found = {b.label: b for b in buttons(reply.card)}
    assert "Reconnect Google" not in found  # chatops holds no Google tokens here to renew
    deep = found["Reconnect in Salesforce"]
    assert deep.kind is ActionKind.OPEN_URL and deep.url.startswith(rig.simulator.base_url)
    assert deep.url.endswith("/lightning/settings/personal/PersonalInformation/home")
    findings = core.store.latest_findings(WORKSPACE.id, kim.id)
    [kept] = [f for f in findings if f.subject == "crm-kept"]
    assert "kept by Salesforce, not by chatops" in kept.summary


async def test_a_slack_click_on_someone_elses_reconnect_button_gets_a_private_note(rig: Rig) -> None:
    from chatops.chat import MessageRef

    core, ana = rig.services.core, rig.connections["ana"]
    link = rig.link("ana")
    here = MessageRef("C1", "1700000000.000100", "")

    note = await core.reconnect_clicked(ActionRequest(WORKSPACE.id, user("ben"), ActionKind.RECONNECT,
                                                      f"{ana.id}:mail", value=link, message=here))
    silent = await core.reconnect_clicked(ActionRequest(WORKSPACE.id, user("ana"), ActionKind.RECONNECT,
                                                        f"{ana.id}:mail", value=link, message=here), [ana.id])

    assert note is not None and note.ephemeral and "won't work for you" in note.text
    assert silent is None
    links = core.reconnect.links  # type: ignore[union-attr]
    [remembered] = core.store.reconnect.messages(links.open(links.token_in(link)).link_id, WORKSPACE.id)
    assert (remembered.channel_id, remembered.message_id, remembered.shown) == ("C1", "1700000000.000100",
                                                                               (ana.id,))
