"""The /syncstatus grammar through the core: help, "did you mean", permissions, targets; a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from adapters.wiring import Config, Services, build
from chatops.chat import ChatUser, CommandRequest
from chatops.commands import grammar
from chatops.errors import CommandError
from chatops.imports import parse_connections
from chatops.model import Workspace

WS = "local"
RECORDS = """
connections:
  - {name: ana-sf, crm: salesforce, crm_user_email: ana@acme.example, mailbox_provider: imap,
     mailbox_email: ana@acme.example, mail_host: mail.invalid}
  - {name: bob-hs, crm: hubspot, crm_user_email: bob@acme.example, mailbox_provider: imap,
     mailbox_email: bob@acme.example, mail_host: mail.invalid}
"""
ANA = ChatUser("slack", "U1", email="ana@acme.example", name="Ana")
ADMIN = ChatUser("slack", "U0", email="admin@acme.example", name="Admin", is_admin=True)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    services = build(Config.load({"CHATOPS_DATA_DIR": str(tmp_path), "CHATOPS_ENCRYPTION_KEYS": "",
                                  "CHATOPS_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
                                  "CHATOPS_DISABLED_CHECKS": "network,quota,identity,schedule,calendar,testsync,"
                                                             "credentials"}))
    services.store.ensure_workspace(Workspace(WS, "Acme"))
    services.store.import_connections(WS, parse_connections(RECORDS, WS))
    yield services
    services.store.close()


def ask(user: ChatUser, text: str, command: str = "/syncstatus") -> CommandRequest:
    return CommandRequest(WS, user, text, command=command)


async def test_help_speaks_the_platforms_own_command_word(services: Services) -> None:
    slack = await services.core.handle_command(ask(ANA, "help"))
    teams = await services.core.handle_command(ask(ANA, "help", command="syncstatus"))

    assert slack.text == "How to use /syncstatus" and slack.ephemeral
    assert teams.text == "How to use syncstatus"
    assert teams.card is not None and "/syncstatus" not in repr(teams.card)
    assert "syncstatus all: every connection in the workspace (admins)" in repr(teams.card)


async def test_a_typo_gets_help_with_a_suggestion(services: Services) -> None:
    reply = await services.core.handle_command(ask(ANA, "lgos ana-sf"))

    assert reply.ephemeral
    assert reply.text == "I don't know the command 'lgos'. Did you mean /syncstatus logs ana-sf?"


async def test_only_admins_see_everything_and_members_only_their_own(services: Services) -> None:
    refused = await services.core.handle_command(ask(ANA, "all"))
    assert refused.text.startswith("Only workspace admins can use `/syncstatus all`.")

    foreign = await services.core.handle_command(ask(ANA, "bob-hs"))  # exists, but is not hers
    assert foreign.text.startswith("You have no connection called 'bob-hs'.")

    other = await services.core.handle_command(ask(ANA, "bob@acme.example"))
    assert other.text.startswith("Only workspace admins can check someone else's connections.")

    mine = await services.core.handle_command(ask(ANA, ""))
    assert mine.card is not None and mine.card.title == "Sync status: ana-sf"

    everything = await services.core.handle_command(ask(ADMIN, "all"))
    assert everything.card is not None and everything.card.title == "Sync status: 2 connections"


async def test_the_placeholder_says_how_many_connections_are_checked(services: Services) -> None:
    assert (await services.core.placeholder(ask(ADMIN, "all"))).text == "Checking 2 connections…"
    assert (await services.core.placeholder(ask(ANA, ""))).text == "Checking 1 connection…"
    assert (await services.core.placeholder(ask(ANA, "help"))).text == "Working on it…"


async def test_the_placeholder_count_is_read_once_and_each_status_command_refreshes_it(services: Services) -> None:
    # A COUNT per ack queued behind the running diagnoses' store work: at 50 concurrent commands the acks'
    # p99 was 340 ms against a bare bolt app's 18 ms (bench/ack.py).
    statements: list[str] = []
    event.listen(services.store.engine, "before_cursor_execute",
                 lambda _c, _k, statement, *_: statements.append(statement))
    assert (await services.core.placeholder(ask(ANA, ""))).text == "Checking 1 connection…"
    read = len(statements)
    assert read > 0 and not any("grant" in s.lower() for s in statements)
    for _ in range(3):
        assert (await services.core.placeholder(ask(ANA, ""))).text == "Checking 1 connection…"
    assert len(statements) == read

    # another process adds one of Ana's connections: her next status command reads it, the next ack counts it
    services.store.import_connections(WS, parse_connections(RECORDS.replace("ana-sf", "ana-two").replace(
        "bob-hs", "bob-two"), WS))
    mine = await services.core.handle_command(ask(ANA, ""))
    assert mine.card is not None and mine.card.title == "Sync status: 2 connections"
    assert (await services.core.placeholder(ask(ANA, ""))).text == "Checking 2 connections…"


@pytest.mark.parametrize("text, word, args", [
    ("", "", ()),
    ("ALL", "all", ()),
    ("logs  ana-sf", "logs", ("ana-sf",)),
    ("<mailto:bob@acme.example|bob@acme.example>", "", ("bob@acme.example",)),
])
def test_the_grammar_splits_the_command_word_from_its_arguments(text: str, word: str, args: tuple[str, ...]) -> None:
    assert grammar.parse(text, {"all", "logs", "help"}) == grammar.Parsed(word, args)


def test_an_overlong_command_is_refused_clearly() -> None:
    with pytest.raises(CommandError, match="too long"):
        grammar.parse("x" * 501, {"all"})
