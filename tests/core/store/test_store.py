"""The store on SQLite and PostgreSQL: round trips, scoping, atomic writes, encryption, key rotation."""

from __future__ import annotations

import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from chatops.errors import ConfigError, NotFound, StoreError
from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, Grant, GrantRole, Keeper, Provider, Secret, SyncEvent, Workspace
from chatops.ports import QuotaUsage, TokenSet, UsageWindow
from chatops.schedules import SyncJob
from chatops.store import AlreadyExists, Member, Store
from chatops.store.crypto import GrantCipher, UndecryptableGrant, load_or_create_keys
from chatops.store.locks import advisory_lock
from chatops.store.tables import TABLES

A, B = "slack:TACME", "slack:TOTHER"
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ACCESS = "ya29.a0AfB_SECRET-access-token-value"
REFRESH = "1//0gSECRET-refresh-token-value"


def grant(
    role: GrantRole = GrantRole.MAIL,
    provider: Provider = Provider.GOOGLE,
    *,
    access: str = ACCESS,
    refresh: str = REFRESH,
    account: str = "ana@acme.com",
    id: str = "",
) -> Grant:
    return Grant(
        id=id,
        provider=provider,
        role=role,
        account=account,
        scopes=frozenset({"openid", "email"}),
        access_token=Secret(access),
        refresh_token=Secret(refresh),
        expires_at=T0 + timedelta(hours=1),
        instance_url="",
    )


def connection(
    name: str = "ana-sf-gmail",
    email: str = "ana@acme.com",
    *,
    grants: tuple[Grant, ...] | None = None,
    id: str = "",
) -> Connection:
    return Connection(
        id=id,
        workspace_id="",
        name=name,
        owner_email=email,
        crm=Provider.SALESFORCE,
        crm_user_email=email,
        mailbox_provider=Provider.GOOGLE,
        mailbox_email=email,
        calendar_provider=Provider.GOOGLE,
        sync_account="sync@acme.com",
        calls_per_sync=12,
        sync_jobs=(
            SyncJob("eac", "Einstein Activity Capture", interval_minutes=5, duration_minutes=1.5),
            SyncJob("nightly", "Outlook add-in", cron="0 2 * * *"),
        ),
        grants=(
            grant(),
            grant(GrantRole.CRM, Provider.SALESFORCE, access="00D-crm-access", refresh="5Aep-crm"),
        )
        if grants is None
        else grants,
    )


@pytest.fixture
def two_workspaces(store: Store) -> Store:
    store.ensure_workspace(Workspace(A, "Acme", platform="slack", external_id="TACME"))
    store.ensure_workspace(Workspace(B, "Other", platform="slack", external_id="TOTHER"))
    return store


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


# ---------------------------------------------------------------- workspaces and members


def test_ensure_workspace_creates_once_and_never_overwrites(store: Store) -> None:
    created = store.ensure_workspace(Workspace(A, "Acme", platform="slack", external_id="TACME"))
    again = store.ensure_workspace(Workspace(A, A))  # the CLI passes the id as the name

    assert created == again == store.get_workspace(A) == Workspace(A, "Acme", "slack", "TACME")
    assert store.list_workspaces() == [created]
    with pytest.raises(NotFound, match="unknown workspace"):
        store.get_workspace(B)


def test_members_are_upserted_per_workspace(two_workspaces: Store) -> None:
    store = two_workspaces
    store.upsert_member(A, "U1", "ana@acme.com", name="Ana")
    store.upsert_member(A, "U1", "ana.ruiz@acme.com", name="Ana Ruiz", is_admin=True)

    assert store.member(A, "U1") == Member("U1", "ana.ruiz@acme.com", "Ana Ruiz", True)
    assert store.member(B, "U1") is None
    with pytest.raises(NotFound):
        store.upsert_member("slack:TNOPE", "U1", "x@acme.com")


# ---------------------------------------------------------------- connections


