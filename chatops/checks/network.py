"""Can the sync reach every host it depends on: DNS, TCP, TLS (interception), HTTP (proxy block pages)?"""

from __future__ import annotations

import asyncio

from chatops.checks.base import CheckContext, CheckSpec
from chatops.findings import Cause, Finding
from chatops.ports import ProbeOutcome, ProbeResult

PROBE_TIMEOUT_S = 5.0

_REMEDY: dict[ProbeOutcome, tuple[str, ...]] = {
    ProbeOutcome.DNS_FAILURE: (
        "Check the host name in the connection settings.",
        "Ask IT whether the company DNS resolves this host (try `nslookup <host>` on the sync server).",
    ),
    ProbeOutcome.REFUSED: (
        "Ask IT to allow outbound connections to this host and port from the sync server.",
        "If the host is a mail server, check the port number in the connection settings.",
    ),
    ProbeOutcome.TIMEOUT: (
        "Ask IT to allow outbound traffic to this host and port; a firewall is dropping it silently.",
    ),
    ProbeOutcome.TLS_INTERCEPTED: (
        "Ask IT to exempt this host from TLS inspection (SSL decryption) on the proxy or firewall.",
        "Sync clients pin the provider's certificates and fail when a proxy re-signs the traffic.",
    ),
    ProbeOutcome.TLS_ERROR: (
        "Ask IT whether a firewall or proxy interferes with TLS to this host.",
    ),
    ProbeOutcome.PROXY_BLOCK: (
        "Ask IT to allow this host on the web proxy or filter (or to bypass the proxy for it).",
    ),
    ProbeOutcome.HTTP_ERROR: (
        "The provider is having trouble; run Retest in a few minutes and check the provider's status page.",
    ),
}


async def check_network(ctx: CheckContext) -> list[Finding]:
    endpoints = ctx.providers.endpoints_for(ctx.connection)
    if not endpoints:
        return [ctx.skipped("No network endpoints are known for this connection.")]
    timeout = PROBE_TIMEOUT_S
    results = await asyncio.gather(*(ctx.probe.probe(e, timeout) for e in endpoints))
    return [_finding(ctx, result) for result in results]


def _finding(ctx: CheckContext, result: ProbeResult) -> Finding:
    endpoint = result.endpoint
    timings = ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in result.timings_ms.items())
    evidence = [(f"{endpoint.name} ({endpoint.address})", result.detail)]
    if timings:
        evidence.append(("timings", timings))
    if result.tls_issuer:
        evidence.append(("certificate issuer", result.tls_issuer))
    if result.outcome is ProbeOutcome.OK:
        return ctx.ok(f"{endpoint.name} at {endpoint.address} is reachable.", subject=endpoint.address,
                      evidence=evidence)
    severity = ctx.warn if result.outcome is ProbeOutcome.HTTP_ERROR else ctx.fail
    return severity(
        f"{endpoint.name} at {endpoint.address} cannot be used: {result.detail}",
        subject=endpoint.address,
        evidence=evidence,
        remedy=_REMEDY[result.outcome],
        details={"outcome": result.outcome.value},
    )


CHECK = CheckSpec(name="network", cause=Cause.NETWORK, run=check_network, title="Network")
