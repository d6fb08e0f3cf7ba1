"""Real 127.0.0.1 servers for the network probe: closed, dropping, silent, TLS, HTTP, SMTP, IMAP, garbage."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"
LEAF_NAMES = ("localhost", HOST)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# ---------------------------------------------------------------- certificates, made at test time


@dataclass(frozen=True)
class Identity:
    """A certificate (and the chain above it, leaf first) with its private key."""

    chain: tuple[x509.Certificate, ...]
    key: ec.EllipticCurvePrivateKey

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting this identity (ssl only loads chains from files)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as folder:
            chain, key = Path(folder, "chain.pem"), Path(folder, "key.pem")
            chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain))
            key.write_bytes(
                self.key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(chain, key)
        return context


@dataclass(frozen=True)
class CertificateAuthority:
    """A root CA that issues leaf certificates for 127.0.0.1 and localhost."""

    identity: Identity

    @classmethod
    def create(cls, common_name: str, organization: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = _name(common_name, organization)
        certificate = (
            _builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(Identity((certificate,), key))

    @property
    def pem(self) -> str:
        return self.identity.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    def issue(self, *names: str) -> Identity:
        """A server certificate for `names` (default: localhost and 127.0.0.1)."""
        key = ec.generate_private_key(ec.SECP256R1())
        names = names or LEAF_NAMES
        ca = self.identity.certificate
        certificate = (
            _leaf(_builder(_name(names[0]), ca.subject, key.public_key()), names, key)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.identity.key.public_key()),
                critical=False,
            )
            .sign(self.identity.key, hashes.SHA256())
        )
        return Identity((certificate, ca), key)


def trusting(*authorities: CertificateAuthority) -> ssl.SSLContext:
    """A client context whose trust store holds only these CAs (stands in for the system store)."""
    return ssl.create_default_context(cadata="".join(authority.pem for authority in authorities))


def self_signed(common_name: str = "proxy.acme.internal", *names: str) -> Identity:
    """A leaf that signs itself, as firewalls and inspecting proxies without a deployed CA present."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    certificate = _leaf(_builder(name, name, key.public_key()), names or LEAF_NAMES, key).sign(
        key, hashes.SHA256()
    )
    return Identity((certificate,), key)


def _name(common_name: str, organization: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
    )


