"""Handlers that show sync status: your connections, someone's, one, all, and a connection's log patterns."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chatops.cards import Block, Card, Facts, Header, Line, Note, clip
from chatops.chat import CommandRequest, Reply
from chatops.classify import default_classifier, group
from chatops.commands import grammar
from chatops.errors import CommandError, NotFound
from chatops.model import Connection

if TYPE_CHECKING:
    from chatops.core import Chatops


def owns(email: str, connection: Connection) -> bool:
    email = email.lower()
    return bool(email) and email in {connection.owner_email.lower(), connection.crm_user_email.lower(),
                                     connection.mailbox_email.lower()}


async def visible(core: Chatops, request: CommandRequest, key: str) -> Connection:
    """One connection by id or name, if the asker may see it; otherwise the same NotFound as a missing one."""
    try:
        connection = await asyncio.to_thread(core.store.get_connection, request.workspace_id, key)
    except NotFound:
        connection = None
    if connection is None or not (request.user.is_admin or owns(request.user.email, connection)):
        names = [c.name for c in await mine(core, request)]
        raise CommandError(f"You have no connection called {key!r}.", grammar.suggest(key, names))
    return connection


async def mine(core: Chatops, request: CommandRequest) -> list[Connection]:
    if not request.user.email:
        return []
    found = await asyncio.to_thread(core.store.connections_for, request.workspace_id, request.user.email)
    core.counts.note(request.workspace_id, len(found), request.user.email)
    return found


async def targets(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> list[Connection]:
    """What a status command is about: nothing (mine), an email, or a connection name/id."""
    if not args:
        if not request.user.email:
            raise CommandError("I could not find your email address, so I cannot tell which connections are yours.")
        return await mine(core, request)
    from chatops.commands import WORDS

    if len(args) > 1:
        word = grammar.suggest(args[0], WORDS - {"?"})
        if word is not None:  # "lgos ana-sf": a command word with a typo
            raise CommandError(f"I don't know the command {args[0]!r}.", f"{word} {' '.join(args[1:])}".strip())
        raise CommandError(f"I expected one person or connection, not {len(args)} words.")
    arg = args[0]
    if grammar.is_email(arg):
        if arg.lower() != request.user.email.lower() and not request.user.is_admin:
            raise CommandError("Only workspace admins can check someone else's connections.")
        found = await asyncio.to_thread(core.store.connections_for, request.workspace_id, arg)
        if not found:
            raise CommandError(f"{arg} has no connections in this workspace.")
        return found
    try:
        return [await visible(core, request, arg)]
    except CommandError as exc:
        word = grammar.suggest(arg, WORDS - {"?"})
        raise CommandError(str(exc), exc.suggestion or word) from None


async def status(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    connections = await targets(core, request, args)
    if not connections:
        return Reply("You have no connections yet. Ask your admin to add yours, then try again.", ephemeral=True)
    return await core.diagnosis_reply(request.workspace_id, connections, viewer=request.user,
                                      progress=request.progress)


async def all_connections(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    connections = await asyncio.to_thread(core.store.list_connections, request.workspace_id)
    core.counts.note(request.workspace_id, len(connections))
    if not connections:
        return Reply("This workspace has no connections yet.", ephemeral=True)
    return await core.diagnosis_reply(request.workspace_id, connections, viewer=request.user,
                                      progress=request.progress)


async def log_patterns(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    if len(args) != 1:
        raise CommandError("Say which connection: /syncstatus logs <connection>.")
    connection = await visible(core, request, args[0])
    events = await asyncio.to_thread(core.store.events, request.workspace_id, connection.id)
    title = f"Sync log of {connection.name}"
    if not events:
        return Reply(f"{title}: no log lines were ingested.", card=Card(title, (
            Header(title), Line("No sync log lines were ingested for this connection."),
            Note("An admin can add them with: chatops logs ingest FILE --connection " + connection.id))))
    patterns = group(((e.line, e.at, e.connection_id) for e in events), default_classifier())
    blocks: list[Block] = [Header(title), Note(f"{len(events)} lines, {len(patterns)} patterns, most frequent first.")]
    for p in patterns[:8]:
        seen = f"last {p.last_seen:%d %b %H:%M} UTC" if p.last_seen else "no timestamps"
        blocks.append(Line(clip(f"{p.count} x {p.signature} ({p.cause.value}): {p.explanation}", 1000), bold=True))
        blocks.append(Facts((("example", clip(p.example, 500)), ("seen", seen), ("fix", clip(p.fix, 500)))))
    return Reply(f"{title}: {len(patterns)} patterns", card=Card(title, tuple(blocks)))
