"""The NetworkProbe over real sockets: DNS, TCP connect, TLS handshake and issuer, then HTTP, SMTP or IMAP."""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

from cryptography import x509
from cryptography.x509.oid import NameOID

from chatops.ports import Endpoint, ProbeKind, ProbeOutcome, ProbeResult

MAX_ANSWER_BYTES: Final = 64 * 1024  # what we read of an answer: enough for any block page's tell-tale words
MAX_REPLY_LINES: Final = 64  # an SMTP EHLO answer lists a dozen extensions
USER_AGENT: Final = "chatops-network-probe/0.1"

_Judgement = tuple[ProbeOutcome, str]  # what a stage concluded; `probe` adds timings and names

_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)
_TLS_KINDS: Final = frozenset({ProbeKind.HTTPS, ProbeKind.SMTPS, ProbeKind.IMAPS})
_DEFAULT_PORTS: Final = {ProbeKind.HTTP: 80, ProbeKind.HTTPS: 443}
_REPLY_NOUNS: Final = {"http": "HTTP answer", "smtp": "SMTP reply", "imap": "IMAP greeting"}

# OpenSSL X509_V_ERR_* verify codes; the untrusted ones mean "no chain to a root this machine trusts".
_SELF_SIGNED_LEAF: Final = 18
_UNTRUSTED_CODES: Final = frozenset({2, 18, 19, 20, 21})
_EXPIRED_CODES: Final = frozenset({9, 10})
_NAME_MISMATCH_CODES: Final = frozenset({62, 64})

# Connect errors that are an answer (a reject), not silence: a router's ICMP unreachable or a local firewall.
_REJECTED_ERRNOS: Final = {
    errno.EHOSTUNREACH: "no route to the host (a router or firewall answered 'unreachable')",
    errno.ENETUNREACH: "the network is unreachable from here (no route)",
    errno.EACCES: "a firewall on this machine forbids the connection",
    errno.EPERM: "a firewall on this machine forbids the connection",
}

# Web proxies and filters, by the words their block pages and headers carry.
_PROXY_PRODUCTS: Final = (
    ("Zscaler", ("zscaler",)),
    ("Blue Coat", ("blue coat", "bluecoat", "symantec web security", "cfru=")),
    ("Forcepoint", ("forcepoint",)),
    ("Websense", ("websense",)),
    ("FortiGuard", ("fortiguard", "fortinet", "fortigate")),
    ("Palo Alto Networks", ("palo alto networks", "pan-os")),
    ("Cisco Umbrella", ("cisco umbrella", "opendns")),
    ("Netskope", ("netskope",)),
    ("Sophos", ("sophos",)),
    ("McAfee Web Gateway", ("mcafee web gateway", "skyhigh")),
    ("Check Point", ("check point", "checkpoint")),
    ("Barracuda", ("barracuda",)),
    ("Squid", ("squid/", "x-squid-error")),
)
_BLOCK_WORDS: Final = (
    "blocked",
    "access denied",
    "web filter",
    "url filter",
    "content filter",
    "category",
    "acceptable use",
    "not allowed",
    "policy",
)
_STATUS_LINE: Final = re.compile(r"HTTP/(\d)(?:\.\d)? +(\d{3})(?: +(.*))?")
_SMTP_LINE: Final = re.compile(r"(\d{3})(?:([ -])(.*))?")
_MASKED: Final = re.compile(r"\*+|X+A?")  # Cisco ASA "inspect esmtp" masks the banner and STARTTLS


