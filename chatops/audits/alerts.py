"""The alert sweep: what is wrong enough to say now, said once per connection and cause, and a note when it ends.

Conditions: a quota over its threshold or forecast to run out before it resets, a sign-in that expires within
3 days and cannot renew itself, a connection failing N checks in a row, a sync-log error pattern never seen
before this week. An alert is posted once per (connection, kind) until what it says changes or it resolves;
then a "resolved" note follows. A snoozed connection's alerts are kept but not posted until the snooze ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from chatops.audits.digest import expiring_grants
from chatops.cards import Button, Buttons, Card, Header, Line, Note, clip
from chatops.chat import Reply
from chatops.classify import default_classifier, group
from chatops.findings import ActionKind, Cause, Finding, Status
from chatops.model import Connection, SyncEvent
from chatops.report import Report
from chatops.store.audits import failing_since

EXPIRY_WINDOW: Final = timedelta(days=3)
FAILURE_STREAK: Final = 3
NEW_PATTERN_WINDOW: Final = timedelta(days=1)  # a pattern first seen this recently is new; it ends when quiet this long
SNOOZES: Final = (("Snooze 1 day", "1d"), ("Snooze 1 week", "7d"))


@dataclass(frozen=True, slots=True)
class Condition:
    """Something an alert says about one connection; a different fingerprint is a new alert."""

    connection: Connection
    kind: str  # "quota:<limit>", "expiring:<grant>", "failing", "pattern:<signature>"
    fingerprint: str
    summary: str
    status: Status
    findings: tuple[Finding, ...] = ()


def conditions(report: Report, history: Mapping[str, list[tuple[datetime, str]]], events: Sequence[SyncEvent],
               now: datetime, *, new_after: datetime, streak: int = FAILURE_STREAK,
               expiry_window: timedelta = EXPIRY_WINDOW) -> list[Condition]:
    """Every alert condition that holds now, from a fresh audit and the run history (newest first).

    `events` reach back before `new_after`: a pattern first seen after it is new; one seen before is not.
    """
    found: list[Condition] = []
    for part in report.connections:
        c = part.connection
        for f in part.findings:
            if f.check == "quota" and f.cause is Cause.RATE_LIMIT and f.status in (Status.WARN, Status.FAIL):
                # warn -> fail (threshold -> forecast to run out / used up) is news; the percentage moving is not
                found.append(Condition(c, f"quota:{f.subject or f.check}", f.status.value, f.summary, f.status, (f,)))
        for account, expires in expiring_grants(c, now, expiry_window):
            found.append(Condition(c, f"expiring:{account}", expires.date().isoformat(),
                                   f"The sign-in for {account} expires on {expires:%a %d %b %H:%M} UTC and cannot "
                                   "renew itself: reconnect before then to keep sync running.", Status.WARN,
                                   tuple(f for f in part.findings if f.cause is Cause.CREDENTIALS)))
        since, run = failing_since(history.get(c.id, []))
        if part.status in (Status.FAIL, Status.ERROR) and run >= streak and since is not None:
            causes = sorted({f.cause.value for f in part.problems if f.status in (Status.FAIL, Status.ERROR)})
            first = part.problems[0].summary if part.problems else ""
            found.append(Condition(c, "failing", ",".join(causes),
                                   f"{c.name} has failed {run} checks in a row (since {since:%a %d %b %H:%M} UTC). "
                                   f"{first}", part.status, part.problems))
    by_id = {p.connection.id: p.connection for p in report.connections}
    quiet_since = now - NEW_PATTERN_WINDOW
    if events:
        for pattern in group(((e.line, e.at, e.connection_id) for e in events), default_classifier()):
            if pattern.cause is Cause.OTHER or pattern.first_seen is None or pattern.last_seen is None:
                continue
            if pattern.first_seen < new_after or pattern.last_seen < quiet_since:
                continue  # seen before this window (not new), or quiet for a day (resolved)
            for connection_id in sorted(pattern.connections):
                if connection_id in by_id:
                    found.append(Condition(
                        by_id[connection_id], f"pattern:{pattern.signature}"[:160], pattern.signature,
                        f"A new sync error appeared on {by_id[connection_id].name}: {pattern.count} × "
                        f"{pattern.signature} since {pattern.first_seen:%a %d %b %H:%M} UTC. {pattern.explanation}",
                        Status.WARN))
    return found


def alert_reply(condition: Condition) -> Reply:
    c = condition.connection
    title = f"Sync alert: {c.name}"
    buttons: list[Button] = []
    for action in dict.fromkeys(a for f in condition.findings for a in f.actions):
        if action.kind is ActionKind.RECONNECT:
            buttons.append(Button(action.label, ActionKind.RECONNECT, action.target, primary=True))
    buttons.append(Button("Retest", ActionKind.RETEST, c.id))
    buttons += [Button(label, ActionKind.SNOOZE, c.id, value=value) for label, value in SNOOZES]
    card = Card(title, (Header(title), Line(clip(condition.summary), status=condition.status),
                        Note(f"{c.crm.label} {c.crm_user_email} ↔ {c.mailbox_provider.label} {c.mailbox_email}"),
                        Buttons(tuple(buttons[:5]))), status=condition.status)
    return Reply(f"{title}: {condition.summary}", card=card)


def resolved_reply(connection: Connection, summary: str) -> Reply:
    title = f"Resolved: {connection.name}"
    text = f"This is fixed: {summary}"
    card = Card(title, (Header(title), Line(clip(text), status=Status.OK)), status=Status.OK)
    return Reply(f"{title}. {clip(summary, 300)}", card=card)
