"""Reconnect's storage on SQLite and PostgreSQL: migration 0004, single-use states across replicas, atomic grants."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from chatops.model import Connection, Grant, GrantRole, Provider, Secret, Workspace
from chatops.ports import TokenSet
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from chatops.store.reconnect_states import METADATA, STATES, CardMessage, PendingState, digest

WS = "slack:T0ACME"
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def seeded(store: Store, *, grants: bool = True) -> Connection:
    store.ensure_workspace(Workspace(WS, "Acme", "slack", "T0ACME"))
    grant = Grant(id="", provider=Provider.GOOGLE, role=GrantRole.MAIL, account="ana@acme.example",
                  scopes=frozenset({"openid"}), access_token=Secret("ya29.old-access"),
                  refresh_token=Secret("1//old-refresh"), expires_at=NOW)
    return store.add_connection(WS, Connection(
        id="", workspace_id="", name="ana", owner_email="ana@acme.example", crm=Provider.SALESFORCE,
        crm_user_email="ana@acme.example", mailbox_provider=Provider.GOOGLE, mailbox_email="ana@acme.example",
        grants=(grant,) if grants else ()))


def pending(connection: Connection, state: str = "state-1", *, link: str = "L1", expires: datetime = NOW,
            role: GrantRole = GrantRole.MAIL) -> PendingState:
    return PendingState(state_hash=digest(state), link_id=link, workspace_id=WS, platform="slack",
                        chat_user_id="U0ANA", connection_id=connection.id, role=role, provider=Provider.GOOGLE,
                        code_verifier="v" * 86, browser_hash=digest("browser"), created_at=expires - timedelta(
                            minutes=10), expires_at=expires)


FRESH = TokenSet(access_token="ya29.new-access", refresh_token="1//new-refresh", expires_at=NOW + timedelta(hours=1),
                 scopes=frozenset({"openid", "https://www.googleapis.com/auth/gmail.readonly"}))


def test_migration_0004_builds_exactly_the_tables_reconnect_states_declares(store: Store) -> None:
    ours = set(METADATA.tables)

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in ours

    with store.engine.connect() as db:
        differences = compare_metadata(MigrationContext.configure(db, opts={
            "compare_type": True, "include_name": include_name}), METADATA)
    assert differences == []
    assert ours == {"reconnect_states", "reconnect_links", "reconnect_consents", "reconnect_messages"}

    store.downgrade("0003")
    assert not ours & set(inspect(store.engine).get_table_names())
    store.upgrade()
    assert ours <= set(inspect(store.engine).get_table_names())


def test_a_state_is_used_once_and_keeps_its_verifier_encrypted(store: Store) -> None:
    connection = seeded(store)
    store.reconnect.issue(pending(connection))

    found = store.reconnect.find(digest("state-1"))
    with store.engine.connect() as db:
        raw = db.execute(select(STATES)).mappings().one()

    assert found is not None and found.code_verifier == "v" * 86 and found.used_at is None
    assert "v" * 20 not in raw["verifier_enc"] and raw["state_hash"] != "state-1"
    assert store.reconnect.claim(digest("state-1"), NOW - timedelta(minutes=1))
    assert not store.reconnect.claim(digest("state-1"), NOW - timedelta(minutes=1))
    assert store.reconnect.find(digest("state-1")).used_at is not None  # type: ignore[union-attr]
    assert store.reconnect.find(digest("unknown")) is None


def test_an_expired_state_cannot_be_claimed(store: Store) -> None:
    connection = seeded(store)
    store.reconnect.issue(pending(connection))

    assert not store.reconnect.claim(digest("state-1"), NOW + timedelta(seconds=1))


def test_a_state_issued_on_one_replica_is_consumed_on_another_exactly_once(store: Store, cipher: GrantCipher) -> None:
    connection = seeded(store)
    store.reconnect.issue(pending(connection))
    replicas = [Store(url_of(store), cipher) for _ in range(4)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(replicas))

    def race(replica: Store) -> None:
        barrier.wait()
        wins.append(replica.reconnect.claim(digest("state-1"), NOW - timedelta(minutes=1)))

    try:
        assert replicas[0].reconnect.find(digest("state-1")).code_verifier == "v" * 86  # type: ignore[union-attr]
        threads = [threading.Thread(target=race, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for replica in replicas:
            replica.close()
    assert sorted(wins) == [False, False, False, True]


def test_saving_a_consent_replaces_both_tokens_in_one_transaction_and_closes_the_link(store: Store) -> None:
    connection = seeded(store)
    old = connection.grants[0]

    saved = store.reconnect.save_grant(pending(connection), FRESH, account="ana@acme.example", now=NOW,
                                       link_expires_at=NOW + timedelta(minutes=15))
    again = store.reconnect.save_grant(pending(connection, "state-2"), TokenSet(
        access_token="ya29.third", refresh_token="1//third", expires_at=None, scopes=frozenset()),
        account="ana@acme.example", now=NOW, link_expires_at=NOW + timedelta(minutes=15))

    stored = store.get_connection(WS, connection.id).grant(GrantRole.MAIL)
    assert saved is not None and saved.id == old.id and again is None  # the link works once
    assert stored is not None and stored.refresh_token.reveal() == "1//new-refresh"
    assert stored.access_token.reveal() == "ya29.new-access" and stored.scopes == FRESH.scopes
    assert not stored.needs_reconnect
    assert store.reconnect.completed("L1") == NOW
    assert store.reconnect.consents(WS, connection.id) == {GrantRole.MAIL: NOW}
    with store.engine.connect() as db:
        dump = " ".join(str(v) for row in db.execute(text("SELECT * FROM grants")) for v in row)
    assert "new-refresh" not in dump and "old-refresh" not in dump and "ya29" not in dump


def test_a_consent_for_a_role_without_a_grant_creates_it(store: Store) -> None:
    connection = seeded(store, grants=False)

    saved = store.reconnect.save_grant(pending(connection), FRESH, account="ana@acme.example", now=NOW,
                                       link_expires_at=NOW)

    assert saved is not None and saved.id.startswith("g_")
    assert store.get_connection(WS, connection.id).grant(GrantRole.MAIL) == saved


def test_cards_are_remembered_per_link_with_their_response_url_encrypted(store: Store) -> None:
    seeded(store)
    first = CardMessage("slack", "C1", "1700000000.000100", "https://hooks.slack.example/actions/T/1/secret",
                        ("c1", "c2"))

    store.reconnect.remember_message("L1", WS, first, now=NOW, expires_at=NOW + timedelta(minutes=25))
    store.reconnect.remember_message("L1", WS, CardMessage("slack", "C1", "1700000000.000100", "", ("c1",)),
                                     now=NOW, expires_at=NOW + timedelta(minutes=25))
    store.reconnect.remember_message("L1", WS, CardMessage("teams", "a:chat", "17001", "", ()), now=NOW,
                                     expires_at=NOW + timedelta(minutes=25))

    found = store.reconnect.messages("L1", WS)
    assert sorted((m.platform, m.channel_id, m.shown) for m in found) == [("slack", "C1", ("c1",)),
                                                                            ("teams", "a:chat", ())]
    assert store.reconnect.messages("L1", "slack:T0OTHER") == []
    with store.engine.connect() as db:
        dump = " ".join(str(v) for row in db.execute(text("SELECT * FROM reconnect_messages")) for v in row)
    assert "hooks.slack.example" not in dump
