"""Are the connection's OAuth grants alive, refreshable and wide enough for sync?"""

from __future__ import annotations

from chatops.checks.base import CheckContext, CheckSpec
from chatops.errors import ProviderError
from chatops.findings import Action, ActionKind, Cause, Finding
from chatops.model import Grant, GrantRole, Keeper
from chatops.ports import SyncState

_ROLE_WORDS = {GrantRole.MAIL: "mail", GrantRole.CALENDAR: "calendar", GrantRole.CRM: "CRM"}


async def check_credentials(ctx: CheckContext) -> list[Finding]:
    findings: list[Finding] = []
    for grant in ctx.connection.grants:
        if grant.keeper is Keeper.CRM:
            continue  # the CRM holds these tokens: judged from the CRM's own sync status below
        findings.append(await _grant_finding(ctx, grant))
    findings.extend(await _crm_kept_findings(ctx))
    return findings


async def _grant_finding(ctx: CheckContext, grant: Grant) -> Finding:
    label = f"{grant.provider.label} {_ROLE_WORDS[grant.role]} access for {grant.account}"
    try:
        tokens = await ctx.session.refresh(grant)
    except ProviderError as exc:
        return ctx.provider_error(exc, f"renewing {label}", subject=grant.id)
    required = ctx.providers.oauth[grant.provider].required_scopes(grant.role)
    missing = sorted(required - tokens.scopes)
    if missing:
        return ctx.fail(
            f"{label} is missing permissions the sync needs: {', '.join(missing)}.",
            subject=grant.id,
            evidence=[("granted scopes", " ".join(sorted(tokens.scopes)) or "(none)"),
                      ("required scopes", " ".join(sorted(required)))],
            remedy=["Click Reconnect and approve every permission on the consent screen.",
                    "If a permission is greyed out, ask your admin to allow it for the sync app."],
            actions=[ctx.reconnect(grant)],
            details={"missing_scopes": missing},
        )
    evidence = [("token endpoint", "refresh succeeded")]
    if tokens.expires_at is not None:
        minutes = max(0, int((tokens.expires_at - ctx.clock.now()).total_seconds() // 60))
        evidence.append(("new access token", f"valid for {minutes} min, until {tokens.expires_at:%H:%M} UTC"))
    if tokens.refresh_token:
        evidence.append(("refresh token", "rotated by the provider and stored"))
    return ctx.ok(f"{label} works.", subject=grant.id, evidence=evidence)


async def _crm_kept_findings(ctx: CheckContext) -> list[Finding]:
    """Where the CRM keeps the mailbox tokens itself (its built-in inbox connection), ask the CRM."""
    kept = [g for g in ctx.connection.grants if g.keeper is Keeper.CRM]
    crm_grant = ctx.connection.grant(GrantRole.CRM)
    if not kept or crm_grant is None or crm_grant.keeper is Keeper.CRM:
        return []
    crm = ctx.providers.crm[ctx.connection.crm]
    try:
        token = await ctx.session.token(crm_grant)
        user = await ctx.session.once(
            "crm_user", lambda: crm.user(crm_grant, token, ctx.connection.crm_user_email))
        status = None if user is None else await ctx.session.once(
            "crm_sync_status", lambda: crm.mail_sync_status(crm_grant, token, user))
    except ProviderError as exc:
        return [ctx.provider_error(exc, "reading the CRM's own mailbox connection", subject=crm_grant.id)]
    if status is None:
        return []
    keeper = status.keeper_label or f"{ctx.connection.crm.label}'s own mailbox connection"
    failing = [name for name, state in (("incoming mail", status.incoming), ("outgoing mail", status.outgoing),
                                        ("appointments", status.appointments))
               if state in (SyncState.FAILING, SyncState.DISABLED)]
    if not failing:
        return [ctx.ok(f"{keeper} reports the mailbox connection is working.", subject="crm-kept")]
    actions = [Action(ActionKind.OPEN_URL, f"Reconnect in {ctx.connection.crm.label}", status.reconnect_url)] \
        if status.reconnect_url else []
    return [ctx.fail(
        f"{keeper} has stopped syncing {', '.join(failing)} for {ctx.connection.mailbox_email}; "
        f"this connection's tokens are kept by {ctx.connection.crm.label}, not by chatops.",
        cause=Cause.CREDENTIALS,
        subject="crm-kept",
        evidence=[("CRM sync status", f"incoming {status.incoming}, outgoing {status.outgoing}, "
                                      f"appointments {status.appointments}"),
                  *([("CRM last error", status.last_error)] if status.last_error else [])],
        remedy=[f"Open {keeper} in {ctx.connection.crm.label} and reconnect the mailbox there.",
                "Then click Retest here."],
        actions=actions,
    )]


CHECK = CheckSpec(name="credentials", cause=Cause.CREDENTIALS, run=check_credentials, title="Sign-in")
