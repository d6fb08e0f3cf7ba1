"""Provider reads several checks need (mailbox, CRM user, calendar), made once per connection per run."""

from __future__ import annotations

from chatops.checks.base import CheckContext, reconnect_action
from chatops.errors import ChatopsError
from chatops.findings import Cause, Finding
from chatops.model import Grant, GrantRole, Provider
from chatops.ports import CalendarInfo, CalendarShare, CrmUser, Mailbox


class MissingGrant(ChatopsError):
    """The connection has no stored grant for a role a check needs."""

    def __init__(self, role: GrantRole, provider: Provider) -> None:
        super().__init__(f"no {role.value} grant is stored")
        self.role = role
        self.provider = provider

    def finding(self, ctx: CheckContext) -> Finding:
        return ctx.fail(
            f"chatops has no {self.provider.label} {self.role.value} access for this connection yet, "
            f"so it cannot check it.",
            cause=Cause.CREDENTIALS,
            subject=f"{self.role.value}-grant",
            remedy=[f"Click Reconnect and sign in to {self.provider.label} as "
                    f"{_account_hint(ctx, self.role)}."],
            actions=[reconnect_action(ctx.connection, self.role, self.provider)],
        )


def _account_hint(ctx: CheckContext, role: GrantRole) -> str:
    c = ctx.connection
    return c.crm_user_email if role is GrantRole.CRM else c.mailbox_email


def grant_for(ctx: CheckContext, role: GrantRole) -> Grant:
    """The grant for a role; calendar falls back to the mail grant of the same provider."""
    c = ctx.connection
    grant = c.grant(role)
    if grant is None and role is GrantRole.CALENDAR and c.calendar_provider is c.mailbox_provider:
        grant = c.grant(GrantRole.MAIL)
    if grant is None:
        provider = {GrantRole.CRM: c.crm, GrantRole.MAIL: c.mailbox_provider}.get(role) \
            or c.calendar_provider or c.mailbox_provider
        raise MissingGrant(role, provider)
    return grant


async def mailbox(ctx: CheckContext) -> Mailbox:
    grant = grant_for(ctx, GrantRole.MAIL)
    api = ctx.providers.mail[grant.provider]

    async def read() -> Mailbox:
        return await api.mailbox(grant, await ctx.session.token(grant))

    return await ctx.session.once("mailbox", read)


async def crm_user(ctx: CheckContext) -> CrmUser | None:
    grant = grant_for(ctx, GrantRole.CRM)
    api = ctx.providers.crm[grant.provider]

    async def read() -> CrmUser | None:
        return await api.user(grant, await ctx.session.token(grant), ctx.connection.crm_user_email)

    return await ctx.session.once("crm_user", read)


async def calendar(ctx: CheckContext) -> CalendarInfo:
    grant = grant_for(ctx, GrantRole.CALENDAR)
    api = ctx.providers.calendar[grant.provider]

    async def read() -> CalendarInfo:
        return await api.calendar(grant, await ctx.session.token(grant))

    return await ctx.session.once("calendar", read)


async def calendar_shares(ctx: CheckContext) -> tuple[CalendarShare, ...]:
    grant = grant_for(ctx, GrantRole.CALENDAR)
    api = ctx.providers.calendar[grant.provider]

    async def read() -> tuple[CalendarShare, ...]:
        return await api.shares(grant, await ctx.session.token(grant))

    return await ctx.session.once("calendar_shares", read)