def test_a_connection_round_trips_with_its_grants_decrypted(two_workspaces: Store) -> None:
    store = two_workspaces
    stored = store.add_connection(A, connection())

    assert stored.id.startswith("c_") and len(stored.id) == 12 and stored.id[2:].isalnum()
    assert all(g.id.startswith("g_") and len(g.id) == 12 for g in stored.grants)
    assert stored == replace(
        connection(),
        id=stored.id,
        workspace_id=A,
        grants=tuple(replace(g, id=s.id) for g, s in zip(connection().grants, stored.grants, strict=True)),
    )
    assert store.get_connection(A, stored.id) == stored
    assert store.get_connection(A, "ana-sf-gmail") == stored
    assert store.get_connection(A, "ANA-SF-GMAIL") == stored  # a unique name also matches case-insensitively
    assert store.list_connections(A) == [stored]
    mail = stored.grant(GrantRole.MAIL)
    assert (
        mail is not None and mail.access_token.reveal() == ACCESS and mail.refresh_token.reveal() == REFRESH
    )


def test_given_ids_are_kept_and_a_grant_held_by_the_crm_has_no_tokens(two_workspaces: Store) -> None:
    crm_held = replace(
        grant(GrantRole.CRM, Provider.HUBSPOT, access="", refresh="", id="g-hub"), keeper=Keeper.CRM
    )
    stored = two_workspaces.add_connection(A, connection(id="ana-1", grants=(crm_held,)))

    assert stored.id == "ana-1"
    assert two_workspaces.get_connection(A, "ana-1").grants == (crm_held,)


def test_a_name_already_used_in_the_workspace_is_a_clear_error(two_workspaces: Store) -> None:
    store = two_workspaces
    store.add_connection(A, connection())

    with pytest.raises(AlreadyExists, match="already has a connection with name ana-sf-gmail"):
        store.add_connection(A, connection())
    assert store.add_connection(B, connection()).name == "ana-sf-gmail"  # names are per workspace
    assert len(store.list_connections(A)) == 1


def test_the_same_ids_in_two_workspaces_are_two_connections(two_workspaces: Store) -> None:
    store = two_workspaces
    store.add_connection(A, connection(id="c_same", grants=(grant(id="g_same"),)))
    store.add_connection(B, connection(id="c_same", grants=(grant(id="g_same", access="other-access"),)))

    a_grant = store.get_connection(A, "c_same").grants[0]
    b_grant = store.get_connection(B, "c_same").grants[0]
    assert (a_grant.access_token.reveal(), b_grant.access_token.reveal()) == (ACCESS, "other-access")


def test_workspace_b_cannot_see_get_or_remove_a_connection_of_a(two_workspaces: Store) -> None:
    store = two_workspaces
    theirs = store.add_connection(A, connection("ana-secret-project"))
    store.add_connection(B, connection("ana-secret-projekt", "bob@other.example"))
    grant_id = theirs.grants[0].id

    assert [c.name for c in store.list_connections(B)] == ["ana-secret-projekt"]
    assert store.connections_for(B, "ana@acme.com") == []
    for key in (theirs.id, theirs.name):
        with pytest.raises(NotFound) as caught:
            store.get_connection(B, key)
        suggestions = str(caught.value).replace(repr(key), "")
        assert "ana-secret-project" not in suggestions  # B's own names may be suggested, never A's
        with pytest.raises(NotFound):
            store.remove_connection(B, key)
    with pytest.raises(NotFound, match="did you mean ana-secret-projekt"):
        store.get_connection(B, "ana-secret-project")
    with pytest.raises(NotFound):
        store.save_tokens(B, grant_id, TokenSet("stolen", None, frozenset()))
    with pytest.raises(NotFound):
        store.mark_needs_reconnect(B, grant_id)
    with pytest.raises(NotFound):
        store.add_events(B, theirs.id, [SyncEvent(theirs.id, "x", T0)])
    with pytest.raises(NotFound):
        store.events(B, theirs.id)
    with pytest.raises(NotFound):
        store.add_quota_sample(B, theirs.id, QuotaUsage("DailyApiRequests", 1, 10), T0)
    with pytest.raises(NotFound):
        store.quota_samples(B, theirs.id, "DailyApiRequests", T0)
    assert store.latest_findings(B, theirs.id) == []
    # and A's connection is untouched
    assert store.get_connection(A, theirs.id) == theirs
    assert store.get_connection(A, theirs.id).grants[0].access_token.reveal() == ACCESS


