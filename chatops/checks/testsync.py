"""A synthetic end-to-end probe: read the newest mail and next event, find the contact in the CRM, optionally write."""

from __future__ import annotations

from chatops.checks import lookups
from chatops.checks.base import CheckContext, CheckSpec
from chatops.errors import ProviderError
from chatops.findings import Cause, Finding, Status
from chatops.model import Connection, GrantRole, Provider

TEST_SUBJECT = "chatops sync test (safe to delete)"


def _has_api_mailbox(connection: Connection) -> bool:
    return connection.mailbox_provider is not Provider.IMAP


async def check_testsync(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    steps: list[tuple[str, str]] = []
    step = "reading the newest message"
    try:
        mail_grant = lookups.grant_for(ctx, GrantRole.MAIL)
        message = await ctx.providers.mail[mail_grant.provider].newest_message(
            mail_grant, await ctx.session.token(mail_grant))
        steps.append(("read mail", f"newest message {message.id} from {message.sender or 'unknown sender'}"
                      if message else "the mailbox is empty"))
        if c.calendar_provider is not None:
            step = "reading the next calendar event"
            cal_grant = lookups.grant_for(ctx, GrantRole.CALENDAR)
            event = await ctx.providers.calendar[cal_grant.provider].next_event(
                cal_grant, await ctx.session.token(cal_grant), ctx.clock.now())
            steps.append(("read calendar", f"next event {event.id}" if event else "no upcoming events"))
        step = f"looking up the contact in {c.crm.label}"
        crm_grant = lookups.grant_for(ctx, GrantRole.CRM)
        crm = ctx.providers.crm[crm_grant.provider]
        crm_token = await ctx.session.token(crm_grant)
        if message is not None and message.sender:
            contact = await crm.find_contact(crm_grant, crm_token, message.sender)
            steps.append(("CRM lookup", f"{message.sender} is {'contact ' + contact if contact else 'not in the CRM'}"))
        else:
            steps.append(("CRM lookup", "skipped: no sender to look up"))
        if ctx.write_probe:
            step = f"writing a test activity in {c.crm.label}"
            user = await lookups.crm_user(ctx)
            if user is None:
                steps.append(("CRM write", "skipped: the CRM user was not found"))
            else:
                activity = await crm.create_test_activity(crm_grant, crm_token, user, TEST_SUBJECT)
                step = f"deleting the test activity {activity} in {c.crm.label}"
                await crm.delete_activity(crm_grant, crm_token, activity)
                steps.append(("CRM write", f"created and deleted test activity {activity}"))
        else:
            steps.append(("CRM write", "skipped (dry run; use --write to test writing)"))
    except lookups.MissingGrant as missing:
        return [missing.finding(ctx)]
    except ProviderError as exc:
        failed = ctx.provider_error(exc, step, subject="testsync")
        if failed.status is Status.SKIPPED:  # blocked by a grant the credentials check already reports
            return [failed]
        return [ctx.finding(failed.status, f"Test sync stopped at {step}: {failed.summary}", cause=failed.cause,
                            subject="testsync", evidence=[*steps, *((e.label, e.value) for e in failed.evidence)],
                            remedy=failed.remedy, actions=failed.actions)]
    return [ctx.ok("Test sync passed: " + "; ".join(f"{label} OK" for label, _ in steps
                                                   if not _.startswith("skipped")) + ".",
                   subject="testsync", evidence=steps)]


CHECK = CheckSpec(name="testsync", cause=Cause.OTHER, run=check_testsync, applies=_has_api_mailbox,
                  title="Test sync")
