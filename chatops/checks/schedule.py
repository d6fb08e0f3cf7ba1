"""Do sync jobs on one mailbox overlap, run longer than their interval, or collide in the sync log?"""

from __future__ import annotations

from chatops.checks.base import CheckContext, CheckSpec
from chatops.classify import default_classifier
from chatops.findings import Cause, Finding
from chatops.model import Connection
from chatops.schedules import InvalidSchedule, describe, overlaps, too_long

WINDOW_HOURS = 24


def _has_schedule(connection: Connection) -> bool:
    return bool(connection.sync_jobs)


async def check_schedule(ctx: CheckContext) -> list[Finding]:
    c = ctx.connection
    now = ctx.clock.now()
    findings: list[Finding] = []
    try:
        found = overlaps(c.sync_jobs, now, hours=WINDOW_HOURS)
        long_jobs = [job for job in c.sync_jobs if too_long(job)]
    except InvalidSchedule as exc:
        return [ctx.fail(f"A sync schedule of this connection cannot be read: {exc}.", subject="schedule",
                         cause=Cause.SCHEDULE_CONFLICT, remedy=["Correct the cron expression or interval."])]
    collisions = await _log_collisions(ctx)
    for overlap in found:
        a, b = overlap.job_a, overlap.job_b
        findings.append(ctx.fail(
            f"Two sync jobs hit {c.mailbox_email}: {a.name} ({a.tool}) and {b.name} ({b.tool}) overlap "
            f"{overlap.overlap_fraction:.0%} of the time, so they fight over the same mail.",
            subject=f"{a.name}+{b.name}",
            evidence=[(a.name, describe(a)), (b.name, describe(b)),
                      ("overlap", f"{overlap.overlapping_runs} overlapping runs in the next {WINDOW_HOURS} h, "
                                  f"first at {overlap.example_at:%H:%M} UTC"),
                      *collisions],
            remedy=[f"Turn off one of the two tools for this mailbox (keep only {a.tool} or {b.tool}).",
                    "Or stagger them so one starts after the other has finished."],
            details={"overlap_fraction": round(overlap.overlap_fraction, 3)},
        ))
    for job in long_jobs:
        findings.append(ctx.fail(
            f"{job.name} runs take {job.duration_minutes:g} min but start every {job.interval_minutes} min, "
            "so runs pile up on each other.",
            subject=job.name, evidence=[(job.name, describe(job)), *collisions],
            remedy=[f"Make {job.name} run less often than every {job.duration_minutes:g} min, "
                    "or reduce how much it syncs per run."],
        ))
    if not findings and collisions:
        findings.append(ctx.warn(
            "The sync log shows runs colliding on this mailbox even though the schedules do not overlap.",
            subject="sync-log", evidence=collisions,
            remedy=["Look for a second tool or a manual sync running against this mailbox, and turn it off."],
        ))
    if not findings:
        findings.append(ctx.ok(f"{len(c.sync_jobs)} sync job(s) on this mailbox do not overlap.",
                               subject="schedule", evidence=[(j.name, describe(j)) for j in c.sync_jobs]))
    return findings


async def _log_collisions(ctx: CheckContext) -> list[tuple[str, str]]:
    """Sync-log lines that say two runs collided (e.g. 'another sync is already running')."""
    classifier = default_classifier()
    hits = [e for e in await ctx.history.events(ctx.connection.id)
            if classifier.classify(e.line).cause is Cause.SCHEDULE_CONFLICT]
    if not hits:
        return []
    last = hits[-1]
    return [("sync log", f"{len(hits)} collision line(s), latest: {last.line[:200]}")]


CHECK = CheckSpec(name="schedule", cause=Cause.SCHEDULE_CONFLICT, run=check_schedule, applies=_has_schedule,
                  title="Sync schedule")