def _leaf(
    builder: x509.CertificateBuilder, names: Sequence[str], key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    alternative: list[x509.GeneralName] = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    return (
        builder.add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )


# ---------------------------------------------------------------- the servers


@dataclass
class Server:
    """A running test server: where it listens and what clients sent it."""

    port: int
    received: list[bytes] = field(default_factory=list)


def closed_port() -> int:
    """A port nothing listens on: bound, then released, so the kernel answers RST."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def dropping_listener() -> AsyncIterator[Server]:
    """A port whose accept queue is full, so the kernel drops new SYNs: a firewall's DROP, on 127.0.0.1."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                filler.connect_ex((HOST, port))
            await asyncio.sleep(0.05)
            yield Server(port)
        finally:
            for filler in fillers:
                filler.close()


@contextlib.asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    """Runs `handler` for each connection on 127.0.0.1; on exit every connection is cut and awaited."""
    writers: set[asyncio.StreamWriter] = set()
    tasks: set[asyncio.Task[None]] = set()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (OSError, EOFError, ValueError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass  # the probe hangs up whenever it has seen enough
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(connection, HOST, 0, ssl=tls)
    try:
        yield Server(int(server.sockets[0].getsockname()[1]))
    finally:
        server.close()
        for writer in writers:
            writer.transport.abort()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=1)
            for task in pending:
                task.cancel()
        await server.wait_closed()
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def recording(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter, Server], Awaitable[None]],
    *,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Server]:
    """`serve`, with a handler that may record what it received on the yielded Server."""
    box: list[Server] = []

    async def bound(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handler(reader, writer, box[0])

    async with serve(bound, tls=tls) as server:
        box.append(server)
        yield server


def silent_listener() -> contextlib.AbstractAsyncContextManager[Server]:
    """Accepts TCP and never says a word: no banner, no HTTP answer, no TLS ServerHello."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the probe gives up and hangs up

    return serve(hold)


def raw_server(
    answer: bytes, *, tls: ssl.SSLContext | None = None
) -> contextlib.AbstractAsyncContextManager[Server]:
    """Sends `answer` as soon as a client connects (random bytes, another protocol...), then hangs up."""

    async def blurt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer)
        await writer.drain()
        await asyncio.sleep(0.05)  # let the bytes leave before the abort in `serve`

    return serve(blurt, tls=tls)


@dataclass(frozen=True)
class HttpReply:
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes = b""

    def encode(self) -> bytes:
        headers = {"Content-Length": str(len(self.body)), "Connection": "close", **self.headers}
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return f"HTTP/1.1 {self.status} {self.reason}\r\n{head}\r\n".encode("latin-1") + self.body


HEALTHY = HttpReply(200, "OK", {"Content-Type": "application/json"}, b'{"status": "ok"}')
UNAUTHORIZED = HttpReply(
    401,
    "Unauthorized",
    {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="api"'},
    b'{"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}}',
)
NOT_FOUND = HttpReply(404, "Not Found", {"Content-Type": "application/json"}, b'{"error": "not found"}')
BAD_GATEWAY = HttpReply(
    502, "Bad Gateway", {"Content-Type": "application/json"}, b'{"error": "upstream unavailable"}'
)

# Shaped after Zscaler's end-user notification page: HTML with the product name, the URL and its category.
ZSCALER_PAGE = b"""<!DOCTYPE html>
<html><head><title>Website blocked</title></head>
<body><div id="header">Zscaler</div>
<h1>Website blocked</h1>
<p>Sorry, you don't have permission to visit this site.</p>
<p>URL: graph.microsoft.com<br>URL Category: Web-based Email</p>
<p>The Acme acceptable use policy blocks access to this category.</p>
<p>Powered by Zscaler.</p></body></html>
"""
ZSCALER_BLOCK = HttpReply(403, "Forbidden", {"Content-Type": "text/html; charset=utf-8"}, ZSCALER_PAGE)
FORTIGUARD_BLOCK = HttpReply(
    200,
    "OK",
    {"Content-Type": "text/html"},
    b"<html><head><title>Web Filter Violation</title></head><body><h2>FortiGuard Intrusion Prevention"
    b" - Access Blocked</h2><p>Web Page Blocked! The page you have requested has been blocked because the URL"
    b" is in a category not allowed by your administrator.</p><p>Category: Web-based Email</p></body></html>",
)
SQUID_DENIED = HttpReply(
    403,
    "Forbidden",
    {
        "Content-Type": "text/html;charset=utf-8",
        "X-Squid-Error": "ERR_ACCESS_DENIED 0",
        "Via": "1.1 proxy.acme.internal (squid/5.7)",
    },
    b"<html><body><h1>ERROR</h1><p>The requested URL could not be retrieved</p>"
    b"<p>Access control configuration prevents your request from being allowed at this time.</p>"
    b"<p>Generated by proxy.acme.internal (squid/5.7)</p></body></html>",
)
PROXY_AUTH_REQUIRED = HttpReply(
    407,
    "Proxy Authentication Required",
    {"Content-Type": "text/html", "Proxy-Authenticate": 'Basic realm="Blue Coat ProxySG"'},
    b"<html><body>Proxy authentication required by Blue Coat ProxySG</body></html>",
)
GENERIC_FILTER_BLOCK = HttpReply(
    403,
    "Forbidden",
    {"Content-Type": "text/html"},
    b"<html><body><h1>Access Denied</h1>"
    b"<p>This site is blocked by your organisation's web filter.</p></body></html>",
)


def http_server(
    reply: HttpReply, *, tls: ssl.SSLContext | None = None
) -> contextlib.AbstractAsyncContextManager[Server]:
    """Answers every request with `reply`, recording each request head in `Server.received`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        server.received.append(head)
        writer.write(reply.encode())
        await writer.drain()
        await reader.read()  # the probe closes when it has read the answer

    return recording(answer, tls=tls)


def trickling_http_server(*, interval_s: float = 0.05) -> contextlib.AbstractAsyncContextManager[Server]:
    """Sends a 200 head promising a large body, then one byte per interval, forever."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(interval_s)

    return serve(trickle)


SMTP_EXTENSIONS = ("PIPELINING", "SIZE 35882577", "STARTTLS", "ENHANCEDSTATUSCODES", "8BITMIME")


def smtp_server(
    tls: ssl.SSLContext,
    *,
    implicit_tls: bool = False,
    extensions: Sequence[str] = SMTP_EXTENSIONS,
    banner: str = "220 mail.example.test ESMTP ready",
) -> contextlib.AbstractAsyncContextManager[Server]:
    """An SMTP submission server: banner, EHLO with `extensions`, STARTTLS (as on 587) or implicit TLS."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        secured = implicit_tls
        writer.write(f"{banner}\r\n".encode())
        while line := await reader.readline():
            server.received.append(line)
            command = line.decode("ascii", "replace").split(maxsplit=1)[0].upper() if line.strip() else ""
            if command == "EHLO":
                offered = [e for e in extensions if not (secured and e == "STARTTLS")]
                lines = ["mail.example.test greets you", *offered]
                writer.write(
                    "".join(
                        f"250{'-' if i < len(lines) - 1 else ' '}{text}\r\n" for i, text in enumerate(lines)
                    ).encode()
                )
            elif command == "STARTTLS" and "STARTTLS" in extensions and not secured:
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                await writer.start_tls(tls)
                secured = True
            elif command == "QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            await writer.drain()

    return recording(session, tls=tls if implicit_tls else None)


def imap_server(
    tls: ssl.SSLContext, *, greeting: str = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] IMAP server ready"
) -> contextlib.AbstractAsyncContextManager[Server]:
    """An IMAPS server (port 993 style) that greets and answers LOGOUT."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{greeting}\r\n".encode())
        await writer.drain()
        while line := await reader.readline():
            tag = line.split(maxsplit=1)[0].decode("ascii", "replace") if line.strip() else "*"
            writer.write(f"* BYE logging out\r\n{tag} OK LOGOUT completed\r\n".encode())
            await writer.drain()

    return serve(session, tls=tls)
