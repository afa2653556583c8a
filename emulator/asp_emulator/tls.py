"""TLS for the emulator: a CA and server certificate made at start-up (trustme), or yours."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class TlsFiles:
    """Where the server's certificate material lives."""

    cert_key_file: str  # PEM: the server certificate (with its chain) and private key
    ca_file: str  # PEM: the CA clients must trust


def make_certificates(
    directory: str, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> TlsFiles:
    """Write a fresh CA and a server certificate for ``hosts`` into ``directory``."""
    import trustme

    ca = trustme.CA(organization_name="airflow-provider-asp emulator")
    server = ca.issue_cert(*hosts)
    ca_file = os.path.join(directory, "ca.pem")
    cert_key_file = os.path.join(directory, "server.pem")
    ca.cert_pem.write_to_path(ca_file)
    with open(cert_key_file, "wb") as fh:
        fh.write(server.private_key_pem.bytes())
        for blob in server.cert_chain_pems:
            fh.write(blob.bytes())
    os.chmod(cert_key_file, 0o600)
    return TlsFiles(cert_key_file, ca_file)


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server-side context that requires TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert_key_file)
    return context
