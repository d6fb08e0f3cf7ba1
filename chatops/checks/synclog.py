"""What does the sync engine's own log say? Known error signatures grouped into patterns, unknown lines clustered."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from chatops.checks.base import CheckContext, CheckSpec
from chatops.checks.reasons import provider_label
from chatops.classify import Pattern, default_classifier, group
from chatops.findings import Cause, Finding
from chatops.model import GrantRole

RECENT = timedelta(hours=24)
MAX_PATTERNS = 5


async def check_synclog(ctx: CheckContext) -> list[Finding]:
    events = await ctx.history.events(ctx.connection.id)
    if not events:
        return [ctx.skipped("No sync log lines were ingested for this connection "
                            "(`chatops logs ingest FILE --connection ID`).", cause=Cause.OTHER, subject="sync-log")]
    patterns = group(((e.line, e.at, e.connection_id) for e in events), default_classifier())
    known = [p for p in patterns if p.cause is not Cause.OTHER]
    unknown = [p for p in patterns if p.cause is Cause.OTHER]
    consents = await ctx.history.consents(ctx.connection.id) if known else {}
    findings = [_pattern_finding(ctx, p, consents) for p in known[:MAX_PATTERNS]]
    if unknown:
        lines = sum(p.count for p in unknown)
        findings.append(ctx.warn(
            f"{lines} sync log line(s) in {len(unknown)} pattern(s) match no known error signature.",
            cause=Cause.OTHER, subject="sync-log:unknown",
            evidence=[(f"{p.count} x", p.example[:300]) for p in unknown[:3]],
            remedy=["Send these lines to support so the signature catalog learns them."],
        ))
    if not known:
        findings.insert(0, ctx.ok(f"{len(events)} sync log line(s) show no known sync error.",
                                  cause=Cause.OTHER, subject="sync-log"))
    return findings


def _reconnected_after(ctx: CheckContext, pattern: Pattern, consents: Mapping[GrantRole, datetime]) -> datetime | None:
    """When every grant a sign-in error is about was consented again after its last line (a Reconnect), else None:
    such lines are history."""
    grants = [g for g in ctx.connection.grants if g.provider.value == pattern.provider]
    if pattern.cause is not Cause.CREDENTIALS or pattern.last_seen is None or not grants:
        return None
    if any(g.role not in consents for g in grants):
        return None
    earliest = min(consents[g.role] for g in grants)
    return earliest if earliest > pattern.last_seen else None


def _pattern_finding(ctx: CheckContext, pattern: Pattern, consents: Mapping[GrantRole, datetime]) -> Finding:
    now = ctx.clock.now()
    reconnected = _reconnected_after(ctx, pattern, consents)
    if reconnected is not None and pattern.last_seen is not None:
        return ctx.ok(
            f"{pattern.count} x {pattern.signature} in the sync log ended {pattern.last_seen:%d %b %H:%M} UTC, "
            f"before {provider_label(pattern.provider)} was reconnected ({reconnected:%d %b %H:%M} UTC).",
            cause=pattern.cause, subject=f"sync-log:{pattern.signature}",
            evidence=[("pattern", f"{pattern.count} line(s), last {pattern.last_seen:%d %b %H:%M} UTC"),
                      ("example", pattern.example[:300])],
            details={"count": pattern.count, "provider": pattern.provider, "resolved": True},
        )
    recent = pattern.last_seen is None or now - pattern.last_seen <= RECENT
    seen = ""
    if pattern.first_seen and pattern.last_seen:
        seen = f", first {pattern.first_seen:%d %b %H:%M}, last {pattern.last_seen:%d %b %H:%M} UTC"
    make = ctx.fail if recent else ctx.warn
    return make(
        f"{pattern.count} x {pattern.signature}: {pattern.explanation}",
        cause=pattern.cause, subject=f"sync-log:{pattern.signature}",
        evidence=[("pattern", f"{pattern.count} line(s){seen}"), ("example", pattern.example[:300])],
        remedy=[pattern.fix],
        details={"count": pattern.count, "provider": pattern.provider},
    )


CHECK = CheckSpec(name="synclog", cause=Cause.OTHER, run=check_synclog, title="Sync log")
