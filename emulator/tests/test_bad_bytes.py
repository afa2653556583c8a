"""Bad input closes that connection; the server keeps serving everyone else."""

from __future__ import annotations

import socket
import struct
from typing import Any

import bson
import pytest
from asp_emulator import Workspace
from asp_emulator.wire import OP_MSG, build_op_msg
from rawwire import closed_by_server, read_message, tls_socket


def header(length: int, op_code: int = OP_MSG) -> bytes:
    return struct.pack("<iiii", length, 1, 0, op_code)


def msg_with_body(body: bytes, flags: int = 0) -> bytes:
    payload = struct.pack("<I", flags) + b"\x00" + body
    return header(16 + len(payload)) + payload


GARBAGE = {
    "random bytes": b"\x17\x03\x03garbage that is not a message at all" * 3,
    "malformed BSON": msg_with_body(struct.pack("<i", 12) + b"\x10a\x00\x01\x00\x00\x00\xff"),
    "BSON size beyond the message": msg_with_body(struct.pack("<i", 4000) + b"\x00" * 8),
    "length too small": header(8) + b"\x00" * 16,
    "oversized message": header(60_000_000) + b"\x00" * 64,
    "negative length": header(-5) + b"\x00" * 64,
    "unknown opcode": header(26, op_code=9999) + b"\x00" * 10,
    "unknown section kind": header(26) + struct.pack("<I", 0) + b"\x07" + b"\x00" * 5,
    "unknown required flag": msg_with_body(bson.encode({"ping": 1, "$db": "admin"}), flags=1 << 4),
    "no body section": header(20) + struct.pack("<I", 0),
}


@pytest.mark.parametrize("payload", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_closes_the_connection_and_the_server_survives(
    workspace: Workspace, admin: Any, payload: bytes
) -> None:
    with tls_socket(workspace) as sock:
        sock.sendall(payload)
        assert closed_by_server(sock)
    assert admin.command("ping")["ok"] == 1.0


def test_truncated_message_then_disconnect(workspace: Workspace, admin: Any) -> None:
    message = build_op_msg({"ping": 1, "$db": "admin"}, 1)
    with tls_socket(workspace) as sock:
        sock.sendall(message[:-3])
    assert admin.command("ping")["ok"] == 1.0


def test_raw_op_msg_round_trip_and_more_to_come(workspace: Workspace) -> None:
    with tls_socket(workspace) as sock:
        sock.sendall(build_op_msg({"ping": 1, "$db": "admin"}, 1, flags=1 << 1))  # no reply wanted
        sock.sendall(build_op_msg({"ping": 1, "$db": "admin"}, 2))
        response_to, _, payload = read_message(sock)
        assert response_to == 2
        assert bson.decode(payload[5:]) == {"ok": 1.0}


def test_tls_handshake_garbage_does_not_hurt(workspace: Workspace, admin: Any) -> None:
    with socket.create_connection((workspace.host, workspace.port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = raw.recv(100)
        except ConnectionError:
            data = b""
        assert not data.startswith(b"HTTP")
    assert admin.command("ping")["ok"] == 1.0


def deep_document(depth: int) -> bytes:
    """The BSON of ``{a: {a: ... {x: 1}}}`` ``depth`` levels deep, built without recursion."""
    doc = bson.encode({"x": 1})
    for _ in range(depth - 1):
        body = b"\x03a\x00" + doc
        doc = struct.pack("<i", 4 + len(body) + 1) + body + b"\x00"
    return doc


def test_a_document_too_deep_to_decode_is_answered_with_an_error(workspace: Workspace) -> None:
    """Deeper than bson can decode: code 15 Overflow, and the connection stays usable."""
    nested = deep_document(1_500)  # 12 KB: within the cap before authentication
    elements = b"\x10ping\x00" + struct.pack("<i", 1) + b"\x03deep\x00" + nested
    elements += b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    body = struct.pack("<i", 4 + len(elements) + 1) + elements + b"\x00"
    with tls_socket(workspace) as sock:
        sock.sendall(msg_with_body(body))
        _, _, payload = read_message(sock)
        reply = bson.decode(payload[5:])
        assert (reply["ok"], reply["code"], reply["codeName"]) == (0.0, 15, "Overflow")
        sock.sendall(build_op_msg({"ping": 1, "$db": "admin"}, 2))
        assert bson.decode(read_message(sock)[2][5:]) == {"ok": 1.0}
