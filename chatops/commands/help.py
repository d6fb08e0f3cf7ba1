"""The help text, built from COMMANDS so it cannot drift from the grammar."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from chatops.cards import Block, Card, Header, Line, Note
from chatops.chat import Reply

if TYPE_CHECKING:
    from chatops.commands import Command


def help_reply(commands: Sequence[Command], *, problem: str = "", suggestion: str | None = None) -> Reply:
    blocks: list[Block] = [Header("How to use /syncstatus")]
    if problem:
        blocks.append(Line(problem, bold=True))
    if suggestion:
        blocks.append(Line(f"Did you mean: /syncstatus {suggestion}"))
    for command in commands:
        blocks.append(Line(f"{command.usage}: {command.summary}" + (" (admins)" if command.admin_only else "")))
    blocks.append(Note("Each card shows what is wrong, the evidence and the fix, with Reconnect and Retest buttons."))
    text = problem or "How to use /syncstatus"
    if suggestion:
        text += f" Did you mean /syncstatus {suggestion}?"
    return Reply(text, card=Card("How to use /syncstatus", tuple(blocks)), ephemeral=True)