def test_an_unknown_connection_suggests_close_names_of_the_workspace(two_workspaces: Store) -> None:
    store = two_workspaces
    for name in ("ana-sf-gmail", "bob-hubspot-outlook", "carla-dynamics"):
        store.add_connection(A, connection(name, f"{name}@acme.com"))

    with pytest.raises(
        NotFound,
        match=r"no connection 'ana-sf-gmial' in workspace slack:TACME; "
        r"did you mean ana-sf-gmail\?",
    ):
        store.get_connection(A, "ana-sf-gmial")
    with pytest.raises(NotFound) as caught:
        store.get_connection(A, "zzz")
    assert "did you mean" not in str(caught.value)


def test_connections_for_an_email_match_owner_crm_user_or_mailbox_ignoring_case(
    two_workspaces: Store,
) -> None:
    store = two_workspaces
    owned = store.add_connection(
        A,
        replace(
            connection("owned"),
            owner_email="Boss@Acme.com",
            crm_user_email="x@acme.com",
            mailbox_email="x@acme.com",
        ),
    )
    mailbox = store.add_connection(
        A, replace(connection("mailbox", "y@acme.com"), mailbox_email="BOSS@acme.com")
    )
    store.add_connection(A, connection("other", "z@acme.com"))

    assert [c.name for c in store.connections_for(A, " boss@ACME.com ")] == [mailbox.name, owned.name]


def test_import_is_all_or_nothing(two_workspaces: Store) -> None:
    store = two_workspaces
    store.add_connection(A, connection("ana"))
    batch = [connection("bob", "bob@acme.com"), connection("ana"), connection("carla", "carla@acme.com")]

    with pytest.raises(AlreadyExists, match="name ana"):
        store.import_connections(A, batch)
    with pytest.raises(AlreadyExists, match="repeated: dora"):
        store.import_connections(A, [connection("dora", "d@acme.com"), connection("dora", "d@acme.com")])
    naive = replace(grant(), expires_at=datetime(2026, 1, 1))  # noqa: DTZ001 - the bad record under test
    with pytest.raises(ValueError, match="naive"):
        store.import_connections(A, [connection("erin", "e@acme.com"), connection("fred", grants=(naive,))])

    assert [c.name for c in store.list_connections(A)] == ["ana"]
    imported = store.import_connections(
        A, [connection("bob", "bob@acme.com"), connection("carla", "c@acme.com")]
    )
    assert [c.name for c in store.list_connections(A)] == ["ana", "bob", "carla"] and len(imported) == 2


def test_removing_a_connection_removes_its_grants_events_and_samples_but_keeps_reports(
    two_workspaces: Store,
) -> None:
    store = two_workspaces
    gone = store.add_connection(A, connection("gone"))
    store.add_events(A, gone.id, [SyncEvent(gone.id, "AADSTS700082", T0)])
    store.add_quota_sample(A, gone.id, QuotaUsage("DailyApiRequests", 5, 100), T0)
    store.record_report(
        A, [Finding("quota", gone.id, Status.OK, Cause.RATE_LIMIT, "fine")], started_at=T0, finished_at=T0
    )

    store.remove_connection(A, "gone")

    assert store.list_connections(A) == []
    with pytest.raises(NotFound):
        store.save_tokens(A, gone.grants[0].id, TokenSet("x", None, frozenset()))
    again = store.add_connection(
        A, connection("gone", id=gone.id)
    )  # the same id is free again, with no leftovers
    assert store.events(A, again.id) == []
    assert store.quota_samples(A, again.id, "DailyApiRequests", T0 - timedelta(days=1)) == []
    assert [f.summary for f in store.latest_findings(A, gone.id)] == ["fine"]


# ---------------------------------------------------------------- tokens


