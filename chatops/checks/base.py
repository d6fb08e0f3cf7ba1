"""What a check is: one signature for all, its spec, and the context it runs in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from chatops.checks import reasons
from chatops.errors import AuthError, PermissionDenied, ProviderError
from chatops.findings import Action, ActionKind, Cause, Evidence, Finding, Status
from chatops.model import Connection, Grant, GrantRole, Provider, SyncEvent
from chatops.ports import Clock, NetworkProbe, Providers, QuotaUsage, TokenSet

T = TypeVar("T")
_log = logging.getLogger(__name__)

CheckFn = Callable[["CheckContext"], Awaitable[list[Finding]]]
TOKEN_MARGIN = timedelta(seconds=60)  # refresh an access token this long before it expires


def _always(connection: Connection) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    cause: Cause  # the default cause of its findings
    run: CheckFn
    applies: Callable[[Connection], bool] = _always
    timeout_s: float | None = None  # None: the runner's per-check timeout (CHATOPS_CHECK_TIMEOUT_S)
    title: str = ""  # what the card calls it: "Sign-in", "Network"


class History(Protocol):
    """What checks may read from and add to the store, already scoped to one workspace."""

    async def save_tokens(self, grant_id: str, tokens: TokenSet) -> None: ...

    async def mark_needs_reconnect(self, grant_id: str) -> None:
        """The provider refused the grant for good: no replica refreshes it again until Reconnect."""

    async def events(self, connection_id: str) -> list[SyncEvent]: ...

    async def consents(self, connection_id: str) -> Mapping[GrantRole, datetime]:
        """When each grant of the connection was last consented afresh (Reconnect); absent: never here."""

    async def record_usage(self, connection_id: str, usage: QuotaUsage, at: datetime) -> None: ...

    async def usage_samples(
        self, connection_id: str, name: str, since: datetime
    ) -> list[tuple[datetime, int, int]]: ...


@dataclass(frozen=True, slots=True)
class Thresholds:
    quota_warn_percent: float = 80.0
    expiry_warning: timedelta = timedelta(days=14)


@dataclass(slots=True)
class Session:
    """What the checks of one connection share during one run: provider answers, refreshed tokens.

    Checks run concurrently, so each answer is a shared task: the second asker awaits the first call
    instead of making its own (one refresh per grant, one mailbox read per connection).
    """

    connection: Connection
    providers: Providers
    history: History
    clock: Clock
    _memo: dict[str, asyncio.Task[Any]] = field(default_factory=dict)

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        task = self._memo.get(key)
        if task is None:
            task = asyncio.ensure_future(make())
            self._memo[key] = task
        return await asyncio.shield(task)

    async def refresh(self, grant: Grant) -> TokenSet:
        """Refresh the grant once per run and keep the new tokens (rotated refresh tokens included)."""

        async def run() -> TokenSet:
            if grant.needs_reconnect:
                if not grant.refresh_token.reveal() and not grant.access_token.reveal():  # key retired (19)
                    raise AuthError(grant.provider.value, "the stored grant can no longer be decrypted",
                                    code="undecryptable")
                raise AuthError(grant.provider.value, "the provider refused this grant for good on an earlier "
                                "check; it is not asked again until Reconnect", code="needs_reconnect")
            try:
                tokens = await self.providers.oauth[grant.provider].refresh(grant)
            except AuthError as exc:
                if reasons.is_terminal(exc):
                    await self._mark(grant, exc)
                raise
            await self.history.save_tokens(grant.id, tokens)
            return tokens

        return await self.once(f"refresh:{grant.id}", run)

    async def _mark(self, grant: Grant, exc: AuthError) -> None:
        try:
            await self.history.mark_needs_reconnect(grant.id)
        except Exception:  # the refusal is still reported; the next run asks the provider once more
            _log.warning("could not mark grant %s for Reconnect after %s", grant.id, exc.code, exc_info=True)

    async def token(self, grant: Grant) -> str:
        """A working access token: the stored one while it is fresh, else a refreshed one."""
        fresh = grant.expires_at is not None and grant.expires_at - TOKEN_MARGIN > self.clock.now()
        if fresh and grant.access_token and f"refresh:{grant.id}" not in self._memo:
            return grant.access_token.reveal()
        return (await self.refresh(grant)).access_token

    def is_refresh_failure(self, exc: BaseException) -> bool:
        """Whether `exc` is a grant refresh's failure (the credentials check reports it; others need not)."""
        return any(key.startswith("refresh:") and task.done() and not task.cancelled() and task.exception() is exc
                   for key, task in self._memo.items())

    def lacks_scopes(self, provider: str) -> bool:
        """Whether a refreshed grant of this provider lacks scopes the sync needs (credentials reports it)."""
        for grant in self.connection.grants:
            task = self._memo.get(f"refresh:{grant.id}")
            if grant.provider.value != provider or task is None or not task.done() or task.cancelled() \
                    or task.exception() is not None:
                continue
            if self.providers.oauth[grant.provider].required_scopes(grant.role) - task.result().scopes:
                return True
        return False

    def close(self) -> None:
        for task in self._memo.values():
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # retrieved: a check that timed out may have left it unread
        self._memo.clear()  # the answers are not needed any more


