"""subscribe, unsubscribe, audit: a channel's scheduled digest and alerts, and the digest on demand."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from chatops.audits.schedule import Cadence, Schedule, parse_schedule
from chatops.audits.service import schedule_of
from chatops.chat import ChatUser, CommandRequest, Reply
from chatops.errors import CommandError
from chatops.store import new_id
from chatops.store.audits import SubscriptionRow

if TYPE_CHECKING:
    from chatops.core import Chatops

# How chat text names a channel: Slack escapes "#sales" to <#C0123|sales>; a bare "#sales" it could not link.
_LINKED: Final = re.compile(r"^<#([A-Z0-9]+)(?:\|([^>]*))?>$")


def _destination(request: CommandRequest, args: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
    """(channel id, how to call it, the remaining words): a named channel first, else where the command was typed."""
    if args and (linked := _LINKED.match(args[0])):
        return linked.group(1), f"#{linked.group(2)}" if linked.group(2) else "that channel", args[1:]
    if args and args[0].startswith("#"):
        raise CommandError(f"I can't tell which channel {args[0]} is. Type the command in that channel, or pick "
                           "the channel from the list as you type # so it becomes a link.")
    if not request.channel_id:
        raise CommandError("Run this in the channel that should get the digest.")
    return request.channel_id, "this channel", args


async def subscribe(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    destination, name, rest = _destination(request, args)
    schedule = parse_schedule(rest)
    saved = await save_subscription(core, request.workspace_id, request.user, destination,
                                    name if name.startswith("#") else "", schedule)
    return Reply(confirmation(name, schedule_of(saved), core.runner.clock.now(), request.command), ephemeral=False)


async def save_subscription(core: Chatops, workspace_id: str, user: ChatUser, destination: str, name: str,
                            schedule: Schedule) -> SubscriptionRow:
    """Subscribe `destination` (a channel id) with `schedule`, or change its schedule: `subscribe` and the
    App Home settings both save through here. `name` is how people call the channel ("#sales"), or ""."""
    row = SubscriptionRow(
        id=new_id("s_"), workspace_id=workspace_id, platform=user.platform, destination=destination,
        destination_name=name, cadence=schedule.cadence.value, weekday=schedule.weekday, hour=schedule.at.hour,
        minute=schedule.at.minute, timezone=schedule.timezone, created_by=user.user_id,
        created_at=core.runner.clock.now())
    return await asyncio.to_thread(core.store.audits.subscribe, row)


def confirmation(name: str, schedule: Schedule, now: datetime, command: str) -> str:
    first = schedule.next_fire(now)
    local = first.astimezone(schedule.zone)
    what = "weekly" if schedule.cadence is Cadence.WEEKLY else "daily"
    return (f"Subscribed {name} to the {what} sync digest, {schedule.describe()}. The next one comes "
            f"{local:%a %d %b %H:%M} {schedule.timezone}"
            + ("" if schedule.timezone == "UTC" else f" ({first.astimezone(UTC):%H:%M} UTC)")
            + f". Alerts (quota, expiring sign-ins, repeated failures, new errors) are posted here too, checked "
              f"every 15 minutes. `{command} unsubscribe` stops both.")


async def unsubscribe(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    destination, name, rest = _destination(request, args)
    if rest:
        raise CommandError(f"unsubscribe takes only a channel, not {' '.join(rest)!r}.")
    removed = await asyncio.to_thread(core.store.audits.unsubscribe, request.workspace_id, destination)
    if removed is None:
        return Reply(f"{name[:1].upper() + name[1:]} has no sync digest subscription; nothing to stop.",
                     ephemeral=True)
    return Reply(f"Unsubscribed {name}: no more sync digests or alerts here. "
                 f"`{request.command} subscribe` starts them again.", ephemeral=False)


async def audit_preview(core: Chatops, request: CommandRequest, args: tuple[str, ...]) -> Reply:
    if args:
        raise CommandError(f"audit takes no arguments, not {' '.join(args)!r}.")
    reply = await core.audits.preview(request.workspace_id)
    return Reply(reply.text, card=reply.card, ephemeral=True)