def test_save_tokens_keeps_the_old_refresh_token_when_none_was_rotated(two_workspaces: Store) -> None:
    store = two_workspaces
    mail = store.add_connection(A, connection()).grants[0]
    later = T0 + timedelta(hours=2)

    saved = store.save_tokens(
        A, mail.id, TokenSet("ya29.new-access", later, frozenset({"openid", "gmail.send"}))
    )

    assert saved.access_token.reveal() == "ya29.new-access"
    assert saved.refresh_token.reveal() == REFRESH
    assert (saved.expires_at, saved.scopes) == (later, frozenset({"openid", "gmail.send"}))
    assert store.get_connection(A, "ana-sf-gmail").grants[0] == saved


def test_save_tokens_stores_a_rotated_refresh_token_and_keeps_scopes_when_none_come_back(
    two_workspaces: Store,
) -> None:
    store = two_workspaces
    mail = store.add_connection(A, connection()).grants[0]

    store.save_tokens(A, mail.id, TokenSet("access-2", T0, frozenset(), refresh_token="1//rotated"))

    [reread] = [g for g in store.get_connection(A, "ana-sf-gmail").grants if g.id == mail.id]
    assert (reread.access_token.reveal(), reread.refresh_token.reveal()) == ("access-2", "1//rotated")
    assert reread.scopes == mail.scopes


def test_save_tokens_is_atomic_a_failure_writes_nothing(two_workspaces: Store) -> None:
    store = two_workspaces
    mail = store.add_connection(A, connection()).grants[0]
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the bad value under test, after the tokens were set on the row

    with pytest.raises(ValueError, match="naive"):
        store.save_tokens(A, mail.id, TokenSet("half-written", naive, frozenset(), refresh_token="1//lost"))

    assert store.get_connection(A, "ana-sf-gmail").grants[0] == mail


def test_needs_reconnect_is_set_by_a_terminal_failure_and_cleared_by_new_tokens(
    two_workspaces: Store,
) -> None:
    store = two_workspaces
    mail = store.add_connection(A, connection()).grants[0]

    store.mark_needs_reconnect(A, mail.id)
    assert store.get_connection(A, "ana-sf-gmail").grants[0].needs_reconnect
    store.save_tokens(A, mail.id, TokenSet("fresh", T0, frozenset(), refresh_token="1//fresh"))
    assert not store.get_connection(A, "ana-sf-gmail").grants[0].needs_reconnect


def test_concurrent_token_saves_from_worker_threads_all_land(two_workspaces: Store) -> None:
    store = two_workspaces
    grants = [store.add_connection(A, connection(f"c{i}", f"u{i}@acme.com")).grants[0] for i in range(4)]
    errors: list[BaseException] = []

    def refresh(n: int) -> None:
        try:
            for round_ in range(5):
                store.save_tokens(A, grants[n % 4].id, TokenSet(f"a{n}-{round_}", T0, frozenset()))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=refresh, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(g.refresh_token.reveal() == REFRESH for c in store.list_connections(A) for g in c.grants[:1])


# ---------------------------------------------------------------- encryption at rest


def test_tokens_never_appear_in_clear_in_the_database(store: Store, cipher: GrantCipher) -> None:
    store.ensure_workspace(Workspace(A, "Acme"))
    mail = store.add_connection(A, connection()).grants[0]
    store.save_tokens(
        A, mail.id, TokenSet("ya29.ROTATED-access", T0, frozenset(), refresh_token="1//ROTATED-refresh")
    )
    plain = [ACCESS, REFRESH, "00D-crm-access", "5Aep-crm", "ya29.ROTATED-access", "1//ROTATED-refresh"]

    with store.engine.connect() as db:
        rows = [" ".join(map(str, row)) for row in db.execute(text("SELECT * FROM grants"))]
    assert rows and not [s for s in plain if any(s in row for row in rows)]
    assert not any(prefix in row for row in rows for prefix in ("ya29.", "1//"))

    if store.engine.dialect.name == "sqlite":
        path = Path(store.engine.url.database or "")
        store.close()
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"ana@acme.com" in raw  # the data is there ...
        assert not [s for s in plain if s.encode() in raw]  # ... the tokens are not
        assert b"ya29." not in raw and b"1//" not in raw


