"""Chatops: the one entry the edges call (CLI, Slack, Teams, scheduler)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Final

from chatops.audits.service import Audits
from chatops.cards import Card, Header, LinkMaker, finding_blocks, report_card
from chatops.chat import ActionRequest, ChatUser, CommandRequest, MessageRef, Reply
from chatops.commands import dispatch, grammar
from chatops.commands.status import owns, targets
from chatops.counts import ALL, ConnectionCounts
from chatops.errors import ChatopsError, CommandError, NotFound, StoreError
from chatops.findings import ActionKind
from chatops.history import StoreHistory
from chatops.model import Connection
from chatops.ports import ChatSink
from chatops.progress import Progress
from chatops.report import Report
from chatops.runner import OnConnection, OnFinding, Runner
from chatops.store import Store

if TYPE_CHECKING:
    from chatops.reconnect import Reconnect

log = logging.getLogger(__name__)

STORE_UNAVAILABLE: Final = ("chatops can't reach its database right now, so it can't answer that. "
                            "Try again in a minute; if it keeps happening, tell your chatops admin.")
HomePublisher = Callable[[str, ChatUser], Awaitable[bool]]
"""(workspace id, member) -> whether their App Home was published."""
SNOOZE_LENGTHS: Final = {"1d": timedelta(days=1), "7d": timedelta(days=7), "1w": timedelta(days=7)}


class Chatops:
    def __init__(self, store: Store, runner: Runner, *, link: LinkMaker | None = None) -> None:
        self.store = store
        self.runner = runner
        self.link = link
        self.report_observers: list[Callable[[Report], None]] = []  # e.g. the web app's metrics
        self.reconnect: Reconnect | None = None  # the Reconnect flow, when wired (adapters/wiring.py)
        self.sinks: dict[str, ChatSink] = {}  # per chat platform: updates cards in place after a reconnect
        # per chat platform: republishes a member's App Home (a Reconnect started there finished)
        self.home_publishers: dict[str, HomePublisher] = {}
        self.audits = Audits(self)  # digests, alerts and snoozes (adapters/scheduler.py runs its jobs)
        self.counts = ConnectionCounts()  # what the "Checking N connections…" placeholder says

    async def diagnose(
        self, workspace_id: str, connections: Sequence[Connection], *, only: Sequence[str] | None = None,
        on_finding: OnFinding | None = None, on_connection: OnConnection | None = None, write_probe: bool = False,
    ) -> Report:
        """Diagnose the connections of one workspace and keep the report."""
        history = StoreHistory(self.store, workspace_id)
        report = await self.runner.diagnose(connections, history, only=only, on_finding=on_finding,
                                            on_connection=on_connection, write_probe=write_probe)
        try:
            await asyncio.to_thread(self.store.record_report, workspace_id, report.findings,
                                    started_at=report.started_at, finished_at=report.finished_at)
        except StoreError as exc:  # the answer is ready: the database being away must not cost it
            log.warning("could not keep the report: %s", exc, extra={"workspace": workspace_id})
        for observe in self.report_observers:
            observe(report)
        return report

    async def diagnosis_reply(self, workspace_id: str, connections: Sequence[Connection], *,
                              viewer: ChatUser | None = None, progress: Progress | None = None) -> Reply:
        """A fresh diagnosis as a card; its Reconnect links are bound to `viewer`, who the card is for.

        With `progress` and several connections, the asker's message fills in as connections finish; one
        connection shows only its final card.
        """
        watching = progress if progress is not None and len(connections) > 1 else None
        if watching is not None:
            watching.watch(connections)
        try:
            report = await self.diagnose(workspace_id, connections,
                                         on_connection=watching.finished if watching is not None else None)
        finally:
            if progress is not None:
                await progress.close()  # nothing of the progress may land after the final card
        card = report_card(report, link=self.link, viewer=viewer)
        return Reply(_summary_text(report), card=card, replace_original=True)

    # ------------------------------------------------------------------ chat entry points

    async def placeholder(self, request: CommandRequest) -> Reply:
        """The instant answer while the diagnosis runs: how many connections are being checked."""
        try:
            parsed = grammar.parse(request.text, {"all"})
            if parsed.word == "all" and request.user.is_admin:
                count = await self._count(request.workspace_id)
            elif parsed.word == "" and not parsed.args and request.user.email:
                count = await self._count(request.workspace_id, request.user.email)
            elif parsed.word == "" and len(parsed.args) <= 1 and not _is_other_command(request.text):
                count = len(await targets(self, request, parsed.args))
            else:
                return Reply("Working on it…", ephemeral=True)
        except ChatopsError:
            return Reply("Working on it…", ephemeral=True)
        noun = "connection" if count == 1 else "connections"
        return Reply(f"Checking {count} {noun}…", ephemeral=True)

    async def _count(self, workspace_id: str, email: str = ALL) -> int:
        """The connections a placeholder announces: as last read, else one COUNT (no grants decrypted)."""
        count = self.counts.get(workspace_id, email)
        if count is None:
            count = await asyncio.to_thread(self.store.count_connections, workspace_id, email or None)
            self.counts.note(workspace_id, count, email)
        return count

    async def handle_command(self, request: CommandRequest) -> Reply:
        try:
            return await dispatch(self, request)
        except StoreError as exc:
            log.error("a command needed the database: %s", exc, extra={"workspace": request.workspace_id})
            return Reply(STORE_UNAVAILABLE, ephemeral=True)

    async def handle_action(self, request: ActionRequest) -> Reply:
        """A button press: Retest, Details, Page; refusals and unknown targets are short ephemeral replies."""
        try:
            if request.kind is ActionKind.RETEST:
                connection = await self._acted_on(request)
                return await self.diagnosis_reply(request.workspace_id, [connection], viewer=request.user)
            if request.kind is ActionKind.DETAILS:
                connection = await self._acted_on(request)
                findings = await asyncio.to_thread(self.store.latest_findings, request.workspace_id, connection.id)
                title = f"Details: {connection.name}"
                blocks = (Header(title), *finding_blocks(findings))
                return Reply(title, card=Card(title, blocks), ephemeral=True)
            if request.kind is ActionKind.PAGE:
                return await self._page(request)
            if request.kind is ActionKind.SNOOZE:
                return await self._snooze(request)
            if request.kind is ActionKind.RECONNECT and self.reconnect is not None:
                # a Reconnect button without a link for this user (a digest, another's card): one of their own
                connection = await self._acted_on(request)
                return self.reconnect.fresh_link_card(connection, request.target, request.user)
        except (NotFound, CommandError) as exc:
            return Reply(str(exc), ephemeral=True)
        except StoreError as exc:
            log.error("a button needed the database: %s", exc, extra={"workspace": request.workspace_id})
            return Reply(STORE_UNAVAILABLE, ephemeral=True)
        return Reply(f"That button ({request.kind.value}) is not available here.", ephemeral=True)

    async def _acted_on(self, request: ActionRequest) -> Connection:
        connection_id = request.target.split(":", 1)[0]
        try:
            connection = await asyncio.to_thread(self.store.get_connection, request.workspace_id, connection_id)
        except NotFound:
            raise NotFound("That connection no longer exists in this workspace.") from None
        if not (request.user.is_admin or owns(request.user.email, connection)):
            raise NotFound("You can only act on your own connections.")
        return connection

    async def _snooze(self, request: ActionRequest) -> Reply:
        """Silence a connection's alerts for a day or a week (the alert's Snooze buttons); "resolved" notes too."""
        connection = await self._acted_on(request)
        length = SNOOZE_LENGTHS.get(request.value.strip().lower() or "1d")
        if length is None:
            return Reply(f"I can snooze alerts for 1 day or 1 week, not {request.value!r}.", ephemeral=True)
        until = await self.audits.snooze(request.workspace_id, connection.id, length, request.user.user_id)
        return Reply(f"Alerts for {connection.name} are snoozed until {until:%a %d %b %H:%M} UTC. "
                     "Digests still list it.", ephemeral=True)

    async def _page(self, request: ActionRequest) -> Reply:
        """Another page of an overview, from the latest stored findings (no new diagnosis)."""
        if request.user.is_admin:
            connections = await asyncio.to_thread(self.store.list_connections, request.workspace_id)
        else:
            connections = await targets(self, CommandRequest(request.workspace_id, request.user, ""), ())
        findings = []
        for c in connections:
            findings.extend(await asyncio.to_thread(self.store.latest_findings, request.workspace_id, c.id))
        now = datetime.now(UTC)
        report = Report.build(connections, findings, now, now)
        page = int(request.value) if request.value.isdigit() else 1
        return Reply(_summary_text(report), card=report_card(report, link=self.link, page=page,
                                                             viewer=request.user),
                     replace_original=True)

    # ------------------------------------------------------------------ Reconnect: where cards are

    async def remember_card(self, workspace_id: str, platform: str, card: Card | None, message: MessageRef) -> None:
        """A card was posted or updated at `message`: a Reconnect finished from one of its links updates it."""
        if self.reconnect is not None and card is not None:
            await self.reconnect.remember_card(workspace_id, platform, card, message)

    async def reconnect_clicked(self, request: ActionRequest, shown: Sequence[str] = ()) -> Reply | None:
        """A Reconnect link button was pressed on a message (Slack reports it); a reply only for a stranger."""
        if self.reconnect is None:
            return None
        return await self.reconnect.clicked(request, shown)


def _is_other_command(text: str) -> bool:
    from chatops.commands import WORDS

    parts = text.split()
    return bool(parts) and parts[0].lower() in WORDS


def _summary_text(report: Report) -> str:
    problems = [c for c in report.connections if c.problems]
    if not problems:
        return f"All {len(report.connections)} connection(s) are healthy."
    return f"{len(problems)} of {len(report.connections)} connection(s) need attention."
