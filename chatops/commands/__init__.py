"""COMMANDS: every `/syncstatus` word in one table, and dispatch(request) -> Reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from chatops.chat import CommandRequest, Reply
from chatops.commands import grammar, status, subscriptions
from chatops.commands.help import SLASH
from chatops.errors import CommandError

if TYPE_CHECKING:
    from chatops.core import Chatops

Handler = Callable[["Chatops", CommandRequest, tuple[str, ...]], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command:
    word: str
    handler: Handler
    usage: str
    summary: str
    admin_only: bool = False


async def _help(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    from chatops.commands.help import help_reply

    return help_reply(COMMANDS, word=request.command)


COMMANDS: Final[tuple[Command, ...]] = (
    Command("", status.status, "/syncstatus", "your connections"),
    Command("", status.status, "/syncstatus @person or email", "someone's connections (yours, or admins)"),
    Command("", status.status, "/syncstatus <connection>", "one connection, by name or id"),
    Command("all", status.all_connections, "/syncstatus all", "every connection in the workspace",
            admin_only=True),
    Command("logs", status.log_patterns, "/syncstatus logs <connection>", "the top error patterns in its sync log"),
    Command("subscribe", subscriptions.subscribe, "/syncstatus subscribe [#channel] [weekly|daily] [mon 09:00] "
            "[Europe/Berlin]", "post the sync digest and alerts in a channel", admin_only=True),
    Command("unsubscribe", subscriptions.unsubscribe, "/syncstatus unsubscribe [#channel]",
            "stop a channel's digest and alerts", admin_only=True),
    Command("audit", subscriptions.audit_preview, "/syncstatus audit", "the digest now, just for you",
            admin_only=True),
    Command("help", _help, "/syncstatus help", "this help"),
)
WORDS: Final[frozenset[str]] = frozenset(c.word for c in COMMANDS if c.word) | {"?"}


def find(word: str) -> Command:
    word = "help" if word == "?" else word
    return next(c for c in COMMANDS if c.word == word)


async def dispatch(core: Chatops, request: CommandRequest) -> Reply:
    """Parse and run one command; grammar and permission problems become a short ephemeral reply."""
    from chatops.commands.help import help_reply

    try:
        parsed = grammar.parse(request.text, WORDS)
        command = find(parsed.word)
        if command.admin_only and not request.user.is_admin:
            usage = request.command + command.usage.removeprefix(SLASH)
            return Reply(f"Only workspace admins can use `{usage}`. "
                         f"Use `{request.command}` to see your own connections.", ephemeral=True)
        return await command.handler(core, request, parsed.args)
    except CommandError as exc:
        return help_reply(COMMANDS, word=request.command, problem=str(exc), suggestion=exc.suggestion)
