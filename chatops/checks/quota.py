"""Is the CRM's API quota running out, when will it at this burn rate, and can the sync schedule fit it at all?"""

from __future__ import annotations

from datetime import datetime, timedelta

from chatops.checks import lookups
from chatops.checks.base import CheckContext, CheckSpec
from chatops.errors import ProviderError, RateLimited
from chatops.findings import Cause, Finding
from chatops.model import Grant, GrantRole
from chatops.ports import CrmApi, QuotaUsage, UsageWindow
from chatops.schedules import describe, suggest_interval, syncs_per_day

DAY = timedelta(days=1)
YEAR = timedelta(days=365)  # a forecast further out than this is no forecast
HISTORY = timedelta(hours=6)  # samples older than this say little about the current burn rate
MIN_SPAN = timedelta(minutes=5)


async def check_quota(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    try:
        grant = lookups.grant_for(ctx, GrantRole.CRM)
    except lookups.MissingGrant as missing:
        return [missing.finding(ctx)]
    api = ctx.providers.crm[grant.provider]
    try:
        usages = await ctx.session.once("crm_usage", lambda: _usage(ctx, api, grant))
    except RateLimited as exc:
        wait = f" Retry after {int(exc.retry_after.total_seconds())} s." if exc.retry_after else ""
        return [ctx.fail(
            f"{c.crm.label} is refusing API calls because a rate limit was hit ({exc.code or exc.status}).{wait}",
            subject=c.crm.value, evidence=[(f"{c.crm.label} answer", exc.evidence)],
            remedy=["Wait for the limit to reset, then click Retest.",
                    "If it keeps happening, lengthen the sync interval or ask the CRM admin to raise the limit."],
            details={"retry_after_s": exc.retry_after.total_seconds() if exc.retry_after else None},
        )]
    except ProviderError as exc:
        return [ctx.provider_error(exc, "reading the API usage")]
    if not usages:
        return [ctx.skipped(f"{c.crm.label} reports no API usage figures for this connection.", subject=c.crm.value)]
    now = ctx.clock.now()
    findings = []
    for usage in usages:
        await ctx.history.record_usage(c.id, usage, now)
        samples = await ctx.history.usage_samples(c.id, usage.name, now - HISTORY)
        findings.append(_usage_finding(ctx, usage, samples, now))
    daily = next((u for u in usages if u.window is UsageWindow.DAILY), None)
    if daily is not None and c.calls_per_sync and c.sync_jobs:
        findings.append(_schedule_fit(ctx, daily))
    return findings


async def _usage(ctx: CheckContext, api: CrmApi, grant: Grant) -> tuple[QuotaUsage, ...]:
    return await api.usage(grant, await ctx.session.token(grant))


def burn_rate(usage: QuotaUsage, samples: list[tuple[datetime, int, int]], now: datetime) -> float | None:
    """How fast usage grows, in calls per second; None when nothing says (a first look at a rolling window).

    Recent samples tell best. Without them, a window that resets at a fixed time grew by `used` since its
    reset; a rolling 24 h window (Salesforce) stays level at a steady rate, so one reading forecasts nothing.
    """
    ordered = sorted(samples)
    if ordered and now - ordered[0][0] >= MIN_SPAN and usage.used >= ordered[0][1]:
        return (usage.used - ordered[0][1]) / (now - ordered[0][0]).total_seconds()
    if usage.resets_at is not None:
        elapsed = DAY - (usage.resets_at - now)
        if elapsed > MIN_SPAN:
            return usage.used / elapsed.total_seconds()
    return None


def _usage_finding(ctx: CheckContext, usage: QuotaUsage, samples: list[tuple[datetime, int, int]],
                   now: datetime) -> Finding:
    c = ctx.connection
    percent = 100.0 * usage.used / usage.limit if usage.limit else 0.0
    label = f"{c.crm.label} {usage.label or _WINDOW_WORDS[usage.window] + ' API limit'}"
    subject = f"{c.crm.value}:{usage.name}"
    evidence = [(usage.name, f"{usage.used:,} of {usage.limit:,} used ({percent:.0f}%)")]
    details: dict[str, object] = {"percent": round(percent, 1)}
    if usage.window is not UsageWindow.DAILY:
        # A window of seconds or minutes refills on its own: a full one means bursts are refused right now.
        if percent >= 100:
            return ctx.warn(f"The {label} was used up when checked ({usage.used:,} of {usage.limit:,}): "
                            "bursts of sync calls are being refused.", subject=subject, evidence=evidence,
                            remedy=["Spread the sync's calls out (fewer parallel requests per run)."],
                            details=details)
        return ctx.ok(f"The {label} is at {percent:.0f}%.", subject=subject, evidence=evidence, details=details)
    rate = burn_rate(usage, samples, now)
    left = max(0, usage.limit - usage.used)
    # a trickle of calls against a vast limit "runs out" past the year 9999 (OverflowError): no forecast
    runs_out = now + timedelta(seconds=left / rate) if rate and left / rate < YEAR.total_seconds() else None
    if rate is not None:
        evidence.append(("burn rate", f"{rate * 3600:,.0f} calls per hour"))
    if usage.resets_at is not None:
        evidence.append(("resets", f"{usage.resets_at:%d %b %H:%M} UTC"))
    forecast = ""
    if runs_out is not None and (usage.resets_at is None or runs_out < usage.resets_at) and runs_out - now < DAY:
        forecast = f" At this rate it runs out at {runs_out:%H:%M} UTC."
        evidence.append(("forecast", f"exhausted at {runs_out:%d %b %H:%M} UTC"))
    remedy = [f"Ask your {c.crm.label} admin which integrations use the most API calls and slow them down.",
              "Lengthen this connection's sync interval.",
              f"If the org keeps hitting the limit, buy more API capacity from {c.crm.label}."]
    details["runs_out_at"] = runs_out.isoformat() if runs_out else None
    if percent >= 100:
        return ctx.fail(f"The {label} is used up ({usage.used:,} of {usage.limit:,}): sync stops until it resets.",
                        subject=subject, evidence=evidence, remedy=remedy, details=details)
    if forecast and usage.resets_at is not None:
        return ctx.fail(f"The {label} is at {percent:.0f}% and will run out before it resets.{forecast}",
                        subject=subject, evidence=evidence, remedy=remedy, details=details)
    if percent >= ctx.thresholds.quota_warn_percent:
        return ctx.warn(f"The {label} is at {percent:.0f}% of {usage.limit:,}.{forecast}",
                        subject=subject, evidence=evidence, remedy=remedy, details=details)
    return ctx.ok(f"The {label} is at {percent:.0f}% of {usage.limit:,}.", subject=subject, evidence=evidence,
                  details=details)


_WINDOW_WORDS = {UsageWindow.DAILY: "daily", UsageWindow.SECONDLY: "per-second", UsageWindow.BURST: "burst"}


def _schedule_fit(ctx: CheckContext, daily: QuotaUsage) -> Finding:
    c = ctx.connection
    per_day = sum(syncs_per_day(job) for job in c.sync_jobs)
    needed = int(per_day * c.calls_per_sync)
    # Usage counts this connection's own calls too, unless the schedule asks for more than was used at all.
    others = daily.used - needed if needed <= daily.used else daily.used
    evidence = [("sync schedule", "; ".join(f"{j.name}: {describe(j)}" for j in c.sync_jobs)),
                ("calls needed per day", f"{per_day:,.0f} syncs x {c.calls_per_sync} calls = {needed:,}"),
                ("used by everything else", f"{others:,} of {daily.limit:,}")]
    if needed + others <= daily.limit:
        return ctx.ok(f"The sync schedule needs {needed:,} of the {daily.limit:,} daily API calls and fits.",
                      subject="schedule-fit", evidence=evidence)
    interval = suggest_interval(c.calls_per_sync, daily.limit, others)
    fix = (f"Sync every {interval} minutes instead: that needs "
           f"{int(24 * 60 / interval) * c.calls_per_sync:,} calls a day." if interval
           else "Even one sync a day does not fit what is left of the quota: free up API capacity first.")
    return ctx.fail(
        f"The sync schedule needs {needed:,} API calls a day, but only {max(0, daily.limit - others):,} are left "
        f"after everything else uses the {c.crm.label} quota.",
        subject="schedule-fit", evidence=evidence, remedy=[fix],
        details={"suggested_interval_minutes": interval},
    )


CHECK = CheckSpec(name="quota", cause=Cause.RATE_LIMIT, run=check_quota, title="API limits")
