"""Raw TLS sockets to the emulator, for tests that speak bytes rather than pymongo."""

from __future__ import annotations

import socket
import ssl
import struct

from asp_emulator import Workspace


def tls_socket(ws: Workspace) -> ssl.SSLSocket:
    """A TLS connection to the workspace that trusts its CA."""
    context = ssl.create_default_context(cafile=ws.ca_file)
    raw = socket.create_connection((ws.host, ws.port), timeout=5)
    return context.wrap_socket(raw, server_hostname=ws.host)


def _read_exactly(sock: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def read_message(sock: ssl.SSLSocket) -> tuple[int, int, bytes]:
    """One message: (responseTo, opCode, the bytes after the header)."""
    length, _, response_to, op_code = struct.unpack("<iiii", _read_exactly(sock, 16))
    return response_to, op_code, _read_exactly(sock, length - 16)


def closed_by_server(sock: ssl.SSLSocket) -> bool:
    """Whether the server closed the connection (rather than answering)."""
    try:
        return sock.recv(1) == b""
    except (ConnectionError, ssl.SSLError):
        return True
