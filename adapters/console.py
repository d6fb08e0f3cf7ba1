"""How reports look in a terminal (rich): a table per connection, then evidence and fix steps."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from chatops.cards import Card
from chatops.findings import Status
from chatops.model import Connection
from chatops.report import ConnectionReport, Report

STYLE = {
    Status.OK: ("✔ ok", "green"),
    Status.WARN: ("▲ warn", "yellow"),
    Status.FAIL: ("✖ fail", "bold red"),
    Status.ERROR: ("! error", "magenta"),
    Status.SKIPPED: ("– skipped", "dim"),
}


def status_text(status: Status) -> Text:
    label, style = STYLE[status]
    return Text(label, style=style)


def print_report(console: Console, report: Report) -> None:
    for part in report.worst_first():
        _print_connection(console, part)
    counts = report.counts()
    summary = ", ".join(f"{counts[s]} {s.value}" for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.OK)
                        if counts[s])
    seconds = (report.finished_at - report.started_at).total_seconds()
    console.print(f"[bold]{len(report.connections)} connections checked in {seconds:.1f} s:[/] {summary}")


def _print_connection(console: Console, part: ConnectionReport) -> None:
    c = part.connection
    heading = Text.assemble((f"{c.name}", "bold"), "  ", status_text(part.status), "  ",
                            (f"{c.crm.label} ↔ {c.mailbox_provider.label} · {c.mailbox_email} · id {c.id}", "dim"))
    console.print(heading)
    table = Table(show_header=True, header_style="dim", box=None, padding=(0, 1), expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("cause", no_wrap=True)
    table.add_column("finding")
    for f in part.findings:
        shown = f.status not in (Status.OK, Status.SKIPPED)
        table.add_row(status_text(f.status), f.check, f.cause.value if shown else "",
                      Text(f.summary))
    console.print(table)
    for f in part.problems:
        for e in f.evidence:
            console.print(Text.assemble("    evidence ", (f"{e.label}: ", "dim"), e.value))
        for number, step in enumerate(f.remedy, 1):
            console.print(Text.assemble(f"    fix {number}. ", step))
        for action in f.actions:
            console.print(Text.assemble("    action ", (f"[{action.label}]", "cyan")))
    console.print()


def print_connections(console: Console, connections: list[Connection]) -> None:
    table = Table("id", "name", "CRM", "mailbox", "calendar", "grants", header_style="bold")
    for c in connections:
        grants = ", ".join(f"{g.role.value}:{g.provider.value}{' (reconnect)' if g.needs_reconnect else ''}"
                           for g in c.grants)
        table.add_row(c.id, c.name, f"{c.crm.label} {c.crm_user_email}",
                      f"{c.mailbox_provider.label} {c.mailbox_email}",
                      c.calendar_provider.label if c.calendar_provider else "–", grants or "–")
    console.print(table)


def print_card(console: Console, card: Card) -> None:
    """A neutral card as terminal text (the digest of `chatops audit`): headings, lines, notes, buttons."""
    from chatops.cards import Buttons, Divider, Facts, Header, Line, Note, Steps

    for block in card.blocks:
        if isinstance(block, Header):
            console.print(Text(block.text, style="bold underline"))
        elif isinstance(block, Line):
            text = Text()
            if block.status is not None:
                text.append_text(status_text(block.status))
                text.append(" ")
            text.append(block.text, style="bold" if block.bold else "")
            console.print(text)
        elif isinstance(block, Note):
            console.print(Text(block.text, style="dim"))
        elif isinstance(block, Facts):
            for label, value in block.pairs:
                console.print(Text(f"  {label}: {value}"))
        elif isinstance(block, Steps):
            for number, step in enumerate(block.items, 1):
                console.print(Text(f"  {number}. {step}"))
        elif isinstance(block, Buttons):
            console.print(Text("  " + " · ".join(f"[{b.label}]" for b in block.buttons), style="cyan"))
        elif isinstance(block, Divider):
            console.print()
