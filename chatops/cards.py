"""A neutral card model (no platform JSON) and the cards chatops shows: reports, overviews, help.

Text in a card is plain text: renderers escape it for their platform, so a name or a log line can never
ping a channel or spoof a link.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from chatops.findings import ActionKind, Finding, Status
from chatops.model import Connection
from chatops.report import ConnectionReport, Report

if TYPE_CHECKING:  # chat.py imports this module
    from chatops.chat import ChatUser

PAGE_SIZE = 8  # connections per overview page; keeps a Slack message well under 50 blocks
MAX_TEXT = 2800  # below Slack's 3000-character section limit, with room for escaping
CHECKING = "Checking…"
STATUS_WORDS = {Status.OK: "Healthy", Status.WARN: "Needs attention", Status.FAIL: "Broken",
                Status.ERROR: "Could not check", Status.SKIPPED: "Not checked"}


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    kind: ActionKind
    target: str = ""  # connection id or "<connection id>:<role>"
    value: str = ""
    url: str = ""  # for OPEN_URL and signed Reconnect links
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Header:
    text: str


@dataclass(frozen=True, slots=True)
class Line:
    """One line of text, optionally led by a status and emphasised."""

    text: str
    status: Status | None = None
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    pairs: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Steps:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Note:
    text: str


@dataclass(frozen=True, slots=True)
class Buttons:
    buttons: tuple[Button, ...]


@dataclass(frozen=True, slots=True)
class Divider:
    pass


Block = Header | Line | Facts | Steps | Note | Buttons | Divider


@dataclass(frozen=True, slots=True)
class Card:
    title: str
    blocks: tuple[Block, ...] = ()
    status: Status | None = None
    details: tuple[Block, ...] = field(default=())  # shown on demand (Slack modal / Teams ShowCard)


LinkMaker = Callable[[Connection, str, "ChatUser | None"], str]
"""Makes the signed Reconnect URL for (connection, "<connection id>:<role>", the chat user the card is for);
"" when not configured or when the card has no single viewer to bind the link to."""


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def connection_blocks(part: ConnectionReport, *, checked_at: datetime, link: LinkMaker | None = None,
                      with_details: bool = True, viewer: ChatUser | None = None) -> list[Block]:
    """A connection's status line, every problem with evidence and fix, and its buttons."""
    c = part.connection
    blocks: list[Block] = [
        Line(f"{c.name}: {STATUS_WORDS[part.status]}", status=part.status, bold=True),
        Note(f"{c.crm.label} {c.crm_user_email} ↔ {c.mailbox_provider.label} {c.mailbox_email}"
             + (f" ↔ {c.calendar_provider.label} calendar" if c.calendar_provider else "")
             + f" · checked {checked_at:%d %b %H:%M} UTC"),
    ]
    for finding in part.problems:
        blocks.append(Line(clip(finding.summary), status=finding.status))
        if finding.evidence:
            blocks.append(Note(clip(" · ".join(f"{e.label}: {e.value}" for e in finding.evidence[:4]), 1900)))
        if finding.remedy:
            blocks.append(Steps(tuple(clip(step, 600) for step in finding.remedy[:5])))
    blocks.append(Buttons(connection_buttons(part, link=link, with_details=with_details, viewer=viewer)))
    return blocks


def connection_buttons(part: ConnectionReport, *, link: LinkMaker | None = None,
                       with_details: bool = True, viewer: ChatUser | None = None) -> tuple[Button, ...]:
    c = part.connection
    buttons: list[Button] = []
    for action in dict.fromkeys(a for f in part.problems for a in f.actions):
        if action.kind is ActionKind.RECONNECT:
            url = link(c, action.target, viewer) if link is not None else ""
            # the value repeats the link: Slack reports a link button's click without its url
            buttons.append(Button(action.label, ActionKind.RECONNECT, action.target, value=url, url=url,
                                  primary=True))
        elif action.kind is ActionKind.OPEN_URL and action.target:
            buttons.append(Button(action.label, ActionKind.OPEN_URL, c.id, url=action.target))
    buttons.append(Button("Retest", ActionKind.RETEST, c.id))
    if with_details:
        buttons.append(Button("Details", ActionKind.DETAILS, c.id))
    if part.problems:
        buttons.append(Button("Snooze alerts", ActionKind.SNOOZE, c.id, value="1d"))
    return tuple(buttons[:5])


