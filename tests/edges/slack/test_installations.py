"""Installations in our database: bot tokens encrypted, the OAuth state single-use, a retried event seen once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from chatops.model import Secret
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from chatops.store.installations import Installation, Installations

TOKEN = "xoxb-1111-2222-installationtokenvalue"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def installation(team: str = "T1", token: str = TOKEN, **kw: object) -> Installation:
    return Installation(workspace_id=f"slack:{team}", platform="slack", team_id=team, bot_token=Secret(token),
                        team_name="Acme", bot_id="B1", bot_user_id="U0BOT", bot_scopes=("commands", "chat:write"),
                        installer_user_id="U0ADMIN", **kw)  # type: ignore[arg-type]


def test_an_installation_round_trips_with_its_token_encrypted_at_rest(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    table.save(installation(bot_refresh_token=Secret("xoxe-1-refresh"), bot_token_expires_at=NOW))

    found = table.find("slack:T1")

    assert found is not None
    assert (found.bot_token.reveal(), found.bot_refresh_token.reveal()) == (TOKEN, "xoxe-1-refresh")
    assert (found.bot_scopes, found.bot_token_expires_at, found.installer_user_id) == (("commands", "chat:write"),
                                                                                      NOW, "U0ADMIN")
    with store.engine.connect() as connection:
        dumped = " ".join(str(v) for row in connection.exec_driver_sql("SELECT * FROM chat_installations")
                          for v in row)
    assert TOKEN not in dumped and "xoxe-1-refresh" not in dumped
    assert table.find("slack:T2") is None


def test_a_reinstall_replaces_and_an_uninstall_forgets(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    table.save(installation())
    table.save(installation(token="xoxb-new"))
    found = table.find("slack:T1")
    assert found is not None and found.bot_token.reveal() == "xoxb-new"

    assert table.delete("slack:T1") is True
    assert table.delete("slack:T1") is False
    assert table.find("slack:T1") is None


def test_a_token_copied_onto_another_workspace_does_not_decrypt(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    table.save(installation("T1"))
    table.save(installation("T2", token="xoxb-two"))
    with store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE chat_installations SET bot_token_enc = (SELECT bot_token_enc FROM "
                                   "chat_installations WHERE workspace_id = 'slack:T1') WHERE workspace_id = 'slack:T2'")
    try:
        table.find("slack:T2")
    except Exception as exc:  # UndecryptableGrant
        assert "another grant" in str(exc)
    else:
        raise AssertionError("a ciphertext of another workspace decrypted")


def test_the_install_state_is_single_use_and_expires(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    table.issue_state("s1", NOW)
    table.issue_state("s2", NOW - timedelta(minutes=11))

    assert table.consume_state("s1", NOW + timedelta(minutes=1)) is True
    assert table.consume_state("s1", NOW + timedelta(minutes=1)) is False
    assert table.consume_state("s2", NOW) is False
    assert table.consume_state("never-issued", NOW) is False


def test_a_retried_event_is_remembered_once_even_from_many_threads(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    results: list[bool] = []
    lock = threading.Lock()

    def deliver() -> None:
        first = table.remember_event("slack:T1", "Ev0001")
        with lock:
            results.append(first)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [False, False, False, True]
    assert table.remember_event("slack:T2", "Ev0001") is True  # keys are per workspace


def test_exactly_one_replica_wins_the_token_refresh_lease(store: Store, cipher: GrantCipher) -> None:
    table = Installations(store.engine, cipher)
    table.save(installation())

    assert table.claim_rotation("slack:T1", NOW) is True
    assert table.claim_rotation("slack:T1", NOW + timedelta(seconds=5)) is False
    assert table.claim_rotation("slack:T1", NOW + timedelta(seconds=31)) is True  # the winner died: lease expired
    table.save(installation(token="xoxb-rotated"))  # saving the refreshed token releases it
    assert table.claim_rotation("slack:T1", NOW + timedelta(seconds=32)) is True


def test_key_rotation_re_encrypts_bot_tokens_too(store: Store) -> None:
    old, new = GrantCipher.generate_key(), GrantCipher.generate_key()
    Installations(store.engine, GrantCipher([old])).save(installation(bot_refresh_token=Secret("xoxe-1-refresh")))
    rotating = Store(store.engine.url.render_as_string(hide_password=False), GrantCipher([new, old]))
    try:
        assert rotating.rotate_keys() == 1
    finally:
        rotating.close()

    found = Installations(store.engine, GrantCipher([new])).find("slack:T1")  # the old key is retired
    assert found is not None
    assert (found.bot_token.reveal(), found.bot_refresh_token.reveal()) == (TOKEN, "xoxe-1-refresh")