class SocketProbe:
    """Probes one endpoint stage by stage, each timed, the way blackbox_exporter's probers do.

    Every path returns a ProbeResult; nothing raises and nothing outlives `timeout_s`.

    Args:
        ssl_context: the trust used for the verified handshake; the system store by default.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._context = ssl_context if ssl_context is not None else ssl.create_default_context()
        self._unverified = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._unverified.check_hostname = False
        self._unverified.verify_mode = ssl.CERT_NONE

    async def probe(self, endpoint: Endpoint, timeout_s: float) -> ProbeResult:
        run = _Run(endpoint, timeout_s, asyncio.get_running_loop().time() + timeout_s)
        if timeout_s <= 0:
            return run.result(ProbeOutcome.TIMEOUT, f"no time was left to probe {endpoint.address}")
        try:
            async with asyncio.timeout_at(run.deadline):
                outcome, detail = await self._stages(run)
        except _Stop as stop:
            outcome, detail = stop.outcome, stop.detail
        except TimeoutError:
            outcome, detail = run.timed_out()
        except Exception as exc:  # a probe reports, it never raises (blackbox: probe_success 0)
            outcome, detail = run.crashed(exc)
        finally:
            await run.close()
        # Interception is told first, unless the inspecting proxy also blocks the host.
        if run.pending is not None and outcome is not ProbeOutcome.PROXY_BLOCK:
            outcome, detail = run.pending
        return run.result(outcome, detail)

    async def _stages(self, run: _Run) -> _Judgement:
        kind = run.endpoint.kind
        ip = await _resolve(run)
        reader, writer = await _connect(run, ip)
        if kind is ProbeKind.SMTP_STARTTLS:
            with run.timing("smtp"):
                await _smtp_hello(run, reader, writer, starttls=True)
        if kind in _TLS_KINDS or kind is ProbeKind.SMTP_STARTTLS:
            run.pending = await self._tls(run, writer)
            if run.pending is not None and kind is not ProbeKind.HTTPS:
                return run.pending
        if kind in (ProbeKind.HTTP, ProbeKind.HTTPS):
            with run.timing("http"):
                answer = await _http_exchange(run, reader, writer)
            return _judge_http(run, answer)
        with run.timing("imap" if kind is ProbeKind.IMAPS else "smtp"):
            if kind is ProbeKind.IMAPS:
                greeting = await _imap_greeting(run, reader)
            elif kind is ProbeKind.SMTPS:
                greeting = await _smtp_hello(run, reader, writer, starttls=False)
            else:
                greeting = await _smtp_after_starttls(run, reader, writer)
        return ProbeOutcome.OK, f"{run.target} answered {greeting}{run.over_tls()}"

    async def _tls(self, run: _Run, writer: asyncio.StreamWriter) -> _Judgement | None:
        """Handshakes with the configured trust; returns a deferred interception verdict, if any."""
        endpoint = run.endpoint
        with run.timing("tls"):
            try:
                await writer.start_tls(self._context, server_hostname=endpoint.host)
            except ssl.SSLCertVerificationError as exc:
                certificate = await self._presented_certificate(run)
                raise _Stop(*_judge_rejected(run, exc, certificate)) from None
            except ssl.SSLError as exc:
                raise _Stop(ProbeOutcome.TLS_ERROR, _tls_failure(run, exc)) from None
            except OSError as exc:
                raise _Stop(ProbeOutcome.TLS_ERROR, _tls_cut(run, exc)) from None
        ssl_object = writer.get_extra_info("ssl_object")
        certificate = _Certificate.read(ssl_object.getpeercert(binary_form=True))
        run.tls_version = ssl_object.version() or ""
        if certificate is None:
            return None
        run.tls_issuer = certificate.issuer
        if endpoint.expected_issuers and not certificate.issued_by(endpoint.expected_issuers):
            return (
                ProbeOutcome.TLS_INTERCEPTED,
                f"the certificate for {endpoint.host} was issued by '{certificate.issuer}', "
                f"not by {_expected(endpoint)}, and this machine trusts it: a TLS-inspecting proxy whose "
                "root CA is installed here sits in the path; exempt these hosts from inspection",
            )
        return None

    async def _presented_certificate(self, run: _Run) -> _Certificate | None:
        """Handshakes again without verification, only to read who issued the presented certificate."""
        try:
            async with asyncio.timeout_at(run.soft_deadline()):
                reader, writer = await asyncio.open_connection(run.resolved, run.endpoint.port)
                run.writers.append(writer)
                if run.endpoint.kind is ProbeKind.SMTP_STARTTLS:
                    await _smtp_hello(run, reader, writer, starttls=True)
                await writer.start_tls(self._unverified, server_hostname=run.endpoint.host)
                der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
                run.tls_version = writer.get_extra_info("ssl_object").version() or ""
        except (TimeoutError, _Stop, OSError, ValueError):
            return None
        return _Certificate.read(der)


# ---------------------------------------------------------------- one probe's state


class _Stop(Exception):
    """Carries a stage's final judgement out to `probe`, which adds the timings."""

    def __init__(self, outcome: ProbeOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


@dataclass(slots=True, eq=False)
class _Run:
    endpoint: Endpoint
    timeout_s: float
    deadline: float  # loop time
    stage: str = "dns"
    timings: dict[str, float] = field(default_factory=dict)
    resolved: str = ""
    tls_issuer: str = ""
    tls_version: str = ""
    http_status: int = 0
    pending: _Judgement | None = None  # an interception seen on a trusted handshake, told after HTTP
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @contextmanager
    def timing(self, stage: str) -> Iterator[None]:
        """Times a stage (cumulatively), also when it fails or the deadline cuts it."""
        self.stage = stage
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.timings[stage] = round(self.timings.get(stage, 0.0) + elapsed, 3)

    @property
    def target(self) -> str:
        host, port = self.endpoint.host, self.endpoint.port
        if self.resolved and self.resolved != host:
            return f"{host}:{port} ({self.resolved})"
        return f"{host}:{port}"

    def soft_deadline(self) -> float:
        """A little before the deadline, for steps that should still leave time to report what they saw."""
        return self.deadline - min(0.25, self.timeout_s * 0.1)

    def over_tls(self) -> str:
        if not self.tls_version:
            return ""
        issuer = f", certificate from '{self.tls_issuer}'" if self.tls_issuer else ""
        return f" over {self.tls_version}{issuer}"

    def result(self, outcome: ProbeOutcome, detail: str) -> ProbeResult:
        return ProbeResult(
            endpoint=self.endpoint,
            outcome=outcome,
            detail=detail,
            timings_ms=dict(self.timings),
            resolved=self.resolved,
            tls_issuer=self.tls_issuer,
            tls_version=self.tls_version,
            http_status=self.http_status,
        )

    def timed_out(self) -> _Judgement:
        within = f"within {self.timeout_s:g} s"
        if self.stage == "dns":
            return (
                ProbeOutcome.DNS_FAILURE,
                f"{self.endpoint.host} did not resolve {within}: the DNS server does not answer",
            )
        if self.stage == "connect":
            return (
                ProbeOutcome.TIMEOUT,
                f"no answer from {self.target} {within}: outbound traffic is dropped, "
                "most likely by a firewall rule",
            )
        if self.stage == "tls":
            return (
                ProbeOutcome.TIMEOUT,
                f"{self.target} accepted the connection but the TLS handshake got no answer {within}: "
                "something in the path holds connections without speaking TLS (a proxy or filter)",
            )
        done = " and the TLS handshake" if self.tls_version else ""
        return (
            ProbeOutcome.TIMEOUT,
            f"{self.target} accepted the connection{done} but sent no complete "
            f"{_REPLY_NOUNS.get(self.stage, 'answer')} {within}: "
            "the service, or something in front of it, hangs",
        )

    def crashed(self, exc: Exception) -> _Judgement:
        name = type(exc).__name__
        if isinstance(exc, ConnectionError):
            what = f"{self.target} cut the connection during the {self.stage} stage ({name})"
        else:
            what = f"unexpected {name} during the {self.stage} stage with {self.target}: {exc}"
        outcome = {
            "dns": ProbeOutcome.DNS_FAILURE,
            "connect": ProbeOutcome.REFUSED,
            "tls": ProbeOutcome.TLS_ERROR,
        }.get(self.stage, ProbeOutcome.HTTP_ERROR)
        return (outcome, what)

    async def close(self) -> None:
        for writer in self.writers:
            writer.transport.abort()  # no TLS close_notify dance: a probe owes the peer nothing
        if self.writers:
            await asyncio.sleep(0)  # let the transports run connection_lost and release their sockets


# ---------------------------------------------------------------- DNS and TCP


async def _resolve(run: _Run) -> str:
    host, port = run.endpoint.host, run.endpoint.port
    with run.timing("dns"):
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            hint = ": the DNS server did not answer" if exc.errno == socket.EAI_AGAIN else ""
            raise _Stop(ProbeOutcome.DNS_FAILURE, f"{host} does not resolve ({exc.strerror}){hint}") from None
        except UnicodeError as exc:  # the idna codec rejects the name before any lookup
            raise _Stop(ProbeOutcome.DNS_FAILURE, f"{host} is not a valid host name ({exc})") from None
    addresses = [(family, str(info[0])) for family, _, _, _, info in infos if family in _FAMILIES]
    if not addresses:
        raise _Stop(ProbeOutcome.DNS_FAILURE, f"{host} resolves to no IPv4 or IPv6 address")
    # IPv4 first: sync clients fall back to it, so a broken IPv6 path is not what stops them.
    run.resolved = min(addresses, key=lambda address: address[0] != socket.AF_INET)[1]
    return run.resolved


async def _connect(run: _Run, ip: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    with run.timing("connect"):
        try:
            reader, writer = await asyncio.open_connection(ip, run.endpoint.port, limit=MAX_ANSWER_BYTES)
        except ConnectionRefusedError:
            raise _Stop(
                ProbeOutcome.REFUSED,
                f"{run.target} refused the connection: "
                "a firewall rejects it, or nothing listens on that port",
            ) from None
        except TimeoutError:  # the kernel gave up on SYN retries before our deadline
            raise _Stop(
                ProbeOutcome.TIMEOUT,
                f"no answer from {run.target}: outbound traffic is dropped, most likely by a firewall rule",
            ) from None
        except OSError as exc:
            reason = _REJECTED_ERRNOS.get(exc.errno or 0, exc.strerror or str(exc))
            raise _Stop(ProbeOutcome.REFUSED, f"could not connect to {run.target}: {reason}") from None
    run.writers.append(writer)
    return reader, writer


# ---------------------------------------------------------------- TLS


@dataclass(frozen=True, slots=True)
class _Certificate:
    """What the probe needs from a presented leaf certificate."""

    issuer: str  # the issuer's CN, else its O
    issuer_names: tuple[str, ...]  # every CN, O and OU of the issuer, for matching
    self_signed: bool

    @classmethod
    def read(cls, der: bytes | None) -> _Certificate | None:
        if not der:
            return None
        try:
            certificate = x509.load_der_x509_certificate(der)
            names = [
                str(attribute.value)
                for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)
                for attribute in certificate.issuer.get_attributes_for_oid(oid)
            ]
            label = names[0] if names else certificate.issuer.rfc4514_string()
            return cls(label, tuple(names), certificate.issuer == certificate.subject)
        except ValueError:  # a certificate cryptography refuses to parse still tells us nothing useful
            return None

    def issued_by(self, expected: tuple[str, ...]) -> bool:
        return any(want.casefold() in name.casefold() for want in expected for name in self.issuer_names)


def _expected(endpoint: Endpoint) -> str:
    owner = f"{endpoint.provider.label}'s CAs" if endpoint.provider is not None else "the CAs it uses"
    return f"{owner} ({', '.join(endpoint.expected_issuers)})"


def _judge_rejected(
    run: _Run, rejected: ssl.SSLCertVerificationError, certificate: _Certificate | None
) -> _Judgement:
    """Decides what a failed certificate verification means, from the presented certificate's issuer."""
    endpoint, code = run.endpoint, rejected.verify_code
    reason = rejected.verify_message or str(rejected)
    host, expected = endpoint.host, endpoint.expected_issuers
    exempt = "exempt these hosts from inspection"
    if certificate is None:
        if code == _SELF_SIGNED_LEAF:
            return (
                ProbeOutcome.TLS_INTERCEPTED,
                f"the certificate for {host} is self-signed ({reason}): a TLS-inspecting proxy or another "
                f"device in the path answers for this host; {exempt}",
            )
        if code in _UNTRUSTED_CODES:
            return (
                ProbeOutcome.TLS_INTERCEPTED,
                f"the certificate for {host} does not lead to a trusted CA ({reason}): "
                f"a TLS-inspecting proxy most likely sits in the path; {exempt}",
            )
        return (ProbeOutcome.TLS_ERROR, f"the certificate for {host} failed verification ({reason})")
    run.tls_issuer = certificate.issuer
    issuer = f"'{certificate.issuer}'"
    if certificate.self_signed:
        return (
            ProbeOutcome.TLS_INTERCEPTED,
            f"the certificate for {host} is self-signed by {issuer}"
            + (f", not issued by {_expected(endpoint)}" if expected else "")
            + f": a TLS-inspecting proxy or another device in the path answers for this host; {exempt}",
        )
    if expected and not certificate.issued_by(expected):
        return (
            ProbeOutcome.TLS_INTERCEPTED,
            f"the certificate for {host} was issued by {issuer}, not by {_expected(endpoint)}: "
            f"a TLS-inspecting proxy sits in the path; {exempt}",
        )
    if not expected and code in _UNTRUSTED_CODES:
        return (
            ProbeOutcome.TLS_INTERCEPTED,
            f"the certificate for {host} was issued by {issuer}, a CA this machine does not trust: "
            f"a TLS-inspecting proxy most likely sits in the path; {exempt}",
        )
    if code in _EXPIRED_CODES:
        hint = "the server's certificate is out of its validity period (or this machine's clock is wrong)"
    elif code in _NAME_MISMATCH_CODES:
        hint = f"the certificate is not valid for {host}: the name points at the wrong server"
    elif code in _UNTRUSTED_CODES:
        hint = "this machine's trust store lacks the issuing CA; update the CA certificates where sync runs"
    else:
        hint = "the certificate cannot be trusted"
    return (
        ProbeOutcome.TLS_ERROR,
        f"the certificate for {host} (issued by {issuer}) failed verification ({reason}): {hint}",
    )


def _tls_failure(run: _Run, exc: ssl.SSLError) -> str:
    reason = (exc.reason or "").upper()
    if isinstance(exc, ssl.SSLEOFError) or "EOF" in reason:
        return _tls_cut(run, exc)
    if any(word in reason for word in ("WRONG_VERSION", "HTTP_REQUEST", "RECORD_LAYER", "PACKET_LENGTH")):
        return (
            f"{run.target} does not speak TLS ({exc.reason}): a proxy or a plain-text service answers "
            "on this port"
        )
    if any(word in reason for word in ("PROTOCOL", "CIPHER", "HANDSHAKE_FAILURE", "SIGALG", "GROUP")):
        return (
            f"{run.target} and this machine share no TLS version or cipher ({exc.reason}): an old server "
            "or a middlebox that downgrades TLS"
        )
    return f"the TLS handshake with {run.target} failed ({exc.reason or exc})"


def _tls_cut(run: _Run, exc: OSError) -> str:
    return (
        f"{run.target} cut the connection during the TLS handshake ({type(exc).__name__}): a firewall "
        "filtering by TLS server name (SNI) most likely resets it"
    )


# ---------------------------------------------------------------- HTTP


@dataclass(frozen=True, slots=True)
class _HttpAnswer:
    status: int
    reason: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


async def _http_exchange(
    run: _Run, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> _HttpAnswer:
    endpoint = run.endpoint
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    if endpoint.port != _DEFAULT_PORTS.get(endpoint.kind):
        host = f"{host}:{endpoint.port}"
    path = quote(
        endpoint.path if endpoint.path.startswith("/") else f"/{endpoint.path}", safe="/%?[]@!$&'()*+,;=:~"
    )
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\n"
        "Connection: close\r\n\r\n".encode("ascii", "replace")
    )
    await writer.drain()
    head = bytearray()
    while b"\r\n\r\n" not in head and b"\n\n" not in head and len(head) < MAX_ANSWER_BYTES:
        chunk = await reader.read(MAX_ANSWER_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    if not head:
        raise _Stop(
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} closed the connection without an HTTP answer: "
            "something in the path cuts the request",
        )
    separator = b"\r\n\r\n" if b"\r\n\r\n" in head else b"\n\n"
    header_block, _, body = bytes(head).partition(separator)
    lines = header_block.decode("iso-8859-1").splitlines()
    status_line = _STATUS_LINE.fullmatch(lines[0].strip()) if lines else None
    if status_line is None:
        raise _Stop(
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} answered with something that is not HTTP ({bytes(head[:40])!r}): "
            "another service or a filter answers on this port",
        )
    run.http_status = int(status_line[2])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    body = await _read_body(run, reader, body, headers)
    return _HttpAnswer(run.http_status, (status_line[3] or "").strip(), headers, body)