def test_a_retired_key_makes_the_grant_need_reconnect_instead_of_crashing(store: Store) -> None:
    store.ensure_workspace(Workspace(A, "Acme"))
    stored = store.add_connection(A, connection())
    retired = Store(url_of(store), GrantCipher([GrantCipher.generate_key()]))  # the old key is gone
    try:
        [mail, crm] = retired.get_connection(A, stored.id).grants
        assert mail.needs_reconnect and crm.needs_reconnect
        assert not mail.access_token and not mail.refresh_token
        assert (mail.id, mail.account, mail.scopes) == (
            stored.grants[0].id,
            "ana@acme.com",
            stored.grants[0].scopes,
        )
        assert retired.rotate_keys() == 0  # nothing readable to rotate, and it terminates
    finally:
        retired.close()


def test_a_ciphertext_copied_onto_another_grant_does_not_decrypt(two_workspaces: Store) -> None:
    store = two_workspaces
    victim = store.add_connection(A, connection("victim"))
    attacker = store.add_connection(
        A, connection("attacker", "eve@acme.com", grants=(grant(access="eve", refresh="eve-r"),))
    )
    with store.engine.begin() as db:
        db.execute(
            text(
                "UPDATE grants SET access_token_enc = (SELECT access_token_enc FROM grants WHERE id = :v) "
                "WHERE id = :a"
            ),
            {"v": victim.grants[0].id, "a": attacker.grants[0].id},
        )

    copied = store.get_connection(A, "attacker").grants[0]
    assert copied.needs_reconnect and copied.access_token.reveal() == ""


def test_key_rotation_interrupted_and_resumed_keeps_every_row_readable(store: Store) -> None:
    old_key, new_key = GrantCipher.generate_key(), GrantCipher.generate_key()
    writer = Store(url_of(store), GrantCipher([old_key]))
    rotating = Store(url_of(store), GrantCipher([new_key, old_key]))
    new_only = Store(url_of(store), GrantCipher([new_key]))
    writer.ensure_workspace(Workspace(A, "Acme"))
    writer.import_connections(
        A,
        [
            connection(
                f"user-{n:03}",
                f"u{n}@acme.com",
                grants=(
                    grant(access=f"access-{n}", refresh=f"refresh-{n}"),
                    grant(GrantRole.CRM, Provider.SALESFORCE, access=f"crm-{n}", refresh=f"crm-r-{n}"),
                ),
            )
            for n in range(150)
        ],
    )  # 300 grants

    def all_readable(reader: Store) -> None:
        for n, c in enumerate(reader.list_connections(A)):
            assert [g.needs_reconnect for g in c.grants] == [False, False]
            assert [g.access_token.reveal() for g in c.grants] == [f"access-{n}", f"crm-{n}"]
            assert [g.refresh_token.reveal() for g in c.grants] == [f"refresh-{n}", f"crm-r-{n}"]

    def under_new_key() -> int:
        with store.engine.connect() as db:
            return int(
                db.execute(
                    text("SELECT count(*) FROM grants WHERE key_id = :k"),
                    {"k": GrantCipher([new_key]).key_id},
                ).scalar_one()
            )

    try:
        assert rotating.rotate_keys(batch=40, max_batches=2) == 80  # interrupted after 2 batches
        assert under_new_key() == 80
        all_readable(rotating)
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_reading() -> None:  # another replica reading while the rotation runs
            try:
                while not stop.is_set():
                    all_readable(rotating)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                failures.append(exc)

        reader = threading.Thread(target=keep_reading)
        reader.start()
        resumed = 0
        try:
            while (done := rotating.rotate_keys(batch=40, max_batches=1)) > 0:  # resumed, a batch at a time
                resumed += done
                all_readable(rotating)
        finally:
            stop.set()
            reader.join()
        assert failures == []
        assert (resumed, under_new_key()) == (220, 300)
        assert rotating.rotate_keys() == 0  # a re-run finds nothing left

        all_readable(new_only)  # the old key can now be dropped
        assert all(
            g.needs_reconnect for c in writer.list_connections(A) for g in c.grants
        )  # the old alone can't
    finally:
        for opened in (writer, rotating, new_only):
            opened.close()


# ---------------------------------------------------------------- reports, events, quotas