def finding_blocks(findings: Sequence[Finding]) -> list[Block]:
    """Every finding with all its evidence and fix steps (the Details view)."""
    blocks: list[Block] = []
    for f in findings:
        blocks.append(Line(clip(f"[{f.check}] {f.summary}"), status=f.status))
        if f.evidence:
            blocks.append(Facts(tuple((clip(e.label, 200), clip(e.value, 1500)) for e in f.evidence[:10])))
        if f.remedy:
            blocks.append(Steps(tuple(clip(s, 600) for s in f.remedy)))
    return blocks


def report_card(report: Report, *, link: LinkMaker | None = None, page: int = 1,
                page_size: int = PAGE_SIZE, title: str = "Sync status", viewer: ChatUser | None = None) -> Card:
    """One connection: its full card. Several: an overview, worst first, one row per connection, paged."""
    parts = report.worst_first()
    if len(parts) == 1:
        part = parts[0]
        return Card(title=f"{title}: {part.connection.name}", status=part.status,
                    blocks=(Header(f"{title}: {part.connection.name}"),
                            *connection_blocks(part, checked_at=report.finished_at, link=link, viewer=viewer)),
                    details=tuple(finding_blocks(part.findings)))
    counts = report.counts()
    causes = report.cause_counts()
    pages = max(1, -(-len(parts) // page_size))
    page = min(max(1, page), pages)
    blocks: list[Block] = [
        Header(f"{title}: {len(parts)} connections"),
        Line(" · ".join(f"{counts[s]} {STATUS_WORDS[s].lower()}" for s in
                        (Status.FAIL, Status.ERROR, Status.WARN, Status.OK) if counts[s]), bold=True),
    ]
    if causes:
        blocks.append(Note("Causes: " + ", ".join(f"{cause.value} ({n})" for cause, n in causes.most_common())))
    for part in parts[(page - 1) * page_size: page * page_size]:
        blocks.extend((Divider(), overview_row(part), Buttons(connection_buttons(part, link=link, viewer=viewer))))
    if pages > 1:
        nav = []
        if page > 1:
            nav.append(Button("◀ Previous", ActionKind.PAGE, "", value=str(page - 1)))
        if page < pages:
            nav.append(Button("Next ▶", ActionKind.PAGE, "", value=str(page + 1)))
        blocks.extend([Divider(), Note(f"Page {page} of {pages}"), Buttons(tuple(nav))])
    return Card(title=f"{title}: {len(parts)} connections", status=report.status, blocks=tuple(blocks))


def overview_row(part: ConnectionReport) -> Line:
    """A connection's line in an overview: its worst problem, or that everything checked out."""
    first = part.problems[0].summary if part.problems else "Everything checked out."
    return Line(clip(f"{part.connection.name}: {first}", 1000), status=part.status)


def progress_card(report: Report, pending: Sequence[Connection], *, page_size: int = PAGE_SIZE,
                  title: str = "Sync status") -> Card:
    """A diagnosis under way: the connections in `report` show their result, those `pending` "Checking…".

    Shaped like the overview that replaces it (same header, same rows) but without buttons, which would act
    on a card about to change; the rows past one page are counted, not shown.
    """
    parts = report.worst_first()
    total = len(parts) + len(pending)
    counts = report.counts()
    tally = [f"{counts[s]} {STATUS_WORDS[s].lower()}" for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.OK)
             if counts[s]]
    rows: list[Line] = [overview_row(part) for part in parts]
    rows.extend(Line(f"{c.name}: {CHECKING}") for c in pending)  # no status: neutral, not yet known
    blocks: list[Block] = [Header(f"{title}: {total} connections"),
                           Line(" · ".join([f"Checked {len(parts)} of {total}", *tally]), bold=True)]
    for row in rows[:page_size]:
        blocks.extend((Divider(), row))
    hidden = len(rows) - page_size
    more = f"…and {hidden} more connection{'s' if hidden != 1 else ''}. " if hidden > 0 else ""
    blocks.extend((Divider(), Note(f"{more}The full card, with buttons, replaces this one when every "
                                   "connection is checked.")))
    return Card(title=f"{title}: {total} connections", blocks=tuple(blocks))


def text_card(title: str, lines: Sequence[str], *, status: Status | None = None) -> Card:
    return Card(title=title, status=status, blocks=(Header(title), *(Line(clip(t)) for t in lines)))