async def _read_body(
    run: _Run, reader: asyncio.StreamReader, body: bytes, headers: Mapping[str, str]
) -> bytes:
    """Reads the rest of the body up to the cap; a body that stalls is judged on what arrived."""
    wanted = MAX_ANSWER_BYTES
    if headers.get("content-length", "").isdigit():
        wanted = min(wanted, int(headers["content-length"]))
    buffer = bytearray(body)
    try:
        async with asyncio.timeout_at(run.soft_deadline()):
            while len(buffer) < wanted:
                chunk = await reader.read(wanted - len(buffer))
                if not chunk:
                    break
                buffer += chunk
    except (TimeoutError, ConnectionError):
        pass
    return bytes(buffer[:MAX_ANSWER_BYTES])


def _judge_http(run: _Run, answer: _HttpAnswer) -> _Judgement:
    """Tells the provider's own answer from a proxy's block page, by what the answer carries."""
    endpoint, status, headers = run.endpoint, answer.status, answer.headers
    who = endpoint.provider.label if endpoint.provider is not None else endpoint.host
    header_text = "\n".join(f"{name}: {value}" for name, value in headers.items()).lower()
    text = answer.body.decode("utf-8", "replace").lower()
    html = "text/html" in headers.get("content-type", "").lower() or text.lstrip().startswith(
        ("<!doctype html", "<html")
    )
    product = _product(header_text) or (_product(text) if html else "")
    words = [word for word in _BLOCK_WORDS if word in text] if html else []
    status_text = f"HTTP {status}{f' {answer.reason}' if answer.reason else ''}"
    allow = "a web proxy's policy blocks this host; allow it there (a URL or category exception)"
    if status == 407 or "proxy-authenticate" in headers:
        return (
            ProbeOutcome.PROXY_BLOCK,
            f"{run.target} answered {status_text} from {product or 'a web proxy'}, asking for proxy "
            "credentials the sync does not have: exempt these hosts from proxy authentication",
        )
    if "x-squid-error" in headers:
        return (
            ProbeOutcome.PROXY_BLOCK,
            f"{run.target} answered {status_text} from Squid ({headers['x-squid-error']}) "
            f"instead of {who}: {allow}",
        )
    if html and product and (status >= 400 or words):
        return (
            ProbeOutcome.PROXY_BLOCK,
            f"{run.target} answered {status_text} with a {product} block page instead of {who}: {allow}",
        )
    if html and (len(words) >= 2 or (words and "via" in headers and status in (403, 502))):
        return (
            ProbeOutcome.PROXY_BLOCK,
            f"{run.target} answered {status_text} with a web filter's block page ('{words[0]}') "
            f"instead of {who}: {allow}",
        )
    if status >= 500:
        return (
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} answered {status_text}: the host is up but failing; check {who}'s status page",
        )
    return ProbeOutcome.OK, f"{run.target} answered {status_text}{run.over_tls()}"