def test_a_report_round_trips_and_the_history_counts_statuses(two_workspaces: Store) -> None:
    store = two_workspaces
    c = store.add_connection(A, connection())
    first = [Finding("credentials", c.id, Status.OK, Cause.CREDENTIALS, "Token works.")]
    failing = Finding(
        "credentials",
        c.id,
        Status.FAIL,
        Cause.CREDENTIALS,
        "Gmail token was revoked 2 days ago.",
        evidence=(Evidence("token endpoint", "400 invalid_grant: Token has been expired or revoked."),),
        remedy=("Click Reconnect.", "Sign in as ana@acme.com."),
        actions=(Action(ActionKind.RECONNECT, "Reconnect", f"{c.id}:mail"),),
        subject="g_1",
        duration_ms=42,
        details={"missing_scopes": ("gmail.send",), "code": "invalid_grant"},
    )
    second = [
        failing,
        Finding("quota", c.id, Status.WARN, Cause.RATE_LIMIT, "91% used."),
        Finding("network", "c_other", Status.OK, Cause.NETWORK, "Reachable."),
    ]

    store.record_report(A, first, started_at=T0, finished_at=T0 + timedelta(seconds=3))
    run_id = store.record_report(
        A, second, started_at=T0 + timedelta(hours=1), finished_at=T0 + timedelta(hours=1, seconds=4)
    )

    latest = store.latest_findings(A, c.id)
    assert latest == second[:2]
    assert latest[0].details == {"missing_scopes": ["gmail.send"], "code": "invalid_grant"}
    [newest, oldest] = store.run_history(A)
    assert (newest.id, newest.connections, oldest.connections) == (run_id, 2, 1)
    assert newest.counts == {Status.OK: 1, Status.WARN: 1, Status.FAIL: 1, Status.ERROR: 0, Status.SKIPPED: 0}
    assert oldest.counts[Status.OK] == 1 and oldest.started_at == T0
    assert store.run_history(B) == [] and store.run_history(A, limit=1) == [newest]


def test_timestamps_come_back_timezone_aware_utc(two_workspaces: Store) -> None:
    store = two_workspaces
    paris = timezone(timedelta(hours=1))
    at = datetime(2026, 11, 2, 10, 30, tzinfo=paris)  # 09:30 UTC
    c = store.add_connection(A, connection(grants=(replace(grant(), expires_at=at),)))
    store.add_events(A, c.id, [SyncEvent(c.id, "line", at)])
    store.add_quota_sample(A, c.id, QuotaUsage("Daily", 1, 10, UsageWindow.DAILY, resets_at=at), at)
    store.record_report(A, [], started_at=at, finished_at=at)

    seen = [
        store.get_connection(A, c.id).grants[0].expires_at,
        store.events(A, c.id)[0].at,
        store.quota_samples(A, c.id, "Daily", at - timedelta(seconds=1))[0][0],
        store.run_history(A)[0].started_at,
    ]
    assert seen == [T0] * 4
    assert all(when is not None and when.tzinfo is UTC for when in seen)
    assert store.quota_samples(A, c.id, "Daily", at + timedelta(seconds=1)) == []  # `since` compares instants
    with pytest.raises(ValueError, match="naive"):
        store.add_quota_sample(A, c.id, QuotaUsage("Daily", 1, 10), datetime(2026, 1, 1))  # noqa: DTZ001


def test_twenty_thousand_event_lines_stream_in_batches(two_workspaces: Store) -> None:
    store = two_workspaces
    c = store.add_connection(A, connection())
    produced = 0

    def lines() -> Iterator[SyncEvent]:
        nonlocal produced
        for n in range(20_000):
            produced += 1
            yield SyncEvent(c.id, f"2026-11-02 sync error {n}: AADSTS700082", T0 + timedelta(seconds=n))

    assert store.add_events(A, c.id, lines(), batch=1000) == 20_000 == produced

    newest = store.events(A, c.id)
    assert len(newest) == 5000
    assert newest[0].line.endswith("error 15000: AADSTS700082") and newest[-1].at == T0 + timedelta(
        seconds=19_999
    )
    assert len(store.events(A, c.id, limit=50_000)) == 20_000
    assert len(store.events(A, c.id, since=T0 + timedelta(seconds=19_990))) == 10


