"""The help text, built from COMMANDS so it cannot drift from the grammar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatops.cards import Block, Card, Header, Line, Note
from chatops.chat import Reply

if TYPE_CHECKING:
    from chatops.commands import Command


SLASH = "/syncstatus"  # how COMMANDS write usages; shown with the platform's own way of invoking it


def help_reply(commands: Sequence[Command], *, word: str = SLASH, problem: str = "",
               suggestion: str | None = None) -> Reply:
    """The help card; `word` is how the user invokes the bot here ("/syncstatus" in Slack, "syncstatus" in Teams)."""
    title = f"How to use {word}"
    blocks: list[Block] = [Header(title)]
    if problem:
        blocks.append(Line(problem, bold=True))
    if suggestion:
        blocks.append(Line(f"Did you mean: {word} {suggestion}"))
    for command in commands:
        usage = word + command.usage.removeprefix(SLASH)
        blocks.append(Line(f"{usage}: {command.summary}" + (" (admins)" if command.admin_only else "")))
    blocks.append(Note("Each card shows what is wrong, the evidence and the fix, with Reconnect and Retest buttons."))
    text = problem or title
    if suggestion:
        text += f" Did you mean {word} {suggestion}?"
    return Reply(text, card=Card(title, tuple(blocks)), ephemeral=True)
