"""TLS for the emulator: certificates (trustme), the server context, accepting connections.

At start-up the workspace makes a CA and a server certificate with ``trustme``, or uses the
files it is given. Clients may present a certificate signed by that CA (MONGODB-X509); the
user name is then the certificate's subject in RFC 2253 form, as MongoDB has it.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import os
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

#: Attributes a client certificate's subject may have (what trustme can issue).
CLIENT_SUBJECT_ATTRIBUTES = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.ORGANIZATION_NAME: "O",
}

_TLS_READ_BUFFER = 16 * 1024 + 512  # one TLS record


@dataclass(frozen=True)
class TlsFiles:
    """Where the server's certificate material lives."""

    cert_key_file: str  # PEM: the server certificate (with its chain) and private key
    ca_file: str  # PEM: the CA clients must trust, and that signs client certificates


class CertificateAuthority:
    """The workspace's own CA (trustme): signs the server's and clients' certificates."""

    def __init__(self, directory: str) -> None:
        import trustme

        self.directory = directory
        self._ca = trustme.CA(organization_name="asp-emulator")

    def write_server_files(self, hosts: tuple[str, ...]) -> TlsFiles:
        """Write the CA and a server certificate for ``hosts`` into the directory."""
        server = self._ca.issue_cert(*hosts)
        ca_file = os.path.join(self.directory, "ca.pem")
        cert_key_file = os.path.join(self.directory, "server.pem")
        self._ca.cert_pem.write_to_path(ca_file)
        server.private_key_and_cert_chain_pem.write_to_path(cert_key_file)
        os.chmod(cert_key_file, 0o600)
        return TlsFiles(cert_key_file, ca_file)

    def issue_client_certificate(self, subject: str, path: str) -> str:
        """Write a client certificate for ``subject`` (RFC 2253, with CN, OU and O) and its
        key into ``path``; returns ``path``."""
        parts = client_subject_parts(subject)
        leaf = self._ca.issue_cert(
            common_name=parts["CN"],
            organization_unit_name=parts["OU"],
            organization_name=parts["O"],
        )
        leaf.private_key_and_cert_chain_pem.write_to_path(path)
        os.chmod(path, 0o600)
        return path


def normalize_subject(subject: str) -> str:
    """``subject`` (RFC 2253/4514) as the server spells a certificate's subject."""
    try:
        return x509.Name.from_rfc4514_string(subject).rfc4514_string()
    except ValueError as exc:
        raise ValueError(f"not an RFC 2253 subject: {subject!r} ({exc})") from exc


def client_subject_parts(subject: str) -> dict[str, str]:
    """``{"CN": ..., "OU": ..., "O": ...}`` of a client certificate subject."""
    name = x509.Name.from_rfc4514_string(subject)
    parts: dict[str, str] = {}
    for attribute in name:
        short = CLIENT_SUBJECT_ATTRIBUTES.get(attribute.oid)
        if short is None or short in parts:
            raise ValueError(
                f"client certificate subjects are CN=...,OU=...,O=... (one each), not {subject!r}"
            )
        parts[short] = str(attribute.value)
    if set(parts) != {"CN", "OU", "O"}:
        raise ValueError(f"a client certificate subject needs CN, OU and O: {subject!r}")
    return parts


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer; client certificates are optional, and
    verified against the CA when presented (MONGODB-X509)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_key_file)
    context.load_verify_locations(cafile=files.ca_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def peer_subject(writer: asyncio.StreamWriter) -> str | None:
    """The verified client certificate's subject (RFC 2253), or None without one."""
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        return None
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


class _StreamProtocol(asyncio.StreamReaderProtocol):
    """The stream protocol, remembering the transport TLS hands it after the handshake."""

    transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        super().connection_made(transport)


class _LeanSSLProtocol(asyncio.sslproto.SSLProtocol):
    """asyncio's TLS protocol with a read buffer of one TLS record.

    The standard one allocates 256 KiB per connection (Python 3.11+), most of the memory
    an idle TLS connection costs; one record (16 KiB) reads as fast for command traffic.
    """

    max_size = _TLS_READ_BUFFER


async def accept_tls(
    sock: socket.socket, context: ssl.SSLContext, handshake_timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Run the server side of the TLS handshake on an accepted socket; the streams after it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = _StreamProtocol(reader)
    waiter: asyncio.Future[Any] = loop.create_future()
    try:
        tls: asyncio.BaseProtocol = _LeanSSLProtocol(
            loop,
            protocol,
            context,
            waiter,
            server_side=True,
            ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]
        )
    except TypeError:  # another asyncio: the standard path, with its larger buffer
        transport: asyncio.BaseTransport
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol, sock, ssl=context, ssl_handshake_timeout=handshake_timeout
        )
    else:
        await loop.connect_accepted_socket(lambda: tls, sock)
        await waiter
        assert protocol.transport is not None
        transport = protocol.transport
    assert isinstance(transport, asyncio.WriteTransport)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)