@dataclass(frozen=True, slots=True)
class CheckContext:
    spec: CheckSpec
    session: Session
    probe: NetworkProbe
    clock: Clock
    log: logging.LoggerAdapter[logging.Logger]
    thresholds: Thresholds = Thresholds()
    write_probe: bool = False  # testsync may create and delete a test activity in the CRM

    @property
    def connection(self) -> Connection:
        return self.session.connection

    @property
    def providers(self) -> Providers:
        return self.session.providers

    @property
    def history(self) -> History:
        return self.session.history

    def finding(
        self, status: Status, summary: str, *, cause: Cause | None = None, subject: str = "",
        evidence: Iterable[Evidence | tuple[str, str]] = (), remedy: Iterable[str] = (),
        actions: Iterable[Action] = (), details: Mapping[str, Any] | None = None,
    ) -> Finding:
        return Finding(
            check=self.spec.name,
            connection_id=self.connection.id,
            status=status,
            cause=cause or self.spec.cause,
            summary=summary,
            subject=subject,
            evidence=tuple(e if isinstance(e, Evidence) else Evidence(*e) for e in evidence),
            remedy=tuple(remedy),
            actions=tuple(actions),
            details=dict(details or {}),
        )

    def ok(self, summary: str, **kw: Any) -> Finding:
        return self.finding(Status.OK, summary, **kw)

    def warn(self, summary: str, **kw: Any) -> Finding:
        return self.finding(Status.WARN, summary, **kw)

    def fail(self, summary: str, **kw: Any) -> Finding:
        return self.finding(Status.FAIL, summary, **kw)

    def skipped(self, summary: str, **kw: Any) -> Finding:
        return self.finding(Status.SKIPPED, summary, **kw)

    def reconnect(self, grant: Grant) -> Action:
        return reconnect_action(self.connection, grant.role, grant.provider)

    def provider_error(self, exc: ProviderError, what: str, *, cause: Cause | None = None,
                       subject: str = "") -> Finding:
        """The standard finding for a provider call that failed in a way this check does not interpret."""
        return explain(self, exc, what, cause=cause, subject=subject)


def reconnect_action(connection: Connection, role: GrantRole, provider: Provider) -> Action:
    """A Reconnect button; its target "<connection id>:<role>" also works where no grant is stored yet."""
    return Action(ActionKind.RECONNECT, f"Reconnect {provider.label}", f"{connection.id}:{role.value}")


def explain(ctx: CheckContext, exc: ProviderError, what: str, *, cause: Cause | None = None,
            subject: str = "") -> Finding:
    """Turn a ProviderError met while doing `what` ("reading the mailbox") into a plain finding."""
    label = reasons.provider_label(exc.provider)
    if ctx.spec.name != "credentials":
        # One broken grant is one problem: the credentials check reports it with the fix; here it only blocks.
        if ctx.session.is_refresh_failure(exc):
            why = "access must be reconnected first" if isinstance(exc, AuthError) else "could not renew access"
            return ctx.skipped(f"Not checked: {label} {why} (see the sign-in finding).",
                               cause=reasons.describe(exc).cause, subject=subject or exc.provider)
        if isinstance(exc, PermissionDenied) and ctx.session.lacks_scopes(exc.provider):
            return ctx.skipped(f"Not checked: {label} access lacks permissions the sync needs "
                               "(see the sign-in finding).", cause=Cause.CREDENTIALS, subject=subject or exc.provider)
    reason = reasons.describe(exc)
    grant_actions: list[Action] = []
    if reason.cause is Cause.CREDENTIALS:
        grant = next((g for g in ctx.connection.grants if g.provider.value == exc.provider), None)
        if grant is not None:
            grant_actions.append(ctx.reconnect(grant))
    return ctx.finding(
        reason.status,
        f"{label} {reason.text} while {what}.",
        cause=cause if cause is not None and reason.cause is Cause.OTHER else reason.cause,
        subject=subject or exc.provider,
        evidence=[(f"{label} answer", exc.evidence)],
        remedy=reason.remedy,
        actions=grant_actions,
        details={"code": exc.code, "status": exc.status},
    )