def _product(text: str) -> str:
    return next((name for name, marks in _PROXY_PRODUCTS if any(mark in text for mark in marks)), "")


# ---------------------------------------------------------------- SMTP and IMAP


async def _smtp_reply(run: _Run, reader: asyncio.StreamReader, step: str) -> tuple[int, list[str]]:
    """Reads one (possibly multi-line) SMTP reply: its code and the text of each line."""
    texts: list[str] = []
    while len(texts) < MAX_REPLY_LINES:
        line = await _line(run, reader, step)
        match = _SMTP_LINE.fullmatch(line)
        if match is None:
            raise _Stop(
                ProbeOutcome.HTTP_ERROR,
                f"{run.target} answered the {step} with something that is not SMTP ({line[:60]!r}): "
                "another service or a filter answers on this port",
            )
        texts.append((match[3] or "").strip())
        if match[2] != "-":
            return int(match[1]), texts
    raise _Stop(ProbeOutcome.HTTP_ERROR, f"{run.target} sent an endless SMTP reply to the {step}")


async def _smtp_hello(
    run: _Run, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, starttls: bool
) -> str:
    """Reads the banner; with starttls, also says EHLO, checks STARTTLS is offered and asks for it."""
    code, banner = await _smtp_reply(run, reader, "greeting")
    if code != 220:
        raise _Stop(
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} greeted with SMTP {code} {' '.join(banner)}: "
            "the server refuses sessions from here",
        )
    if not starttls:
        _smtp_quit(writer)
        return f"SMTP 220 ({banner[0][:60]})" if banner and banner[0] else "SMTP 220"
    extensions = await _ehlo(run, reader, writer)
    if "STARTTLS" not in extensions:
        masked = any(_MASKED.fullmatch(word) for word in [*extensions, (banner[0].split() or [""])[0]])
        why = (
            "a firewall's SMTP inspection strips it (Cisco ASA 'inspect esmtp' masks it as XXXXXXXA)"
            if masked
            else "the server or a firewall doing SMTP inspection strips it"
        )
        raise _Stop(
            ProbeOutcome.TLS_ERROR,
            f"{run.target} does not offer STARTTLS (EHLO lists {', '.join(sorted(extensions)) or 'nothing'}"
            f"): {why}, and mail clients will not send a password in clear; "
            "exempt the host from SMTP inspection",
        )
    writer.write(b"STARTTLS\r\n")
    code, texts = await _smtp_reply(run, reader, "STARTTLS command")
    if code != 220:
        raise _Stop(
            ProbeOutcome.TLS_ERROR,
            f"{run.target} offers STARTTLS but refused it with SMTP {code} {' '.join(texts)}",
        )
    return "SMTP 220"


