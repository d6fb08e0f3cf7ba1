"""Do the CRM, the calendar and the mailbox agree on the time zone, and can the sync account see the calendar?"""

from __future__ import annotations

from chatops.checks import lookups
from chatops.checks.base import CheckContext, CheckSpec
from chatops.errors import ProviderError
from chatops.findings import Cause, Finding
from chatops.model import Connection, Provider
from chatops.ports import CalendarShare
from chatops.timezones import UnknownTimezone, describe_zone, offsets_differ

# What each provider calls the role that lets another account read event details.
_SHARE_ROLE_NAME = {Provider.GOOGLE: "See all event details", Provider.MICROSOFT: "Can view all details"}


def _has_calendar(connection: Connection) -> bool:
    return connection.calendar_provider is not None


async def check_calendar(ctx: CheckContext) -> list[Finding]:
    try:
        info = await lookups.calendar(ctx)
    except lookups.MissingGrant as missing:
        return [missing.finding(ctx)]
    except ProviderError as exc:
        return [ctx.provider_error(exc, "reading the calendar", cause=Cause.CALENDAR_PERMISSIONS)]
    return [await _timezones(ctx, info.timezone), *await _sharing(ctx)]


async def _timezones(ctx: CheckContext, calendar_zone: str | None) -> Finding:
    c = ctx.connection
    zones: list[tuple[str, str]] = []
    try:
        user = await lookups.crm_user(ctx)
        if user is not None and user.timezone:
            zones.append((f"{c.crm.label} user", user.timezone))
    except (ProviderError, lookups.MissingGrant):
        pass  # the identity check reports CRM access problems; compare what we have
    if calendar_zone:
        zones.append((f"{c.calendar_provider.label if c.calendar_provider else ''} calendar", calendar_zone))
    if c.mailbox_provider is not Provider.IMAP:
        try:
            box = await lookups.mailbox(ctx)
            if box.timezone:
                zones.append(("mailbox settings", box.timezone))
        except (ProviderError, lookups.MissingGrant):
            pass
    evidence = [(label, _describe(zone)) for label, zone in zones]
    if len(zones) < 2:
        return ctx.skipped("Fewer than two time zones are known for this connection, so none were compared.",
                           cause=Cause.CALENDAR_TIMEZONE, subject="timezones", evidence=evidence)
    (first_label, first), *others = zones
    for label, zone in others:
        try:
            difference = offsets_differ(first, zone, ctx.clock.now())
        except UnknownTimezone as exc:
            return ctx.warn(f"The time zone {exc.name!r} ({label}) is not a known time zone, so events may shift.",
                            cause=Cause.CALENDAR_TIMEZONE, subject="timezones", evidence=evidence,
                            remedy=[f"Set a standard time zone in the {label}."
                                    + (f" Did you mean {exc.suggestion}?" if exc.suggestion else "")])
        if difference is not None:
            when = "during daylight-saving changes" if difference.dst_only else "all year"
            hours = difference.max_shift.total_seconds() / 3600
            return ctx.fail(
                f"The {first_label} uses {_describe(first)} but the {label} uses {_describe(zone)}: "
                f"synced events shift by up to {hours:g} h {when}.",
                cause=Cause.CALENDAR_TIMEZONE, subject="timezones",
                evidence=[*evidence, ("example", difference.example)],
                remedy=[f"Set the same time zone in the {first_label} and the {label} "
                        f"(the one the person actually works in).",
                        "Then click Retest; already-synced events keep their old times."],
                details={"differing_days": difference.differing_days},
            )
    return ctx.ok("The CRM, calendar and mailbox use the same time zone.", cause=Cause.CALENDAR_TIMEZONE,
                  subject="timezones", evidence=evidence)


def _describe(zone: str) -> str:
    try:
        return describe_zone(zone)
    except UnknownTimezone:
        return zone


async def _sharing(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    if not c.sync_account:
        return []
    try:
        shares = await lookups.calendar_shares(ctx)
    except ProviderError as exc:
        return [ctx.provider_error(exc, "reading who the calendar is shared with",
                                   cause=Cause.CALENDAR_PERMISSIONS, subject="sharing")]
    share = _share_for(shares, c.sync_account)
    role_name = _SHARE_ROLE_NAME.get(c.calendar_provider or c.mailbox_provider, "read all event details")
    evidence = [("shared with", ", ".join(f"{s.grantee} ({s.role})" for s in shares) or "nobody")]
    if share is not None and share.can_read_details:
        return [ctx.ok(f"The calendar is shared with {c.sync_account} ({share.role}).",
                       cause=Cause.CALENDAR_PERMISSIONS, subject="sharing", evidence=evidence)]
    what = (f"shared only as {share.role} (which hides event details)" if share is not None else "not shared")
    return [ctx.fail(
        f"{c.mailbox_email}'s calendar is {what} with the sync account {c.sync_account}, "
        "so meetings are not logged in the CRM.",
        cause=Cause.CALENDAR_PERMISSIONS, subject="sharing", evidence=evidence,
        remedy=[f"Open the calendar's sharing settings and share it with {c.sync_account} as '{role_name}'.",
                "Then click Retest."],
    )]


def _share_for(shares: tuple[CalendarShare, ...], account: str) -> CalendarShare | None:
    """The share that applies to the account: its own, else its domain's, else the default one."""
    account = account.lower()
    domain = account.rsplit("@", 1)[-1]
    for wanted in (account, domain, "default"):
        found = [s for s in shares if s.grantee.lower() == wanted]
        if found:
            return max(found, key=lambda s: (s.can_read_details, s.can_write))
    return None


CHECK = CheckSpec(name="calendar", cause=Cause.CALENDAR_TIMEZONE, run=check_calendar, applies=_has_calendar,
                  title="Calendar")
