"""Limits before authentication: connection cap, message size, deadlines, idle timeouts.

Each attack is bounded (a few hundred connections at most) and asserts the fixed behaviour:
the server's answer, or memory as an RSS delta with a generous margin.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from asp_emulator import Limits, Workspace
from asp_emulator.wire import OP_MSG, build_op_msg
from pymongo import MongoClient
from rawwire import closed_by_server, read_message, tls_socket
from waiting import wait_for

MB = 1024 * 1024


def rss() -> int:
    """This process's resident memory in bytes (the workspace serves from a thread)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def ping(sock: ssl.SSLSocket, request_id: int = 1) -> dict[str, Any]:
    sock.sendall(build_op_msg({"ping": 1, "$db": "admin"}, request_id))
    _, _, payload = read_message(sock)
    return bson.decode(payload[5:])


@contextlib.contextmanager
def workspace_with(**limits: Any) -> Iterator[Workspace]:
    with Workspace(limits=Limits(**limits)) as ws:
        yield ws


def test_big_messages_before_authentication_are_refused_at_their_header(
    workspace: Workspace, admin: Any
) -> None:
    """Eight connections announcing 47 MB each: closed at the header, nothing buffered."""
    before = rss()
    header = struct.pack("<iiii", 47_000_000, 1, 0, OP_MSG)
    sockets = [tls_socket(workspace) for _ in range(8)]
    try:
        for sock in sockets:
            sock.sendall(header)
        for sock in sockets:
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                sock.sendall(b"\x00" * 65536)  # the start of the body: nobody reads it
            assert closed_by_server(sock)
    finally:
        for sock in sockets:
            sock.close()
    assert rss() - before < 40 * MB  # it was 365 MB
    assert admin.command("ping")["ok"] == 1.0


def test_a_message_within_the_cap_before_authentication_is_answered(workspace: Workspace) -> None:
    padding = "x" * (Limits().max_unauthenticated_message_bytes - 200)
    with tls_socket(workspace) as sock:
        sock.sendall(build_op_msg({"ping": 1, "$db": "admin", "pad": padding}, 1))
        _, _, payload = read_message(sock)
    assert bson.decode(payload[5:])["ok"] == 1.0


def test_a_header_without_its_body_is_closed_after_the_message_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with workspace_with(message_timeout=0.3) as ws, tls_socket(ws) as sock:
        sock.settimeout(10)
        with caplog.at_level(logging.INFO, logger="asp_emulator"):
            sock.sendall(struct.pack("<iiii", 200, 1, 0, OP_MSG))
            assert closed_by_server(sock)
            wait_for(lambda: "the rest of a message did not come in time" in caplog.text)


def test_authentication_must_finish_within_its_deadline() -> None:
    """A SASL conversation left open is closed, even while the client keeps pinging."""
    with workspace_with(auth_timeout=0.3) as ws, tls_socket(ws) as sock:
        sock.settimeout(10)
        start = {
            "saslStart": 1,
            "mechanism": "SCRAM-SHA-256",
            "payload": b"n,,n=admin,r=clientnonce0123456789",
            "$db": "admin",
        }
        sock.sendall(build_op_msg(start, 1))
        _, _, payload = read_message(sock)
        assert bson.decode(payload[5:])["done"] is False

        def pinged_out() -> bool:
            try:
                ping(sock)
            except (ConnectionError, ssl.SSLError, OSError):
                return True
            return False

        wait_for(pinged_out, timeout=10, interval=0.05)
    assert ws.connections_open == 0 or wait_for(lambda: ws.connections_open == 0)


def test_connection_cap_refuses_before_tls_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with workspace_with(max_connections=5) as ws:
        held = [tls_socket(ws) for _ in range(5)]
        try:
            for sock in held:
                assert ping(sock)["ok"] == 1.0
            with caplog.at_level(logging.WARNING, logger="asp_emulator"):
                for _ in range(3):
                    with socket.create_connection((ws.host, ws.port), timeout=5) as raw:
                        raw.sendall(b"\x16\x03\x01")  # the start of a TLS ClientHello
                        assert closed_by_server(raw)  # type: ignore[arg-type]
            assert ws.connections_refused == 3
            assert caplog.text.count("connection limit reached: 5 connections are open") == 1
        finally:
            for sock in held:
                sock.close()
        wait_for(lambda: ws.connections_open == 0)
        with MongoClient[dict[str, Any]](ws.uri, serverSelectionTimeoutMS=5000) as client:
            assert client.admin.command({"listStreamProcessors": 1})["ok"] == 1.0


def test_idle_tls_connections_are_cheap(workspace: Workspace) -> None:
    """300 idle TLS connections: about 60 KB each, both ends counted (was 300 KB)."""
    count = 300
    ping(tls_socket(workspace)).clear()  # warm up the allocator
    before = rss()
    sockets = [tls_socket(workspace) for _ in range(count)]
    try:
        for sock in sockets:
            assert ping(sock)["ok"] == 1.0
        per_connection = (rss() - before) / count
        assert per_connection < 160 * 1024, f"{per_connection / 1024:.0f} KB per connection"
    finally:
        for sock in sockets:
            sock.close()


def test_unauthenticated_connections_are_closed_when_idle() -> None:
    with workspace_with(unauthenticated_idle_timeout=0.3) as ws:
        sockets = [tls_socket(ws) for _ in range(5)]
        try:
            for sock in sockets:
                assert ping(sock)["ok"] == 1.0
            for sock in sockets:
                sock.settimeout(10)
                assert closed_by_server(sock)
            wait_for(lambda: ws.connections_open == 0)
        finally:
            for sock in sockets:
                sock.close()


def test_pymongo_keeps_working_across_the_unauthenticated_idle_timeout() -> None:
    """pymongo's monitor never authenticates; if it is closed, pymongo reconnects quietly."""
    with workspace_with(unauthenticated_idle_timeout=0.3) as ws:
        client: MongoClient[dict[str, Any]] = MongoClient(
            ws.uri, serverSelectionTimeoutMS=5000, heartbeatFrequencyMS=500
        )
        with client:
            client.admin.command({"createStreamProcessor": "p", "pipeline": []})
            accepted = ws.connections_accepted
            wait_for(lambda: ws.connections_accepted > accepted + 1, timeout=20)  # reconnected
            assert client.admin.command({"getStreamProcessor": "p"})["result"]["name"] == "p"


@pytest.mark.parametrize(
    ("field", "value"), [("max_connections", 0), ("message_timeout", -1), ("max_open_windows", 1.5)]
)
def test_limits_are_checked(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"Limits.{field}"):
        Limits(**{field: value})