async def _smtp_after_starttls(run: _Run, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    await _ehlo(run, reader, writer)
    _smtp_quit(writer)
    return "SMTP 220 with STARTTLS"


async def _ehlo(run: _Run, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> set[str]:
    """Says EHLO as our own address literal (RFC 5321 4.1.3) and returns the offered extensions."""
    local = writer.get_extra_info("sockname")
    ip = str(local[0]) if local else "127.0.0.1"
    writer.write(f"EHLO [{'IPv6:' if ':' in ip else ''}{ip}]\r\n".encode("ascii"))
    code, texts = await _smtp_reply(run, reader, "EHLO")
    if code != 250:
        raise _Stop(ProbeOutcome.HTTP_ERROR, f"{run.target} answered EHLO with SMTP {code} {' '.join(texts)}")
    return {text.split()[0].upper() for text in texts[1:] if text.split()}


def _smtp_quit(writer: asyncio.StreamWriter) -> None:
    writer.write(b"QUIT\r\n")  # a courtesy; the probe closes without waiting for the 221


async def _imap_greeting(run: _Run, reader: asyncio.StreamReader) -> str:
    line = await _line(run, reader, "greeting")
    words = line.split(maxsplit=2)
    if words[:2] in (["*", "OK"], ["*", "PREAUTH"]):
        return f"IMAP '{line[:60]}'"
    if words[:2] == ["*", "BYE"]:
        raise _Stop(ProbeOutcome.HTTP_ERROR, f"{run.target} refused the IMAP session at once: {line[:120]}")
    raise _Stop(
        ProbeOutcome.HTTP_ERROR,
        f"{run.target} answered with something that is not an IMAP greeting ({line[:60]!r}): "
        "another service or a filter answers on this port",
    )


async def _line(run: _Run, reader: asyncio.StreamReader, step: str) -> str:
    try:
        raw = await reader.readline()
    except ValueError:  # longer than the reader's limit: not a protocol line
        raise _Stop(
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} answered the {step} with {MAX_ANSWER_BYTES} bytes and no line end",
        ) from None
    if not raw:
        raise _Stop(
            ProbeOutcome.HTTP_ERROR,
            f"{run.target} closed the connection before its {step}: "
            "the service or a filter drops the session",
        )
    return raw.decode("utf-8", "replace").rstrip("\r\n")