def test_quota_samples_are_kept_per_limit_name(two_workspaces: Store) -> None:
    store = two_workspaces
    c = store.add_connection(A, connection())
    for n in range(3):
        store.add_quota_sample(
            A, c.id, QuotaUsage("DailyApiRequests", 100 * n, 1000), T0 + timedelta(hours=n)
        )
    store.add_quota_sample(A, c.id, QuotaUsage("X-HubSpot-RateLimit-Daily", 7, 250_000), T0)

    assert store.quota_samples(A, c.id, "DailyApiRequests", T0 + timedelta(minutes=30)) == [
        (T0 + timedelta(hours=1), 100, 1000),
        (T0 + timedelta(hours=2), 200, 1000),
    ]


# ---------------------------------------------------------------- failures of the database itself


def test_a_read_only_database_file_is_a_one_line_store_error(tmp_path: Path, cipher: GrantCipher) -> None:
    path = tmp_path / "chatops.db"
    Store.open(f"sqlite:///{path}", cipher).close()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    # root ignores permission bits; open the file the way SQLite opens one it may not write.
    url = f"sqlite:///file:{path}?mode=ro&uri=true" if os.geteuid() == 0 else f"sqlite:///{path}"
    store = Store.open(url, cipher)  # already at the newest schema: opening needs no write
    try:
        assert store.list_workspaces() == []  # reads still work
        with pytest.raises(StoreError) as caught:
            store.ensure_workspace(Workspace(A, "Acme"))
        message = str(caught.value)
        assert "\n" not in message
        assert (
            message == f"SQLite database {path}: cannot save the workspace: the database is read-only "
            "(check the permissions of the file and its folder)"
        )
    finally:
        store.close()
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_a_locked_database_is_a_store_error_and_reads_still_work(tmp_path: Path, cipher: GrantCipher) -> None:
    path = tmp_path / "chatops.db"
    store = Store.open(f"sqlite:///{path}?timeout=0.2", cipher)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process is writing
        assert store.list_workspaces() == []
        with pytest.raises(
            StoreError,
            match=r"cannot save the workspace: the database is locked by another "
            r"process; try again$",
        ):
            store.ensure_workspace(Workspace(A, "Acme"))
        other.execute("ROLLBACK")
        assert store.ensure_workspace(Workspace(A, "Acme")).name == "Acme"
    finally:
        other.close()
        store.close()


def test_an_unreachable_server_is_a_store_error_that_hides_the_password(cipher: GrantCipher) -> None:
    url = "postgresql://chatops:hunter2-secret@127.0.0.1:1/chatops"
    store = Store(url, cipher)
    try:
        with pytest.raises(StoreError) as caught:
            store.ping()
    finally:
        store.close()
    message = str(caught.value)
    assert message.startswith("PostgreSQL database chatops (chatops@127.0.0.1:1): cannot reach it: ")
    assert "hunter2" not in message and "\n" not in message
    with pytest.raises(StoreError, match="PostgreSQL database chatops"):
        Store.open(url, cipher)


def test_a_broken_url_is_a_store_error(cipher: GrantCipher) -> None:
    with pytest.raises(StoreError, match="not valid"):
        Store("not a url at all", cipher)


def test_ping_succeeds_on_a_reachable_database(store: Store) -> None:
    store.ping()


# ---------------------------------------------------------------- migrations


def test_migrations_upgrade_an_existing_database_in_place(store: Store, cipher: GrantCipher) -> None:
    head = store.head()
    assert head is not None and store.revision() == head
    store.downgrade("base")
    assert store.revision() is None

    store.upgrade("0001")  # a database created at the first version ...
    assert store.revision() == "0001"
    store.ensure_workspace(Workspace(A, "Acme"))
    kept = store.add_connection(A, connection())
    store.upgrade()  # ... upgrades in place to the newest, and again is a no-op
    assert store.revision() == head
    store.upgrade("head")
    reopened = Store.open(url_of(store), cipher)
    try:
        assert reopened.revision() == head
        assert reopened.get_connection(A, kept.id) == kept
    finally:
        reopened.close()


