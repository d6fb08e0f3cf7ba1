"""The App Home tab as neutral cards (workspace health and its trend, the viewer's connections, the digest
settings for admins), and the digest settings form those cards open."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Final

from chatops.audits.digest import sparkline
from chatops.audits.schedule import (
    DEFAULT_TIME,
    DEFAULT_TIMEZONE,
    DEFAULT_WEEKDAY,
    WEEKDAYS,
    Cadence,
    Schedule,
    parse_time,
    parse_zone,
)
from chatops.audits.service import schedule_of
from chatops.cards import STATUS_WORDS, Block, Button, Buttons, Card, Header, Line, Note, report_card
from chatops.chat import ChatUser, CommandRequest
from chatops.commands.status import mine
from chatops.commands.subscriptions import save_subscription
from chatops.errors import ChatopsError, CommandError, NotFound
from chatops.findings import ActionKind, Status
from chatops.report import Report
from chatops.store.audits import SubscriptionRow

if TYPE_CHECKING:
    from chatops.core import Chatops

TREND_AUDITS: Final = 4
FIELDS: Final = ("channel", "cadence", "weekday", "time", "timezone")  # the digest form, in order
ADMINS_ONLY: Final = "Only workspace admins can change the digest settings."
_FAILING: Final = frozenset({Status.FAIL.value, Status.ERROR.value})


# ---------------------------------------------------------------- the tab


async def home_cards(core: Chatops, workspace_id: str, user: ChatUser, *, page: int = 1) -> list[Card]:
    """The Home tab: the workspace at a glance, the viewer's connections from their latest results, and for
    admins the digest settings. Built from the store, with no new diagnosis."""
    store = core.store
    everyone = await asyncio.to_thread(store.list_connections, workspace_id)
    findings = {c.id: await asyncio.to_thread(store.latest_findings, workspace_id, c.id) for c in everyone}
    now = core.runner.clock.now()
    checked = [c for c in everyone if findings[c.id]]
    overall = Report.build(checked, [f for c in checked for f in findings[c.id]], now, now)
    health: list[Block] = [Header("Workspace health")]
    if not everyone:
        health.append(Line("No connections are set up in this workspace yet."))
    else:
        counts = overall.counts()
        ranked = sorted(counts.items(), key=lambda item: -item[0].rank)
        words = [f"{n} {STATUS_WORDS[status].lower()}" for status, n in ranked if n]
        if len(everyone) > len(checked):
            words.append(f"{len(everyone) - len(checked)} not checked yet")
        health.append(Line(" · ".join(words), bold=True))
        causes = overall.cause_counts()
        if causes:
            top = ", ".join(f"{cause.value} ({n})" for cause, n in causes.most_common(3))
            health.append(Note(f"Top causes: {top}"))
    health.append(Note(trend_text(await asyncio.to_thread(store.audits.audit_snapshots, workspace_id))))
    cards = [Card("Workspace health", tuple(health))]
    own = everyone if user.is_admin else await mine(core, CommandRequest(workspace_id, user, ""))
    title = "All connections" if user.is_admin else "Your connections"
    own_checked = [c for c in own if findings.get(c.id)]
    if own_checked:
        report = Report.build(own_checked, [f for c in own_checked for f in findings[c.id]], now, now)
        cards.append(report_card(report, link=core.link, page=page, title=title, viewer=user))
    unchecked = [c for c in own if not findings.get(c.id)]
    if unchecked:
        cards.append(Card("Not checked yet", (
            Note("Not checked yet: " + ", ".join(c.name for c in unchecked[:20])
                 + ". Type `/syncstatus` to check them."),)))
    if not own:
        cards.append(Card(title, (Header(title), Line(
            "You have no connections yet." if user.email else
            "I could not read your email address from Slack, "
            "so I can't tell which connections are yours."),)))
    if user.is_admin:
        cards.append(settings_card(await asyncio.to_thread(store.audits.subscriptions, workspace_id)))
    return cards


def weekly(snapshots: Sequence[tuple[datetime, dict[str, Any]]], count: int = TREND_AUDITS) -> list[dict[str, Any]]:
    """The newest audit of each of the last `count` weeks that had one, oldest first.

    Several channels (or a daily digest) audit the same week more than once; the week's latest one speaks for it.
    """
    weeks: dict[tuple[int, int], dict[str, Any]] = {}
    for sent_at, snapshot in snapshots:  # newest first
        year, week, _ = sent_at.isocalendar()
        weeks.setdefault((year, week), snapshot)
        if len(weeks) == count:
            break
    return list(reversed(weeks.values()))


def failing(snapshot: Mapping[str, Any]) -> int:
    statuses = snapshot.get("statuses")
    return sum(1 for s in statuses.values() if s in _FAILING) if isinstance(statuses, Mapping) else 0


def trend_text(snapshots: Sequence[tuple[datetime, dict[str, Any]]]) -> str:
    """'Failing: ▂▃▅█ 2 → 5 (last 4 weekly audits)', or plainly why there is no trend yet."""
    audits = weekly(snapshots)
    if not audits:
        return "Trend: no weekly audit has run yet. It shows here once a channel's digest has been posted twice."
    if len(audits) < 2:
        return "Trend: only one weekly audit so far; the trend shows from the second one on."
    values = [failing(s) for s in audits]
    return (f"Failing: {sparkline(values)} {values[0]} → {values[-1]} "
            f"(last {len(values)} weekly audits)")


def settings_card(rows: Sequence[SubscriptionRow]) -> Card:
    """The workspace's digest subscriptions with Edit / Unsubscribe, and Add digest (admins only)."""
    blocks: list[Block] = [Header("Digest settings")]
    if not rows:
        blocks.append(Line("No channel gets the sync digest yet. Add one: it also gets the alerts."))
    for row in rows:
        what = "Weekly" if row.cadence == Cadence.WEEKLY.value else "Daily"
        blocks.append(Line(f"{channel_name(row)}: {what} digest, {schedule_of(row).describe()}", bold=True))
        blocks.append(Buttons((Button("Edit", ActionKind.DIGEST_SETTINGS, row.id),
                               Button("Unsubscribe", ActionKind.UNSUBSCRIBE, row.id))))
    blocks.append(Buttons((Button("Add digest", ActionKind.DIGEST_SETTINGS, "", primary=True),)))
    return Card("Digest settings", tuple(blocks))


