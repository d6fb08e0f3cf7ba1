"""The database unavailable for a while: PostgreSQL behind a proxy that is cut and restored, SQLite locked by
another writer. Requests get a clear answer, nothing is half-written, and service resumes without a restart."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from chatops.errors import StoreError
from chatops.imports import parse_connections
from chatops.model import Workspace
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from tests.conftest import _postgres_schema
from tests.edges.slack.conftest import ACME, Bot, StartBot, provider_env
from tests.reliability.outage import Proxy, proxy


@pytest.fixture
def pg_behind_proxy() -> Iterator[tuple[str, Proxy]]:
    """A fresh PostgreSQL schema reached through a proxy the test can cut: (url, proxy)."""
    with _postgres_schema() as url:
        parsed = make_url(url)
        with proxy(parsed.host or "127.0.0.1", parsed.port or 5432) as running:
            yield parsed.set(host="127.0.0.1", port=running.port).render_as_string(hide_password=False), running


def many(n: int, prefix: str = "rep") -> str:
    return "\n".join(f"""- name: {prefix}-{i:04}
  crm: salesforce
  crm_user_email: {prefix}{i}@acme.example
  mailbox_provider: google
  mailbox_email: {prefix}{i}@acme.example
  grants:
    - {{role: mail, provider: google, account: {prefix}{i}@acme.example,
       refresh_token: 1//rt-{i}}}""" for i in range(n))


async def answers(bot: Bot, count: int) -> list[str]:
    return [json.dumps(c.params, ensure_ascii=False) for c in await bot.responses(count, timeout=30)]


@pytest.mark.postgres
async def test_postgres_going_away_gets_clear_answers_and_service_resumes_without_restart(
        start_bot: StartBot, pg_behind_proxy: tuple[str, Proxy], tmp_path: Path) -> None:
    url, cut = pg_behind_proxy
    bot: Bot = await start_bot(providers={
        **provider_env(1), "CHATOPS_DATABASE_URL": url})
    status, _ = await bot.command(ACME, "U0ANA")
    assert status == 200
    [first] = await answers(bot, 1)
    assert "ana-salesforce-gmail" in first

    await asyncio.to_thread(cut.down)
    started = time.monotonic()
    status, ack = await bot.command(ACME, "U0ANA")
    assert status == 200 and time.monotonic() - started < 3.0, ack  # Slack heard back in time
    [_, during] = await answers(bot, 2)
    assert "database" in during.lower() and "Something went wrong" not in during, during

    await asyncio.to_thread(cut.up)  # back: the same process serves again
    status, _ = await bot.command(ACME, "U0ANA")
    assert status == 200
    [*_, after] = await answers(bot, 3)
    assert "ana-salesforce-gmail" in after


@pytest.mark.postgres
async def test_an_import_cut_off_by_the_outage_is_all_or_nothing(pg_behind_proxy: tuple[str, Proxy]) -> None:
    url, cut = pg_behind_proxy
    cipher = GrantCipher([GrantCipher.generate_key()])
    store = await asyncio.to_thread(Store.open, url, cipher)
    try:
        for attempt, delay in enumerate((0.0, 0.01, 0.05, 0.2)):
            workspace = f"local:w{attempt}"
            await asyncio.to_thread(store.ensure_workspace, Workspace(workspace, "Acme"))
            records = parse_connections(many(1500), workspace)
            outcome: list[BaseException | int] = []

            def run(records=records, workspace=workspace, outcome=outcome) -> None:  # type: ignore[no-untyped-def]
                try:
                    outcome.append(len(store.import_connections(workspace, records)))
                except StoreError as exc:
                    outcome.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            await asyncio.sleep(delay)
            await asyncio.to_thread(cut.down)
            await asyncio.to_thread(worker.join, 30)
            await asyncio.to_thread(cut.up)
            stored = len(await asyncio.to_thread(store.list_connections, workspace))
            assert stored in (0, 1500), (delay, stored, outcome)  # never a part of the file
            if isinstance(outcome[0], StoreError):
                assert "\n" not in str(outcome[0]) and "PostgreSQL" in str(outcome[0])
            if stored == 0:  # the same import, once the database is back, goes through whole
                assert len(await asyncio.to_thread(store.import_connections, workspace, records)) == 1500
    finally:
        await asyncio.to_thread(store.close)


async def test_sqlite_locked_by_another_writer_still_answers_and_catches_up(start_bot: StartBot,
                                                                           tmp_path: Path) -> None:
    bot: Bot = await start_bot()
    workspace = f"slack:{ACME}"
    history = bot.services.store.run_history
    await bot.command(ACME, "U0ANA")
    await answers(bot, 1)
    runs = len(await asyncio.to_thread(history, workspace))

    other = sqlite3.connect(tmp_path / "bot.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN EXCLUSIVE")  # a backup tool or a stuck process holds the write lock
    try:
        started = time.monotonic()
        status, _ = await bot.command(ACME, "U0ANA")
        assert status == 200 and time.monotonic() - started < 3.0
        [_, during] = await answers(bot, 2)
        assert "ana-salesforce-gmail" in during  # the diagnosis is answered even though it can't be kept
        assert len(await asyncio.to_thread(history, workspace)) == runs  # reads go on meanwhile
    finally:
        other.execute("ROLLBACK")
        other.close()

    await bot.command(ACME, "U0ANA")
    await answers(bot, 3)
    assert len(await asyncio.to_thread(history, workspace)) == runs + 1  # writing again, no restart


def test_reading_an_installation_does_not_wait_for_another_writer(tmp_path: Path) -> None:
    # every Slack request reads its installation: with BEGIN IMMEDIATE that read queued behind any writer
    # (and failed after SQLite's busy timeout) although WAL lets readers through
    from chatops.model import Secret
    from chatops.store.installations import Installation

    store = Store.open(f"sqlite:///{tmp_path / 'i.db'}?timeout=2", GrantCipher([GrantCipher.generate_key()]))
    store.ensure_workspace(Workspace("slack:T1", "Acme", "slack", "T1"))
    store.installations.save(Installation(workspace_id="slack:T1", platform="slack", team_id="T1",
                                          bot_token=Secret("xoxb-1-secret"), bot_id="B1", bot_user_id="U1"))
    other = sqlite3.connect(tmp_path / "i.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        found = store.installations.find("slack:T1")
        assert found is not None and found.bot_token.reveal() == "xoxb-1-secret"
        assert time.monotonic() - started < 0.5
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()