def test_open_makes_the_sqlite_folder_and_refuses_a_schema_newer_than_the_code(
    tmp_path: Path, cipher: GrantCipher
) -> None:
    path = tmp_path / "not" / "yet" / "chatops.db"
    store = Store.open(f"sqlite:///{path}", cipher)
    with store.engine.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999'"))  # written by a newer chatops
    store.close()

    with pytest.raises(StoreError, match=r"schema version 9999 is newer than this chatops knows \(\w+\)"):
        Store.open(f"sqlite:///{path}", cipher)


def test_an_in_memory_database_is_shared_by_every_thread(cipher: GrantCipher) -> None:
    store = Store.open("sqlite://", cipher)
    try:
        worker = threading.Thread(target=store.ensure_workspace, args=(Workspace(A, "Acme"),))
        worker.start()
        worker.join()
        assert store.list_workspaces() == [Workspace(A, "Acme")]
    finally:
        store.close()


def test_the_migrations_build_exactly_the_tables_that_tables_py_declares(store: Store) -> None:
    ours = {model.__tablename__ for model in TABLES}  # other modules' tables are their owners' to test

    def include_name(name: str | None, type_: str, parent_names: object) -> bool:
        return type_ != "table" or name in ours

    def include_object(
        obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
    ) -> bool:
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is None or getattr(table, "name", None) in ours

    with store.engine.connect() as db:
        options = {"compare_type": True, "include_name": include_name, "include_object": include_object}
        differences = compare_metadata(MigrationContext.configure(db, opts=options), SQLModel.metadata)
    assert differences == []
    assert ours <= set(inspect(store.engine).get_table_names())


# ---------------------------------------------------------------- advisory lock


def test_only_one_holder_of_an_advisory_lock_on_postgres(store: Store, cipher: GrantCipher) -> None:
    key = secrets.randbits(62)  # advisory locks are database-wide: don't meet another test run's lock
    other = Store(url_of(store), cipher)
    try:
        with advisory_lock(store, key) as first, advisory_lock(other, key) as second:
            expected_second = store.engine.dialect.name == "sqlite"  # no-op there: always granted
            assert (first, second) == (True, expected_second)
        with advisory_lock(other, key) as after_release:
            assert after_release
    finally:
        other.close()


# ---------------------------------------------------------------- keys


def test_an_invalid_key_is_a_config_error_naming_its_position_not_the_key() -> None:
    good = GrantCipher.generate_key()
    with pytest.raises(ConfigError) as caught:
        GrantCipher([good, "not-a-fernet-key-but-a-secret"])
    assert "key 2 of 2" in str(caught.value)
    assert "not-a-fernet-key-but-a-secret" not in str(caught.value) and good not in str(caught.value)
    with pytest.raises(ConfigError, match="no encryption key"):
        GrantCipher([" ", ""])


def test_the_cipher_round_trips_rotates_and_refuses_foreign_ciphertexts() -> None:
    old, new = GrantCipher.generate_key(), GrantCipher.generate_key()
    before = GrantCipher([old])
    token = before.encrypt("secret", context="grant:A:g1")
    both = GrantCipher([new, old])

    assert both.decrypt(token, context="grant:A:g1") == "secret"
    rotated = both.rotate(token)
    assert GrantCipher([new]).decrypt(rotated, context="grant:A:g1") == "secret"
    with pytest.raises(UndecryptableGrant):
        before.decrypt(rotated)
    with pytest.raises(UndecryptableGrant, match="another grant"):
        both.decrypt(token, context="grant:A:g2")
    assert "secret" not in repr(both) and old not in repr(both)


def test_a_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    keys, created = load_or_create_keys("", data_dir)
    assert created == data_dir / "encryption.key"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert load_or_create_keys("", data_dir) == (keys, None)  # read back, not re-created
    GrantCipher(keys)

    configured = [GrantCipher.generate_key(), GrantCipher.generate_key()]
    assert load_or_create_keys(" , ".join(configured), data_dir) == (configured, None)

    created.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        load_or_create_keys("", data_dir)