def channel_name(row: SubscriptionRow) -> str:
    return row.destination_name or f"channel {row.destination}"


# ---------------------------------------------------------------- the form


@dataclass(frozen=True, slots=True)
class DigestForm:
    """What the digest form shows: a subscription's settings (Edit), or the defaults (Add digest)."""

    subscription_id: str  # "" for a new subscription
    destination: str  # the channel; fixed when editing
    destination_name: str
    cadence: Cadence = Cadence.WEEKLY
    weekday: int = DEFAULT_WEEKDAY
    at: time = DEFAULT_TIME
    timezone: str = DEFAULT_TIMEZONE


class FormErrors(ChatopsError):
    """The form can't be saved: a short message per field (FIELDS); "" is about the whole form."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(" ".join(errors.values()))
        self.errors = dict(errors)


def _admin(user: ChatUser) -> None:
    if not user.is_admin:
        raise CommandError(ADMINS_ONLY)


async def _subscription(core: Chatops, workspace_id: str, subscription_id: str) -> SubscriptionRow:
    row = await asyncio.to_thread(core.store.audits.subscription, subscription_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("That digest subscription no longer exists.")
    return row


async def digest_form(core: Chatops, workspace_id: str, user: ChatUser, subscription_id: str = "") -> DigestForm:
    """The form for a new subscription (no id) or to edit one of this workspace's; admins only."""
    _admin(user)
    if not subscription_id:
        return DigestForm("", "", "")
    row = await _subscription(core, workspace_id, subscription_id)
    s = schedule_of(row)
    return DigestForm(row.id, row.destination, channel_name(row), s.cadence, s.weekday, s.at, s.timezone)


async def save_digest(core: Chatops, workspace_id: str, user: ChatUser, subscription_id: str,
                      values: Mapping[str, str]) -> tuple[SubscriptionRow, str]:
    """Check and save the form (the same path as `subscribe`); the subscription and what to tell the admin.

    Raises FormErrors naming each bad field; nothing is stored then.
    """
    if not user.is_admin:
        raise FormErrors({"": ADMINS_ONLY})
    try:
        row = await _subscription(core, workspace_id, subscription_id) if subscription_id else None
    except NotFound as exc:
        raise FormErrors({"": str(exc)}) from None
    errors: dict[str, str] = {}
    destination = row.destination if row is not None else values.get("channel", "").strip()
    if not destination:
        errors["channel"] = "Pick the channel that should get the digest."
    try:
        cadence = Cadence(values.get("cadence", "").strip().lower() or Cadence.WEEKLY.value)
    except ValueError:
        errors["cadence"] = "Choose weekly or daily."
        cadence = Cadence.WEEKLY
    day = values.get("weekday", "").strip().lower()[:3] or WEEKDAYS[DEFAULT_WEEKDAY]
    if day not in WEEKDAYS:
        errors["weekday"] = "Choose a day of the week."
    at, zone = DEFAULT_TIME, DEFAULT_TIMEZONE
    try:
        at = parse_time(values.get("time", "").strip() or "")
    except CommandError as exc:
        errors["time"] = "Pick a time of day." if not values.get("time", "").strip() else str(exc)
    try:
        zone = parse_zone(values.get("timezone", "").strip() or DEFAULT_TIMEZONE)
    except CommandError as exc:
        errors["timezone"] = str(exc)
    if errors:
        raise FormErrors(errors)
    schedule = Schedule(cadence, WEEKDAYS.index(day) if cadence is Cadence.WEEKLY else DEFAULT_WEEKDAY, at, zone)
    saved = await save_subscription(core, workspace_id, user, destination,
                                    row.destination_name if row is not None else "", schedule)
    first = schedule.next_fire(core.runner.clock.now()).astimezone(schedule.zone)
    return saved, (f"{channel_name(saved)} gets the {cadence.value} sync digest {schedule.describe()}; "
                   f"the next one comes {first:%a %d %b %H:%M}.")


async def remove_digest(core: Chatops, workspace_id: str, user: ChatUser, subscription_id: str) -> str:
    """Stop a subscription of this workspace (admins only); what to tell the admin."""
    _admin(user)
    row = await _subscription(core, workspace_id, subscription_id)
    await asyncio.to_thread(core.store.audits.unsubscribe, workspace_id, row.destination)
    return f"{channel_name(row)} no longer gets sync digests or alerts."
