"""What the hot read paths open: /syncstatus asks the store for the caller's connections before every ack."""

from __future__ import annotations

import pytest

from chatops.model import Connection, Grant, GrantRole, Provider, Secret, Workspace
from chatops.store import Store
from chatops.store.crypto import GrantCipher

A = "slack:TACME"


def connection(name: str, email: str) -> Connection:
    grants = tuple(Grant(id="", provider=provider, role=role, account=email, scopes=frozenset({"openid"}),
                         access_token=Secret(f"access-{name}-{role.value}"),
                         refresh_token=Secret(f"refresh-{name}-{role.value}"))
                   for provider, role in ((Provider.GOOGLE, GrantRole.MAIL), (Provider.SALESFORCE, GrantRole.CRM)))
    return Connection(id="", workspace_id="", name=name, owner_email=email, crm=Provider.SALESFORCE,
                      crm_user_email=email, mailbox_provider=Provider.GOOGLE, mailbox_email=email, grants=grants)


def test_connections_for_opens_only_the_grants_of_the_connections_it_returns(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Decrypting every grant of the workspace made each ack slower with every connection added
    # (bench/ack.py: p99 2.4 s at 50 concurrent commands in a workspace of 200 connections).
    store.ensure_workspace(Workspace(A, "Acme"))
    ana = store.add_connection(A, connection("ana", "ana@acme.com"))
    for n in range(3):
        store.add_connection(A, connection(f"other-{n}", f"other{n}@acme.com"))
    url = store.engine.url.render_as_string(hide_password=False)
    retired = Store(url, GrantCipher([GrantCipher.generate_key()]))  # every grant it opens is logged
    try:
        with caplog.at_level("WARNING", logger="chatops.store"):
            [found] = retired.connections_for(A, "ana@acme.com")
    finally:
        retired.close()

    opened = {record.args[0] for record in caplog.records
              if "cannot be decrypted" in record.getMessage() and isinstance(record.args, tuple)}
    assert found.id == ana.id
    assert opened == {g.id for g in ana.grants}


def test_a_file_database_writes_ahead_so_readers_never_wait_for_a_writer(store: Store) -> None:
    # A commit with the rollback journal took 20 ms here and blocked readers; the write-ahead log takes 4 ms
    # and lets reads go on, so a burst of commands doesn't queue its reads behind writes (bench/ack.py).
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with store.engine.connect() as db:
        assert db.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_count_connections_counts_a_members_or_the_workspaces_without_opening_a_grant(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # The /syncstatus placeholder only needs how many: reading the connections decrypted their grants too.
    store.ensure_workspace(Workspace(A, "Acme"))
    store.ensure_workspace(Workspace("slack:TOTHER", "Other"))
    store.add_connection(A, connection("ana-1", "ana@acme.com"))
    store.add_connection(A, connection("ana-2", "Ana@Acme.com"))
    store.add_connection(A, connection("bob", "bob@acme.com"))
    store.add_connection("slack:TOTHER", connection("ana-elsewhere", "ana@acme.com"))
    url = store.engine.url.render_as_string(hide_password=False)
    retired = Store(url, GrantCipher([GrantCipher.generate_key()]))  # every grant it opens is logged
    try:
        with caplog.at_level("WARNING", logger="chatops.store"):
            counts = (retired.count_connections(A, " ANA@acme.com"), retired.count_connections(A),
                      retired.count_connections(A, "nobody@acme.com"), retired.count_connections("slack:TOTHER"))
    finally:
        retired.close()

    assert counts == (2, 3, 0, 1)
    assert [r.getMessage() for r in caplog.records if "cannot be decrypted" in r.getMessage()] == []
