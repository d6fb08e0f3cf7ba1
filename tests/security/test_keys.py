"""Encryption keys: rotation over 10,000 rows interrupted and resumed with every row readable throughout (grants
and Slack bot tokens), and a wrong or retired key turning into "needs reconnect" everywhere, never a crash.

The store tests cover the mechanics on 300 rows (tests/core/store/test_store.py); these go through the product:
the CLI, a diagnosis against the simulator, and Slack over HTTP."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.sandbox.demo import install
from adapters.sandbox.scenario import parse_scenario
from adapters.sandbox.simulator import start_simulator
from adapters.wiring import Config, build
from chatops.chat import ChatUser, CommandRequest
from chatops.findings import ActionKind, Status
from chatops.model import Connection, Grant, GrantRole, Provider, Secret, Workspace
from chatops.store import Store
from chatops.store.crypto import GrantCipher
from chatops.store.installations import Installation, Installations
from tests.edges.slack.conftest import ACME, Bot, StartBot
from tests.fakes.world import WORKSPACE, World, part
from tests.scenarios.test_cli import chatops

A = "slack:TACME"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CHATOPS_", "SLACK_", "MICROSOFT_APP"))}


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def people(count: int) -> list[Connection]:
    return [Connection(
        id=f"c_{n:06d}", workspace_id="", name=f"rep-{n:05d}", owner_email=f"u{n}@acme.example",
        crm=Provider.SALESFORCE, crm_user_email=f"u{n}@acme.example", mailbox_provider=Provider.GOOGLE,
        mailbox_email=f"u{n}@acme.example",
        grants=(Grant(f"g_{n:06d}m", Provider.GOOGLE, GrantRole.MAIL, f"u{n}@acme.example",
                      access_token=Secret(f"ya29.access-{n}"), refresh_token=Secret(f"1//refresh-{n}")),
                Grant(f"g_{n:06d}c", Provider.SALESFORCE, GrantRole.CRM, f"u{n}@acme.example",
                      access_token=Secret(f"00D!crm-{n}"), refresh_token=Secret(f"5Aep-crm-{n}"))))
        for n in range(count)]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_rotating_10000_grants_interrupted_at_5000_and_resumed_keeps_every_row_readable(store: Store) -> None:
    old, new = GrantCipher.generate_key(), GrantCipher.generate_key()
    writer = Store(url_of(store), GrantCipher([old]))
    rotating = Store(url_of(store), GrantCipher([new, old]))  # every replica runs with both keys meanwhile
    reader = Store(url_of(store), GrantCipher([new, old]))
    new_only = Store(url_of(store), GrantCipher([new]))
    try:
        writer.ensure_workspace(Workspace(A, "Acme", "slack", "TACME"))
        writer.import_connections(A, people(5000))  # 10,000 grants
        Installations(writer.engine, GrantCipher([old])).save(Installation(
            workspace_id=A, platform="slack", team_id="TACME", bot_token=Secret("xoxb-1-bot"),
            bot_refresh_token=Secret("xoxe-1-refresh")))

        def readable(by: Store) -> int:
            found = by.list_connections(A)
            bad = [g.id for c in found for g in c.grants if g.needs_reconnect or not g.refresh_token]
            assert not bad, bad[:5]
            assert found[1234].grants[0].refresh_token.reveal() == "1//refresh-1234"
            return len(found)

        started = time.monotonic()
        assert rotating.rotate_keys(batch=500, max_batches=10) == 5000  # interrupted half way
        assert readable(reader) == 5000
        failures: list[BaseException] = []
        stop = threading.Event()
        reads = 0

        def keep_reading() -> None:  # another replica serving requests while the rotation resumes
            nonlocal reads
            try:
                while not stop.is_set():
                    readable(reader)
                    assert Installations(reader.engine, GrantCipher([new, old])).find(A) is not None
                    reads += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        thread = threading.Thread(target=keep_reading)
        thread.start()
        try:
            resumed = rotating.rotate_keys(batch=500)  # the rest, and the bot token
        finally:
            stop.set()
            thread.join()
        took = time.monotonic() - started
        assert failures == [] and reads >= 1
        assert resumed == 5000 + 1
        assert rotating.rotate_keys() == 0
        assert readable(new_only) == 5000  # the old key can be retired now
        bot = Installations(new_only.engine, GrantCipher([new])).find(A)
        assert bot is not None and bot.bot_token.reveal() == "xoxb-1-bot"
        with store.engine.connect() as db:
            keys = {row[0] for row in db.execute(text("SELECT DISTINCT key_id FROM grants"))}
        assert keys == {GrantCipher([new]).key_id}
        print(f"\nrotated 10,000 grants + 1 bot token in {took:.1f} s, {reads} full reads meanwhile")
    finally:
        for opened in (writer, rotating, reader, new_only):
            opened.close()


def test_the_cli_rotates_and_a_retired_key_leaves_no_row_behind(tmp_path: Path) -> None:
    old, new = GrantCipher.generate_key(), GrantCipher.generate_key()
    url = f"sqlite:///{tmp_path / 'c.db'}"
    seeded = Store.open(url, GrantCipher([old]))
    seeded.ensure_workspace(Workspace(A, "Acme"))
    seeded.import_connections(A, people(30))
    seeded.close()
    env = {**clean_env(), "CHATOPS_DATABASE_URL": url, "CHATOPS_DATA_DIR": str(tmp_path),
           "CHATOPS_ENCRYPTION_KEYS": f"{new},{old}"}

    result = chatops("keys", "rotate", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "60" in result.stdout
    assert old not in result.stdout + result.stderr and new not in result.stdout + result.stderr
    retired = Store.open(url, GrantCipher([new]))
    try:
        assert all(not g.needs_reconnect for c in retired.list_connections(A) for g in c.grants)
    finally:
        retired.close()

    wrong = chatops("keys", "rotate", env={**env, "CHATOPS_ENCRYPTION_KEYS": "not-a-key"})
    said = wrong.stdout + wrong.stderr
    assert wrong.returncode == 2 and "not-a-key" not in said and "Traceback" not in said


async def test_a_retired_key_turns_into_reconnect_in_a_diagnosis_without_calling_the_provider(
        tmp_path: Path) -> None:
    world = World()
    ana = world.person("ana", mail="google")
    simulator = await start_simulator(parse_scenario(world.scenario(), source="keys"))
    try:
        env = {**simulator.settings_env(), "CHATOPS_DATA_DIR": str(tmp_path),
               "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
        first = build(Config.load({**env, "CHATOPS_ENCRYPTION_KEYS": GrantCipher.generate_key()}))
        await asyncio.to_thread(install, first.store, simulator, WORKSPACE)
        await first.close()
        issued = len(simulator.state.access)

        # the key that wrote the grants is gone (lost, or retired before the rotation finished)
        later = build(Config.load({**env, "CHATOPS_ENCRYPTION_KEYS": GrantCipher.generate_key()}))
        try:
            connections = await asyncio.to_thread(later.store.list_connections, WORKSPACE.id)
            assert all(g.needs_reconnect for c in connections for g in c.grants)
            report = await later.core.diagnose(WORKSPACE.id, connections)
            admin = ChatUser("local", "U0ADMIN", "admin@acme.example", "Admin", is_admin=True)
            reply = await later.core.handle_command(CommandRequest(WORKSPACE.id, admin, "all"))
        finally:
            await later.close()
    finally:
        await simulator.stop()

    credentials = [f for f in part(report, ana).findings if f.check == "credentials"]
    assert credentials and all(f.status is Status.FAIL for f in credentials)
    assert all(ActionKind.RECONNECT in {a.kind for a in f.actions} for f in credentials)
    assert not [f for f in report.findings if "failed unexpectedly" in f.summary]
    assert len(simulator.state.access) == issued  # no token endpoint was asked with a token we can't read
    assert reply.card is not None and "Reconnect" in str(reply.card)


async def test_a_slack_installation_under_a_retired_key_asks_for_a_reinstall_not_a_500(start_bot: StartBot) -> None:
    bot: Bot = await start_bot()
    store = bot.services.store
    foreign = Installations(store.engine, GrantCipher([GrantCipher.generate_key()]))
    found = await bot.installs.find(ACME)
    assert found is not None
    await asyncio.to_thread(foreign.save, found)  # the same installation, now under a key we don't hold

    status, _ = await bot.command(ACME, "U0ANA")

    assert status == 200
    [delivery] = await bot.responses(1)
    assert "install" in delivery.params["text"].lower()
