"""The network check over real sockets: each endpoint's outcome becomes a finding with cause and fix."""

from __future__ import annotations

import logging

from adapters.network import SocketProbe
from chatops.checks import network
from chatops.checks.base import CheckContext, Session
from chatops.findings import Cause, Status
from chatops.model import Connection, Provider
from chatops.ports import Endpoint, ProbeKind, Providers
from tests.fakes.clock import FakeClock
from tests.fakes.history import MemoryHistory
from tests.fakes.net import HEALTHY, ZSCALER_BLOCK, closed_port, http_server

CONNECTION = Connection(id="c1", workspace_id="w", name="ana", owner_email="ana@acme.example",
                        crm=Provider.HUBSPOT, crm_user_email="ana@acme.example",
                        mailbox_provider=Provider.GOOGLE, mailbox_email="ana@acme.example")


def context(endpoints: dict[Provider, list[Endpoint]], connection: Connection = CONNECTION) -> CheckContext:
    providers = Providers(oauth={}, mail={}, calendar={}, crm={},
                          endpoints={p: (lambda urls, found=found: found) for p, found in endpoints.items()})
    clock = FakeClock()
    return CheckContext(spec=network.CHECK, session=Session(connection, providers, MemoryHistory(), clock),
                        probe=SocketProbe(), clock=clock,
                        log=logging.LoggerAdapter(logging.getLogger("test"), {}))


async def test_reachable_hosts_are_ok_and_a_refused_one_is_a_network_failure() -> None:
    refused = closed_port()
    async with http_server(HEALTHY) as server:
        findings = await network.check_network(context({
            Provider.GOOGLE: [Endpoint("Gmail API", "127.0.0.1", server.port, ProbeKind.HTTP)],
            Provider.HUBSPOT: [Endpoint("HubSpot API", "127.0.0.1", refused, ProbeKind.HTTP)],
        }))

    by_name = {f.subject: f for f in findings}
    assert by_name[f"127.0.0.1:{server.port}"].status is Status.OK
    failed = by_name[f"127.0.0.1:{refused}"]
    assert (failed.status, failed.cause) == (Status.FAIL, Cause.NETWORK)
    assert failed.summary.startswith(f"HubSpot API at 127.0.0.1:{refused} cannot be used:")
    assert "refused" in failed.summary
    assert failed.remedy[0].startswith("Ask IT to allow outbound connections")
    assert any(e.label == "timings" and "connect" in e.value for e in failed.evidence)


async def test_a_proxy_block_page_is_named_with_the_product() -> None:
    async with http_server(ZSCALER_BLOCK) as server:
        [finding] = await network.check_network(context({
            Provider.GOOGLE: [Endpoint("Gmail API", "127.0.0.1", server.port, ProbeKind.HTTP)]}))

    assert finding.status is Status.FAIL
    assert finding.details["outcome"] == "proxy_block"
    assert "Zscaler" in finding.summary
    assert "proxy" in finding.remedy[0]


async def test_an_imap_mailbox_host_that_does_not_resolve_is_a_dns_failure() -> None:
    imap = Connection(id="c2", workspace_id="w", name="bob", owner_email="bob@acme.example", crm=Provider.HUBSPOT,
                      crm_user_email="bob@acme.example", mailbox_provider=Provider.IMAP,
                      mailbox_email="bob@acme.example", mail_host="mail.invalid")
    findings = await network.check_network(context({}, imap))

    assert {f.subject for f in findings} == {"mail.invalid:993", "mail.invalid:587"}
    assert all(f.status is Status.FAIL and f.details["outcome"] == "dns_failure" for f in findings)
    assert all("does not resolve" in f.summary for f in findings)


async def test_no_known_endpoints_is_skipped() -> None:
    [finding] = await network.check_network(context({}))

    assert finding.status is Status.SKIPPED
