"""SocketProbe against real 127.0.0.1 servers: one test per outcome, the deadline, and garbage answers."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import pytest

from adapters.network import SocketProbe
from chatops.model import Provider
from chatops.ports import Endpoint, NetworkProbe, ProbeKind, ProbeOutcome, ProbeResult
from tests.fakes.net import (
    BAD_GATEWAY,
    FORTIGUARD_BLOCK,
    GENERIC_FILTER_BLOCK,
    HEALTHY,
    HOST,
    NOT_FOUND,
    PROXY_AUTH_REQUIRED,
    SQUID_DENIED,
    UNAUTHORIZED,
    ZSCALER_BLOCK,
    CertificateAuthority,
    HttpReply,
    closed_port,
    dropping_listener,
    http_server,
    imap_server,
    raw_server,
    self_signed,
    silent_listener,
    smtp_server,
    trickling_http_server,
    trusting,
)

TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.5
GENEROUS_S = 3.0  # slack for a loaded CI machine; the point is that the result arrives, not its speed
GRAPH_ISSUERS = ("DigiCert", "Microsoft Azure")


@pytest.fixture(scope="module")
def public_ca() -> CertificateAuthority:
    """Stands in for a real public CA the provider uses; tests trust it as if it were in the system store."""
    return CertificateAuthority.create(
        "Microsoft Azure RSA TLS Issuing CA 03 (test)", "Microsoft Corporation"
    )


@pytest.fixture(scope="module")
def corporate_ca() -> CertificateAuthority:
    return CertificateAuthority.create("Corporate Proxy Root CA", "Acme Corp IT")


@pytest.fixture
def probe(public_ca: CertificateAuthority) -> SocketProbe:
    return SocketProbe(trusting(public_ca))


def graph(port: int, kind: ProbeKind = ProbeKind.HTTPS, *, path: str = "/v1.0/$metadata") -> Endpoint:
    return Endpoint(
        "Microsoft Graph",
        HOST,
        port,
        kind,
        path=path,
        provider=Provider.MICROSOFT,
        expected_issuers=GRAPH_ISSUERS,
    )


def service(port: int, kind: ProbeKind) -> Endpoint:
    return Endpoint(f"test {kind}", HOST, port, kind)


def _stages(result: ProbeResult) -> set[str]:
    assert all(ms >= 0 for ms in result.timings_ms.values())
    return set(result.timings_ms)


def test_socket_probe_is_a_network_probe() -> None:
    port: NetworkProbe = SocketProbe()
    assert callable(port.probe)


# ---------------------------------------------------------------- DNS and TCP


async def test_unresolvable_name_is_dns_failure(probe: SocketProbe) -> None:
    endpoint = Endpoint("IMAP", "mail.invalid", 993, ProbeKind.IMAPS)

    result = await probe.probe(endpoint, TIMEOUT_S)

    assert result.outcome is ProbeOutcome.DNS_FAILURE
    assert result.detail.startswith("mail.invalid ")  # "does not resolve (Name or service not known)"
    assert "resolve" in result.detail
    assert result.resolved == ""
    assert _stages(result) == {"dns"}


async def test_closed_port_is_refused(probe: SocketProbe) -> None:
    result = await probe.probe(graph(closed_port()), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.REFUSED
    assert "refused the connection" in result.detail
    assert result.resolved == HOST
    assert _stages(result) == {"dns", "connect"}


async def test_dropped_syn_is_timeout_within_the_deadline(probe: SocketProbe) -> None:
    async with dropping_listener() as server:
        started = time.monotonic()
        result = await probe.probe(graph(server.port), SHORT_TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TIMEOUT
    assert result.detail == (
        f"no answer from {HOST}:{server.port} within 0.5 s: "
        "outbound traffic is dropped, most likely by a firewall rule"
    )
    assert _stages(result) == {"dns", "connect"}
    assert time.monotonic() - started < SHORT_TIMEOUT_S + GENEROUS_S


SILENCE = {
    ProbeKind.HTTP: "accepted the connection but sent no complete HTTP answer within 0.5 s",
    ProbeKind.HTTPS: "accepted the connection but the TLS handshake got no answer within 0.5 s",
    ProbeKind.SMTP_STARTTLS: "accepted the connection but sent no complete SMTP reply within 0.5 s",
    ProbeKind.SMTPS: "accepted the connection but the TLS handshake got no answer within 0.5 s",
    ProbeKind.IMAPS: "accepted the connection but the TLS handshake got no answer within 0.5 s",
}


@pytest.mark.parametrize("kind", list(ProbeKind))
async def test_silent_service_is_timeout_within_the_deadline(probe: SocketProbe, kind: ProbeKind) -> None:
    async with silent_listener() as server:
        started = time.monotonic()
        result = await asyncio.wait_for(probe.probe(service(server.port, kind), SHORT_TIMEOUT_S), GENEROUS_S)

    assert result.outcome is ProbeOutcome.TIMEOUT
    assert SILENCE[kind] in result.detail
    assert time.monotonic() - started < SHORT_TIMEOUT_S + GENEROUS_S


# ---------------------------------------------------------------- TLS


async def test_self_signed_certificate_is_intercepted(probe: SocketProbe) -> None:
    async with http_server(HEALTHY, tls=self_signed("proxy.acme.internal").server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_INTERCEPTED
    assert result.detail.startswith(f"the certificate for {HOST} is self-signed by 'proxy.acme.internal'")
    assert "exempt these hosts from inspection" in result.detail
    assert result.tls_issuer == "proxy.acme.internal"
    assert server.received == []  # nothing is sent over a connection we could not verify


async def test_untrusted_corporate_ca_is_intercepted_and_named(
    probe: SocketProbe, corporate_ca: CertificateAuthority
) -> None:
    async with http_server(HEALTHY, tls=corporate_ca.issue().server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_INTERCEPTED
    assert result.detail == (
        f"the certificate for {HOST} was issued by 'Corporate Proxy Root CA', not by Microsoft 365's CAs "
        "(DigiCert, Microsoft Azure): a TLS-inspecting proxy sits in the path; "
        "exempt these hosts from inspection"
    )
    assert result.tls_issuer == "Corporate Proxy Root CA"
    assert result.tls_version.startswith("TLSv1.")


async def test_corporate_ca_in_the_trust_store_is_still_intercepted(
    public_ca: CertificateAuthority, corporate_ca: CertificateAuthority
) -> None:
    probe = SocketProbe(trusting(public_ca, corporate_ca))  # the proxy's root CA was pushed to this machine

    async with http_server(HEALTHY, tls=corporate_ca.issue().server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_INTERCEPTED
    assert "issued by 'Corporate Proxy Root CA', not by Microsoft 365's CAs" in result.detail
    assert "this machine trusts it" in result.detail
    assert result.tls_issuer == "Corporate Proxy Root CA"


async def test_untrusted_ca_is_intercepted_when_no_issuers_are_expected(
    probe: SocketProbe, corporate_ca: CertificateAuthority
) -> None:
    async with http_server(HEALTHY, tls=corporate_ca.issue().server_context()) as server:
        result = await probe.probe(Endpoint("API", HOST, server.port, ProbeKind.HTTPS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_INTERCEPTED
    assert "'Corporate Proxy Root CA', a CA this machine does not trust" in result.detail


async def test_certificate_for_another_name_from_the_expected_ca_is_tls_error(
    probe: SocketProbe, public_ca: CertificateAuthority
) -> None:
    async with http_server(HEALTHY, tls=public_ca.issue("other.example.test").server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_ERROR
    assert f"the certificate is not valid for {HOST}" in result.detail


async def test_expected_trusted_ca_is_ok_with_every_stage_timed(
    probe: SocketProbe, public_ca: CertificateAuthority
) -> None:
    async with http_server(HEALTHY, tls=public_ca.issue().server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.OK, result.detail
    assert (result.http_status, result.resolved) == (200, HOST)
    assert result.tls_issuer == "Microsoft Azure RSA TLS Issuing CA 03 (test)"
    assert result.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert _stages(result) == {"dns", "connect", "tls", "http"}
    [request] = server.received
    assert request.startswith(b"GET /v1.0/$metadata HTTP/1.1\r\n")
    assert f"Host: {HOST}:{server.port}\r\n".encode() in request
    assert b"Connection: close\r\n" in request


async def test_plain_text_on_a_tls_port_is_tls_error(probe: SocketProbe) -> None:
    # what a plain HTTP server (or an HTTP proxy) answers to a TLS ClientHello
    async with raw_server(
        HttpReply(400, "Bad Request", {"Content-Type": "text/plain"}, b"bad request").encode()
    ) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_ERROR
    assert "does not speak TLS" in result.detail


async def test_connection_cut_during_handshake_is_tls_error(probe: SocketProbe) -> None:
    async with raw_server(b"") as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_ERROR
    assert "cut the connection during the TLS handshake" in result.detail


# ---------------------------------------------------------------- HTTP


async def test_healthy_http_is_ok(probe: SocketProbe) -> None:
    async with http_server(HEALTHY) as server:
        result = await probe.probe(graph(server.port, ProbeKind.HTTP, path="/health"), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.OK
    assert result.http_status == 200
    assert result.detail == f"{HOST}:{server.port} answered HTTP 200 OK"
    assert _stages(result) == {"dns", "connect", "http"}
    assert server.received[0].startswith(b"GET /health HTTP/1.1\r\n")


@pytest.mark.parametrize("reply", [UNAUTHORIZED, NOT_FOUND], ids=["401", "404"])
async def test_api_root_answering_as_itself_is_ok(probe: SocketProbe, reply: HttpReply) -> None:
    async with http_server(reply) as server:
        result = await probe.probe(graph(server.port, ProbeKind.HTTP), TIMEOUT_S)

    assert (result.outcome, result.http_status) == (ProbeOutcome.OK, reply.status)


async def test_zscaler_block_page_is_proxy_block_naming_the_product(probe: SocketProbe) -> None:
    async with http_server(ZSCALER_BLOCK) as server:
        result = await probe.probe(graph(server.port, ProbeKind.HTTP), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.PROXY_BLOCK
    assert result.http_status == 403
    assert result.detail.startswith(
        f"{HOST}:{server.port} answered HTTP 403 Forbidden with a Zscaler block page instead of Microsoft 365"
    )


@pytest.mark.parametrize(
    ("reply", "named"),
    [
        (FORTIGUARD_BLOCK, "FortiGuard block page"),
        (SQUID_DENIED, "from Squid (ERR_ACCESS_DENIED 0)"),
        (PROXY_AUTH_REQUIRED, "from Blue Coat, asking for proxy credentials"),
        (GENERIC_FILTER_BLOCK, "with a web filter's block page"),
    ],
    ids=["fortiguard-200", "squid-403", "proxy-auth-407", "unnamed-filter"],
)
async def test_other_proxy_answers_are_proxy_block(probe: SocketProbe, reply: HttpReply, named: str) -> None:
    async with http_server(reply) as server:
        result = await probe.probe(graph(server.port, ProbeKind.HTTP), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.PROXY_BLOCK
    assert named in result.detail


async def test_block_page_behind_trusted_inspection_is_proxy_block(
    public_ca: CertificateAuthority, corporate_ca: CertificateAuthority
) -> None:
    probe = SocketProbe(trusting(public_ca, corporate_ca))

    async with http_server(ZSCALER_BLOCK, tls=corporate_ca.issue().server_context()) as server:
        result = await probe.probe(graph(server.port), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.PROXY_BLOCK
    assert "Zscaler block page" in result.detail
    assert result.tls_issuer == "Corporate Proxy Root CA"


async def test_bad_gateway_is_http_error(probe: SocketProbe) -> None:
    async with http_server(BAD_GATEWAY) as server:
        result = await probe.probe(graph(server.port, ProbeKind.HTTP), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.HTTP_ERROR
    assert result.http_status == 502
    assert "HTTP 502 Bad Gateway: the host is up but failing" in result.detail


# ---------------------------------------------------------------- SMTP and IMAP


async def test_smtp_with_starttls_is_ok(probe: SocketProbe, public_ca: CertificateAuthority) -> None:
    async with smtp_server(public_ca.issue().server_context()) as server:
        result = await probe.probe(service(server.port, ProbeKind.SMTP_STARTTLS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.OK, result.detail
    assert result.tls_issuer == "Microsoft Azure RSA TLS Issuing CA 03 (test)"
    assert _stages(result) == {"dns", "connect", "smtp", "tls"}
    commands = [line.split()[0] for line in server.received]
    assert commands[:3] == [b"EHLO", b"STARTTLS", b"EHLO"]  # then a QUIT the probe does not wait for


@pytest.mark.parametrize(
    ("extensions", "why"),
    [
        (("PIPELINING", "8BITMIME"), "the server or a firewall doing SMTP inspection strips it"),
        (("PIPELINING", "XXXXXXXA", "8BITMIME"), "Cisco ASA 'inspect esmtp' masks it as XXXXXXXA"),
    ],
    ids=["missing", "masked-by-firewall"],
)
async def test_smtp_without_starttls_is_tls_error(
    probe: SocketProbe, public_ca: CertificateAuthority, extensions: tuple[str, ...], why: str
) -> None:
    async with smtp_server(public_ca.issue().server_context(), extensions=extensions) as server:
        result = await probe.probe(service(server.port, ProbeKind.SMTP_STARTTLS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_ERROR
    assert result.detail.startswith(f"{HOST}:{server.port} does not offer STARTTLS")
    assert why in result.detail


async def test_smtp_starttls_to_an_intercepting_certificate_is_intercepted(probe: SocketProbe) -> None:
    async with smtp_server(self_signed().server_context()) as server:
        result = await probe.probe(service(server.port, ProbeKind.SMTP_STARTTLS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.TLS_INTERCEPTED
    assert "self-signed by 'proxy.acme.internal'" in result.detail


async def test_smtps_banner_is_ok(probe: SocketProbe, public_ca: CertificateAuthority) -> None:
    async with smtp_server(public_ca.issue().server_context(), implicit_tls=True) as server:
        result = await probe.probe(service(server.port, ProbeKind.SMTPS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.OK, result.detail
    assert "answered SMTP 220" in result.detail


async def test_smtp_refusing_the_session_is_http_error(
    probe: SocketProbe, public_ca: CertificateAuthority
) -> None:
    tls = public_ca.issue().server_context()
    async with smtp_server(tls, implicit_tls=True, banner="554 5.7.1 no SMTP service here") as server:
        result = await probe.probe(service(server.port, ProbeKind.SMTPS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.HTTP_ERROR
    assert "greeted with SMTP 554" in result.detail


async def test_imap_greeting_is_ok(probe: SocketProbe, public_ca: CertificateAuthority) -> None:
    async with imap_server(public_ca.issue().server_context()) as server:
        result = await probe.probe(service(server.port, ProbeKind.IMAPS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.OK, result.detail
    assert "answered IMAP '* OK" in result.detail
    assert _stages(result) == {"dns", "connect", "tls", "imap"}


async def test_imap_bye_is_http_error(probe: SocketProbe, public_ca: CertificateAuthority) -> None:
    tls = public_ca.issue().server_context()
    async with imap_server(tls, greeting="* BYE too many connections from your IP") as server:
        result = await probe.probe(service(server.port, ProbeKind.IMAPS), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.HTTP_ERROR
    assert "refused the IMAP session at once" in result.detail


# ---------------------------------------------------------------- the deadline and garbage


async def test_body_that_never_ends_is_judged_on_what_arrived_within_the_deadline(probe: SocketProbe) -> None:
    async with trickling_http_server() as server:
        started = time.monotonic()
        result = await probe.probe(graph(server.port, ProbeKind.HTTP), 1.0)

    assert (result.outcome, result.http_status) == (ProbeOutcome.OK, 200)
    assert time.monotonic() - started < 1.0 + GENEROUS_S


async def test_no_time_left_is_timeout_without_touching_the_network(probe: SocketProbe) -> None:
    result = await probe.probe(graph(closed_port()), 0)

    assert result.outcome is ProbeOutcome.TIMEOUT
    assert result.timings_ms == {}


def _garbage(seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    yield rng.randbytes(4096)
    yield rng.randbytes(200_000)  # more than the probe ever reads, no line ends guaranteed
    yield b"\x16\x03\x01\x00\x05hello"  # the start of a TLS record, then nonsense


GARBAGE = list(_garbage(20240611))
EXPECTED_ON_GARBAGE = {
    ProbeKind.HTTP: {ProbeOutcome.HTTP_ERROR},
    ProbeKind.HTTPS: {ProbeOutcome.TLS_ERROR},
    ProbeKind.SMTP_STARTTLS: {ProbeOutcome.HTTP_ERROR},
    ProbeKind.SMTPS: {ProbeOutcome.TLS_ERROR},
    ProbeKind.IMAPS: {ProbeOutcome.TLS_ERROR},
}


@pytest.mark.parametrize("answer", GARBAGE, ids=["random-4k", "random-200k", "broken-tls-record"])
@pytest.mark.parametrize("kind", list(ProbeKind))
async def test_garbage_answers_never_raise(probe: SocketProbe, kind: ProbeKind, answer: bytes) -> None:
    async with raw_server(answer) as server:
        result = await probe.probe(service(server.port, kind), TIMEOUT_S)

    assert result.outcome in EXPECTED_ON_GARBAGE[kind], result.detail
    assert result.detail


@pytest.mark.parametrize("kind", [ProbeKind.HTTPS, ProbeKind.IMAPS])
async def test_garbage_after_a_good_handshake_never_raises(
    probe: SocketProbe, public_ca: CertificateAuthority, kind: ProbeKind
) -> None:
    async with raw_server(
        random.Random(7).randbytes(70_000), tls=public_ca.issue().server_context()
    ) as server:
        result = await probe.probe(service(server.port, kind), TIMEOUT_S)

    assert result.outcome is ProbeOutcome.HTTP_ERROR, result.detail
    assert result.tls_version
