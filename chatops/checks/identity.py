"""Does the CRM user's email match the mailbox's primary address or one of its aliases?"""

from __future__ import annotations

from chatops.addresses import InvalidAddress, MatchKind, compare
from chatops.checks import lookups
from chatops.checks.base import CheckContext, CheckSpec
from chatops.errors import ProviderError
from chatops.findings import Cause, Finding
from chatops.model import Connection, Provider


def _has_api_mailbox(connection: Connection) -> bool:
    return connection.mailbox_provider is not Provider.IMAP


async def check_identity(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    try:
        box = await lookups.mailbox(ctx)
        user = await lookups.crm_user(ctx)
    except lookups.MissingGrant as missing:
        return [missing.finding(ctx)]
    except ProviderError as exc:
        return [ctx.provider_error(exc, "reading the mailbox and CRM user")]
    if user is None:
        return [ctx.fail(
            f"{c.crm.label} has no user with the email {c.crm_user_email}, so synced email cannot be "
            "matched to a CRM user.",
            subject="crm-user",
            evidence=[(f"{c.crm.label} user lookup", f"no user with email {c.crm_user_email}"),
                      ("mailbox", box.primary_address)],
            remedy=[f"In {c.crm.label}, set the user's email to {box.primary_address}, "
                    "or correct the CRM user in this connection."],
        )]
    if not user.active:
        return [ctx.fail(
            f"The {c.crm.label} user {user.email} is deactivated, so nothing is synced for them.",
            cause=Cause.MAILBOX_CONFIG, subject="crm-user",
            evidence=[(f"{c.crm.label} user", f"{user.username or user.email} is inactive")],
            remedy=[f"Ask your {c.crm.label} admin to reactivate the user or reassign the connection."],
        )]
    try:
        match = compare(user.email, box.primary_address, box.aliases)
    except InvalidAddress as exc:
        return [ctx.fail(f"An address of this connection is not a valid email address: {exc}.",
                         subject="addresses", remedy=["Correct the address in the CRM or the connection."])]
    evidence = [(f"{c.crm.label} user email", user.email), ("mailbox primary address", box.primary_address),
                ("mailbox aliases", ", ".join(box.aliases) or "(none)")]
    if match.kind in (MatchKind.EXACT, MatchKind.EQUIVALENT, MatchKind.ALIAS):
        return [ctx.ok(match.explanation, subject="addresses", evidence=evidence)]
    return [ctx.fail(match.explanation, subject="addresses", evidence=evidence, remedy=[match.fix],
                     details={"kind": match.kind.value})]


CHECK = CheckSpec(name="identity", cause=Cause.DOMAIN_MISMATCH, run=check_identity, applies=_has_api_mailbox,
                  title="Addresses")
