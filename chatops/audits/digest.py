"""The digest: what an admin should know about a workspace's sync this week, as one card.

Credentials about to expire or already revoked, quotas above their threshold with the forecast, connections
failing now and for how long, the week's top error patterns, and what changed since the last digest with a
text sparkline. Every item carries its Reconnect / Retest buttons. Long sections are cut to a few items with
a count of the rest, so the digest stays one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from chatops.cards import Block, Button, Buttons, Card, Divider, Header, Line, Note, clip
from chatops.chat import Reply
from chatops.classify import Pattern, default_classifier, group
from chatops.findings import ActionKind, Cause, Finding, Status
from chatops.model import Connection, SyncEvent
from chatops.report import ConnectionReport, Report
from chatops.store.audits import failing_since

SPARKS: Final = "▁▂▃▄▅▆▇█"
SECTION_LIMIT: Final = 5
EXPIRY_WINDOW: Final = timedelta(days=14)


@dataclass(frozen=True, slots=True)
class DigestInput:
    """Everything a digest says, gathered by the caller (the store, a fresh audit)."""

    workspace_name: str
    report: Report
    now: datetime
    history: Mapping[str, list[tuple[datetime, str]]] = field(default_factory=dict)  # newest first
    events: Sequence[SyncEvent] = ()  # this period's sync-log lines
    previous: Sequence[dict[str, Any]] = ()  # snapshots of earlier digests, newest first
    title: str = "Weekly sync audit"
    expiry_window: timedelta = EXPIRY_WINDOW
    section_limit: int = SECTION_LIMIT


@dataclass(frozen=True, slots=True)
class Digest:
    reply: Reply
    snapshot: dict[str, Any]  # kept with the sent digest; the next one compares with it


def sparkline(values: Sequence[int]) -> str:
    """'▁▃█' for [0, 2, 5]: one character per value, scaled to the largest."""
    if not values:
        return ""
    top = max(values)
    if top == 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, round(v * (len(SPARKS) - 1) / top))] for v in values)


def _ago(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _buttons(connection: Connection, findings: Sequence[Finding] = ()) -> Buttons:
    buttons: list[Button] = []
    for action in dict.fromkeys(a for f in findings for a in f.actions):
        if action.kind is ActionKind.RECONNECT:
            # no link here: a digest has no single viewer; pressing it gets the presser a link of their own
            buttons.append(Button(action.label, ActionKind.RECONNECT, action.target, primary=True))
        elif action.kind is ActionKind.OPEN_URL and action.target:
            buttons.append(Button(action.label, ActionKind.OPEN_URL, connection.id, url=action.target))
    buttons.append(Button("Retest", ActionKind.RETEST, connection.id))
    return Buttons(tuple(buttons[:3]))


def _more(blocks: list[Block], shown: int, total: int) -> None:
    if total > shown:
        blocks.append(Note(f"…and {total - shown} more: /syncstatus all shows every connection."))


def expiring_grants(connection: Connection, now: datetime, window: timedelta) -> list[tuple[str, datetime]]:
    """(account, expiry) of grants that run out within `window` and cannot renew themselves (no refresh token)."""
    return [(g.account, g.expires_at) for g in connection.grants
            if g.expires_at is not None and not g.refresh_token and now <= g.expires_at <= now + window]


def build_digest(data: DigestInput) -> Digest:
    report, now, limit = data.report, data.now, data.section_limit
    parts = report.worst_first()
    problems = [p for p in parts if p.problems]
    blocks: list[Block] = [
        Header(f"{data.title}: {data.workspace_name}"),
        Line(f"{len(problems)} of {len(parts)} connection{'s' if len(parts) != 1 else ''} need attention."
             if problems else f"All {len(parts)} connections are healthy.", bold=True,
             status=report.status if parts else Status.OK),
    ]

    # credentials: revoked or failing now, and grants that expire soon without a way to renew
    revoked = [(p, [f for f in p.problems if f.cause is Cause.CREDENTIALS and f.status is Status.FAIL])
               for p in parts]
    revoked = [(p, fs) for p, fs in revoked if fs]
    expiring = [(p, g) for p in parts for g in expiring_grants(p.connection, now, data.expiry_window)]
    blocks += [Divider(), Line("Credentials", bold=True)]
    if not revoked and not expiring:
        blocks.append(Note(f"No sign-in is revoked or expires in the next {data.expiry_window.days} days."))
    items = 0
    for part, findings in revoked[:limit]:
        blocks += [Line(clip(f"{part.connection.name}: {findings[0].summary}", 1000), status=Status.FAIL),
                   _buttons(part.connection, findings)]
        items += 1
    for part, (account, expires) in expiring[: max(0, limit - items)]:
        blocks += [Line(f"{part.connection.name}: the sign-in for {account} expires on {expires:%a %d %b %H:%M} "
                        f"UTC (in {_ago(expires - now)}) and cannot renew itself.", status=Status.WARN),
                   _buttons(part.connection, [f for f in part.findings if f.cause is Cause.CREDENTIALS])]
        items += 1
    _more(blocks, items, len(revoked) + len(expiring))

    # quotas above their threshold, with the forecast the quota check made
    quotas = [(p, f) for p in parts for f in p.problems if f.check == "quota" and f.cause is Cause.RATE_LIMIT]
    blocks += [Divider(), Line("API quotas", bold=True)]
    if not quotas:
        blocks.append(Note("Every quota is below its warning threshold."))
    for part, finding in quotas[:limit]:
        blocks += [Line(clip(f"{part.connection.name}: {finding.summary}", 1000), status=finding.status),
                   _buttons(part.connection, [finding])]
    _more(blocks, min(limit, len(quotas)), len(quotas))

    # failing now, and since when
    failing = [p for p in parts if p.status in (Status.FAIL, Status.ERROR)]
    blocks += [Divider(), Line("Failing now", bold=True)]
    if not failing:
        blocks.append(Note("No connection is failing."))
    for part in failing[:limit]:
        since, streak = failing_since(data.history.get(part.connection.id, []))
        how_long = f"failing for {_ago(now - since)} ({streak} checks in a row)" if since and streak > 1 \
            else "failing since this check"
        first = part.problems[0].summary if part.problems else ""
        blocks += [Line(clip(f"{part.connection.name}: {how_long}. {first}", 1000), status=part.status),
                   _buttons(part.connection, part.problems)]
    _more(blocks, min(limit, len(failing)), len(failing))

    # the week's error patterns
    patterns = _patterns(data.events)
    blocks += [Divider(), Line("Top error patterns this week", bold=True)]
    if not patterns:
        blocks.append(Note("No sync errors were logged this week."))
    for p in patterns[:limit]:
        where = f"{len(p.connections)} connection{'s' if len(p.connections) != 1 else ''}"
        blocks.append(Line(clip(f"{p.count} × {p.signature} ({p.cause.value}, {where}): {p.explanation}", 1000)))

    # what changed since the last digest
    statuses = {p.connection.id: p.status.value for p in parts}
    snapshot = {"statuses": statuses, "problems": len(problems), "connections": len(parts)}
    blocks += [Divider(), Line("Since the last digest", bold=True)]
    if data.previous:
        before: dict[str, str] = dict(data.previous[0].get("statuses", {}))
        bad = {Status.FAIL.value, Status.ERROR.value, Status.WARN.value}
        fixed = [p for p in parts if before.get(p.connection.id) in bad and p.status.value not in bad]
        broken = [p for p in problems if before.get(p.connection.id) not in bad]
        blocks.append(Line(f"Fixed: {_names(fixed)}", status=Status.OK if fixed else None))
        blocks.append(Line(f"Newly broken: {_names(broken)}", status=Status.FAIL if broken else None))
        trend = [int(s.get("problems", 0)) for s in reversed(data.previous)] + [len(problems)]
        blocks.append(Note(f"Connections needing attention, digest by digest: {sparkline(trend)} "
                           f"({' → '.join(str(v) for v in trend[-4:])})"))
    else:
        blocks.append(Note("This is the first digest here; the next one shows what changed."))
    text = (f"{data.title}: {len(problems)} of {len(parts)} connections need attention." if problems
            else f"{data.title}: all {len(parts)} connections are healthy.")
    card = Card(f"{data.title}: {data.workspace_name}", tuple(blocks), status=report.status if parts else Status.OK)
    return Digest(Reply(text, card=card), snapshot)


def _names(parts: Sequence[ConnectionReport]) -> str:
    if not parts:
        return "none"
    names = [p.connection.name for p in parts]
    return ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")


def _patterns(events: Sequence[SyncEvent]) -> list[Pattern]:
    if not events:
        return []
    found = group(((e.line, e.at, e.connection_id) for e in events), default_classifier())
    return [p for p in found if p.cause is not Cause.OTHER or p.count > 1]
